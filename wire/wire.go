package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// Magic opens every packet: "HL".
	Magic uint16 = 0x484C
	// Version is the header version this package reads and writes.
	Version uint8 = 1
	// HeaderLen is the size of the header in bytes.
	HeaderLen = 48
	// MaxPayload is the largest payload a header can describe (its payload
	// length is 16 bits); transports use far less (see package rx).
	MaxPayload = 1<<16 - 1
	// MaxMessageLen is the largest message length a header can describe.
	MaxMessageLen = 1<<32 - 1
	// MaxPriority is the lowest priority (0 is the highest).
	MaxPriority = 7
)

// Field offsets of the version 1 header.
const (
	offMagic       = 0
	offVersion     = 2
	offType        = 3
	offFlags       = 4
	offPriority    = 5
	offPayloadLen  = 6
	offSender      = 8
	offMsgID       = 16
	offMsgLen      = 24
	offOffset      = 28
	offGrantOffset = 32
	offCookie      = 36
	offReserved    = 44
)

// Type is the type of a packet.
type Type uint8

// Packet types, named after Homa's; see the package doc for how package rx
// uses each.
const (
	// TypeData carries a segment of a message.
	TypeData Type = 1 + iota
	// TypeGrant lets the sender send a message up to GrantOffset.
	TypeGrant
	// TypeResend asks the sender to send again the bytes from Offset up to
	// GrantOffset.
	TypeResend
	// TypeUnknown answers a packet for a message the receiver does not know.
	TypeUnknown
	// TypeBusy tells the receiver that the sender is alive but busy.
	TypeBusy
	// TypeAck ends an RPC: a client acknowledges a response (or gives up),
	// a server says its application took a request without responding.
	TypeAck
	typeEnd
)

var typeNames = [...]string{TypeData: "DATA", TypeGrant: "GRANT", TypeResend: "RESEND",
	TypeUnknown: "UNKNOWN", TypeBusy: "BUSY", TypeAck: "ACK"}

func (t Type) String() string {
	if t >= 1 && t < typeEnd {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Valid reports whether t is a known packet type.
func (t Type) Valid() bool { return t >= 1 && t < typeEnd }

// Flags are per-packet flag bits. Unknown bits are carried unchanged.
type Flags uint8

const (
	// FlagResponse marks the packets of a response: Sender and MsgID are
	// those of the request it answers.
	FlagResponse Flags = 1 << iota
	// FlagRetransmit marks a packet sent again (after a RESEND or timeout).
	FlagRetransmit
	// FlagShed marks a BUSY that refuses a request at the door: the
	// server is overloaded and keeps no state of it, so the client should
	// fail the call rather than send it again.
	FlagShed
)

// Header is a decoded packet header. Lengths and offsets are in bytes.
type Header struct {
	Type     Type
	Flags    Flags
	Priority uint8
	// PayloadLen is the number of payload bytes following the header.
	PayloadLen uint16
	// Sender identifies the sending endpoint.
	Sender uint64
	// MsgID identifies the message among the sender's messages.
	MsgID uint64
	// MsgLen is the length of the whole message.
	MsgLen uint32
	// Offset is the position in the message of the first payload byte.
	Offset uint32
	// GrantOffset is, in a GRANT, how far the sender may send; in a RESEND,
	// the end of the range to send again; in DATA, how far the sender was
	// granted when it sent the packet.
	GrantOffset uint32
	// Cookie is the receiver's proof of address: a server stamps every
	// packet it sends about an RPC with a value only it can compute, and
	// a client echoes the latest one it received for the RPC. A packet
	// that carries the right cookie comes from a sender that can read the
	// server's packets at its address (see package rx). Zero: none.
	Cookie uint64
}

// AckIDLen is the size of one more message ID in an ACK's payload.
const AckIDLen = 8

// AppendAckID appends id to the payload of an ACK.
func AppendAckID(payload []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(payload, id)
}

// AckIDs returns how many more message IDs the payload of a decoded ACK
// lists; AckID returns the i-th.
func AckIDs(payload []byte) int { return len(payload) / AckIDLen }

// AckID returns the i-th message ID listed in the payload of an ACK.
func AckID(payload []byte, i int) uint64 {
	return binary.BigEndian.Uint64(payload[i*AckIDLen:])
}

// A client's ACK to a server lists each more RPC with its cookie, since
// the server checks each: AckCookieLen bytes, the message ID then the
// cookie. (A server's ACK to its client lists bare IDs: the client's
// socket is connected to its one server.)
const AckCookieLen = 16

// AppendAckCookie appends an RPC's id and cookie to the payload of a
// client's ACK.
func AppendAckCookie(payload []byte, id, cookie uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(payload, id), cookie)
}

// AckCookies returns how many more RPCs the payload of a client's ACK
// lists, and whether the payload is whole entries.
func AckCookies(payload []byte) (int, bool) {
	return len(payload) / AckCookieLen, len(payload)%AckCookieLen == 0
}

// AckCookie returns the i-th RPC listed in the payload of a client's ACK.
func AckCookie(payload []byte, i int) (id, cookie uint64) {
	b := payload[i*AckCookieLen:]
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
}

// Whole reports whether h is a DATA packet that carries its whole message.
func (h *Header) Whole() bool {
	return h.Type == TypeData && h.Offset == 0 && uint32(h.PayloadLen) == h.MsgLen
}

// Errors of Decode and Encode. They are sentinel values so that a receiver
// can count drops by reason without allocating.
var (
	// ErrShort: fewer bytes than a header.
	ErrShort = errors.New("wire: packet shorter than a header")
	// ErrTruncated: the payload length claims more bytes than the datagram has.
	ErrTruncated = errors.New("wire: payload truncated")
	// ErrTrailing: the datagram has bytes beyond the payload length.
	ErrTrailing = errors.New("wire: bytes after the payload")
	// ErrMagic: not a packet of this format.
	ErrMagic = errors.New("wire: bad magic")
	// ErrVersion: a version this package does not read.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrType: an unknown packet type.
	ErrType = errors.New("wire: unknown packet type")
	// ErrPriority: a priority above MaxPriority.
	ErrPriority = errors.New("wire: priority out of range")
	// ErrReserved: reserved bytes that are not zero.
	ErrReserved = errors.New("wire: reserved bytes not zero")
	// ErrRange: offsets and lengths that do not fit the message (an empty
	// DATA packet or message, a segment past the message's end, a grant or
	// resend past it).
	ErrRange = errors.New("wire: offset or length out of range")
	// ErrBuffer: the destination buffer is too small (Encode, Put).
	ErrBuffer = errors.New("wire: buffer too small")
)

// Validate reports whether h is a header Decode would accept, given that
// PayloadLen bytes of payload follow it.
func (h *Header) Validate() error {
	if !h.Type.Valid() {
		return ErrType
	}
	if h.Priority > MaxPriority {
		return ErrPriority
	}
	if h.Type == TypeAck && h.PayloadLen%AckIDLen != 0 {
		return ErrRange // a partial message ID
	}
	end := uint64(h.Offset) + uint64(h.PayloadLen)
	switch h.Type {
	case TypeData:
		if h.PayloadLen == 0 || h.MsgLen == 0 || end > uint64(h.MsgLen) || h.GrantOffset > h.MsgLen {
			return ErrRange
		}
	case TypeResend:
		if h.Offset > h.GrantOffset || h.GrantOffset > h.MsgLen {
			return ErrRange
		}
	default:
		if h.Offset > h.MsgLen || h.GrantOffset > h.MsgLen {
			return ErrRange
		}
	}
	return nil
}

// Decode parses one datagram. It returns the header and the payload, a
// subslice of b (not a copy). It never panics; any datagram that is not a
// well-formed version 1 packet yields one of the errors above.
func Decode(b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, nil, ErrShort
	}
	if binary.BigEndian.Uint16(b[offMagic:]) != Magic {
		return h, nil, ErrMagic
	}
	if b[offVersion] != Version {
		return h, nil, ErrVersion
	}
	for _, c := range b[offReserved:HeaderLen] {
		if c != 0 {
			return h, nil, ErrReserved
		}
	}
	h = Header{
		Type:        Type(b[offType]),
		Flags:       Flags(b[offFlags]),
		Priority:    b[offPriority],
		PayloadLen:  binary.BigEndian.Uint16(b[offPayloadLen:]),
		Sender:      binary.BigEndian.Uint64(b[offSender:]),
		MsgID:       binary.BigEndian.Uint64(b[offMsgID:]),
		MsgLen:      binary.BigEndian.Uint32(b[offMsgLen:]),
		Offset:      binary.BigEndian.Uint32(b[offOffset:]),
		GrantOffset: binary.BigEndian.Uint32(b[offGrantOffset:]),
		Cookie:      binary.BigEndian.Uint64(b[offCookie:]),
	}
	switch have := len(b) - HeaderLen; {
	case int(h.PayloadLen) > have:
		return h, nil, ErrTruncated
	case int(h.PayloadLen) < have:
		return h, nil, ErrTrailing
	}
	if err := h.Validate(); err != nil {
		return h, nil, err
	}
	return h, b[HeaderLen:], nil
}

// Put writes h into dst[:HeaderLen]. It refuses a header that Decode would
// refuse (given PayloadLen bytes of payload) and a dst shorter than
// HeaderLen. It does not allocate.
func (h *Header) Put(dst []byte) error {
	if len(dst) < HeaderLen {
		return ErrBuffer
	}
	if err := h.Validate(); err != nil {
		return err
	}
	dst = dst[:HeaderLen]
	binary.BigEndian.PutUint16(dst[offMagic:], Magic)
	dst[offVersion] = Version
	dst[offType] = byte(h.Type)
	dst[offFlags] = byte(h.Flags)
	dst[offPriority] = h.Priority
	binary.BigEndian.PutUint16(dst[offPayloadLen:], h.PayloadLen)
	binary.BigEndian.PutUint64(dst[offSender:], h.Sender)
	binary.BigEndian.PutUint64(dst[offMsgID:], h.MsgID)
	binary.BigEndian.PutUint32(dst[offMsgLen:], h.MsgLen)
	binary.BigEndian.PutUint32(dst[offOffset:], h.Offset)
	binary.BigEndian.PutUint32(dst[offGrantOffset:], h.GrantOffset)
	binary.BigEndian.PutUint64(dst[offCookie:], h.Cookie)
	clear(dst[offReserved:HeaderLen])
	return nil
}

// Encode writes a packet of header h and payload into dst and returns its
// length, HeaderLen+len(payload). It sets h's PayloadLen from the payload
// (the h passed in is a copy), refuses what Decode would refuse, and does not
// allocate.
func Encode(dst []byte, h Header, payload []byte) (int, error) {
	if len(payload) > MaxPayload {
		return 0, ErrRange
	}
	n := HeaderLen + len(payload)
	if len(dst) < n {
		return 0, ErrBuffer
	}
	h.PayloadLen = uint16(len(payload))
	if err := h.Put(dst); err != nil {
		return 0, err
	}
	copy(dst[HeaderLen:n], payload)
	return n, nil
}
