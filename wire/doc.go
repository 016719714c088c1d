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
//	 36    8 cookie       the server's proof-of-address value, echoed by the client
//	 44    4 reserved     must be zero in version 1
//
// The header leaves room for the transport protocol: GrantOffset,
// Priority, Flags and four reserved bytes. The cookie took eight of the
// twelve bytes once reserved; a packet of an older writer carries a zero
// cookie, which means "none".
//
// # Packets of package rx's transport
//
// Sender and MsgID always name the RPC: the client's sender id and the
// request's message id, in both directions. FlagResponse marks the
// packets that concern the response.
//
//	DATA     a segment of a message at Offset; GrantOffset: how far the
//	         sender was granted when it sent it. FlagRetransmit on resends.
//	GRANT    the receiver lets the sender send up to GrantOffset.
//	RESEND   send again [Offset, GrantOffset) (it grants up to GrantOffset
//	         too); from a client without FlagResponse and with an empty
//	         range, a probe: "what became of this RPC?"
//	UNKNOWN  a server's answer to a probe: no trace of the request; send it
//	         again from the start.
//	BUSY     "still working on it": a server's answer to a probe, or its
//	         keepalive for a response the client has not acknowledged;
//	         with FlagShed, its refusal of a new request at the door
//	         (overloaded, nothing kept: send it again later).
//	ACK      the RPC ended: from a client, it has the response (or gave
//	         up); from a server, the application took a request without
//	         responding. Its payload, if any, lists more RPCs of the same
//	         Sender that ended too, big-endian: from a server, message IDs
//	         of AckIDLen bytes; from a client, an ID and the RPC's cookie,
//	         AckCookieLen bytes each (the server checks every cookie). One
//	         ACK ends many RPCs of one client.
//
// Every packet a server sends about an RPC carries the RPC's Cookie; a
// client copies the latest cookie it received for a call into the packets
// it sends for that call.
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
