// Package wire is the packet format of package rx: a fixed, versioned header
// followed by at most one segment of a message's bytes, carried in one UDP
// datagram.
//
// # Layout (version 1, 48 bytes, big-endian)
//
//	off size field
//	  0    2 magic        0x484C ("HL")
//	  2    1 version      1
//	  3    1 type         DATA, GRANT, RESEND, UNKNOWN, BUSY, ACK
//	  4    1 flags        FlagResponse, …
//	  5    1 priority     0 (highest) … 7; for the transport protocol
//	  6    2 payload len  bytes following the header in this datagram
//	  8    8 sender id    chosen by the sending endpoint, unique per endpoint
//	 16    8 message id   unique per sender; a response reuses its request's
//	 24    4 message len  total bytes of the message
//	 28    4 offset       first byte of the message this packet carries
//	 32    4 grant offset bytes of the message the receiver lets the sender send
//	 36   12 reserved     must be zero in version 1
//
// The header leaves room for the transport protocol (grants, resends,
// priorities): GrantOffset, Priority, Flags and twelve reserved bytes.
//
// # Contract
//
// [Decode] never panics and never trusts a length: the payload length must
// equal what the datagram really carries, and a DATA packet's segment must
// lie inside its message. [Encode] and [Header.Put] write into a buffer the
// caller provides and do not allocate; they refuse a header that [Decode]
// would refuse, so every encoded packet decodes to the same header.
//
// # Example
//
//	buf := make([]byte, wire.HeaderLen+len(seg))
//	h := wire.Header{Type: wire.TypeData, Sender: 7, MsgID: 1, MsgLen: uint32(len(msg))}
//	n, err := wire.Encode(buf, h, seg)
//	...
//	h2, payload, err := wire.Decode(buf[:n])
package wire
