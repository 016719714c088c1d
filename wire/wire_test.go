package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func sample() Header {
	return Header{Type: TypeData, Flags: FlagResponse, Priority: 3, Sender: 0x0102030405060708,
		MsgID: 42, MsgLen: 5000, Offset: 1424, GrantOffset: 5000, Cookie: 0xC00C1E}
}

func TestRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte{0xAB}, 1424)
	buf := make([]byte, HeaderLen+len(payload))
	n, err := Encode(buf, sample(), payload)
	if err != nil || n != len(buf) {
		t.Fatalf("Encode = %d, %v", n, err)
	}
	h, p, err := Decode(buf[:n])
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := sample()
	want.PayloadLen = 1424
	if h != want {
		t.Errorf("Decode header = %+v, want %+v", h, want)
	}
	if !bytes.Equal(p, payload) {
		t.Errorf("payload differs")
	}
	if h.Whole() {
		t.Errorf("segment at offset 1424 of 5000 reported whole")
	}
}

func TestLayout(t *testing.T) {
	// The documented offsets, checked byte by byte.
	buf := make([]byte, HeaderLen+1)
	h := Header{Type: TypeData, Flags: 0x81, Priority: 7, Sender: 1, MsgID: 2, MsgLen: 3, Offset: 2, GrantOffset: 3}
	if _, err := Encode(buf, h, []byte{9}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x48, 0x4C, 1, 1, 0x81, 7, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 2,
		0, 0, 0, 3, 0, 0, 0, 2,
		0, 0, 0, 3, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 9}
	if !bytes.Equal(buf, want) {
		t.Errorf("encoded\n%x\nwant\n%x", buf, want)
	}
	h.Cookie = 0x1122334455667788
	if _, err := Encode(buf, h, []byte{9}); err != nil {
		t.Fatal(err)
	}
	copy(want[36:44], []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88})
	if !bytes.Equal(buf, want) {
		t.Errorf("encoded\n%x\nwant\n%x", buf, want)
	}
}

func TestWhole(t *testing.T) {
	h := Header{Type: TypeData, MsgLen: 100, PayloadLen: 100}
	if !h.Whole() {
		t.Error("single-packet DATA not whole")
	}
	h.Type = TypeGrant
	if h.Whole() {
		t.Error("GRANT reported whole")
	}
}

func TestDecodeErrors(t *testing.T) {
	good := func() []byte {
		b := make([]byte, HeaderLen+10)
		if _, err := Encode(b, Header{Type: TypeData, Sender: 1, MsgID: 1, MsgLen: 10}, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want error
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrShort},
		{"short", func(b []byte) []byte { return b[:HeaderLen-1] }, ErrShort},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrMagic},
		{"version", func(b []byte) []byte { b[offVersion] = 2; return b }, ErrVersion},
		{"type zero", func(b []byte) []byte { b[offType] = 0; return b }, ErrType},
		{"type unknown", func(b []byte) []byte { b[offType] = byte(typeEnd); return b }, ErrType},
		{"priority", func(b []byte) []byte { b[offPriority] = MaxPriority + 1; return b }, ErrPriority},
		{"reserved", func(b []byte) []byte { b[HeaderLen-1] = 1; return b }, ErrReserved},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, ErrTruncated},
		{"trailing", func(b []byte) []byte { return append(b, 0) }, ErrTrailing},
		{"huge payload len", func(b []byte) []byte { binary.BigEndian.PutUint16(b[offPayloadLen:], 0xFFFF); return b }, ErrTruncated},
		{"past end", func(b []byte) []byte { binary.BigEndian.PutUint32(b[offOffset:], 1); return b }, ErrRange},
		{"offset overflow", func(b []byte) []byte { binary.BigEndian.PutUint32(b[offOffset:], 0xFFFFFFFF); return b }, ErrRange},
		{"zero msg len", func(b []byte) []byte { binary.BigEndian.PutUint32(b[offMsgLen:], 0); return b }, ErrRange},
		{"grant past end", func(b []byte) []byte { binary.BigEndian.PutUint32(b[offGrantOffset:], 11); return b }, ErrRange},
		{"empty data", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[offPayloadLen:], 0)
			return b[:HeaderLen]
		}, ErrRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, p, err := Decode(c.mut(good()))
			if !errors.Is(err, c.want) {
				t.Errorf("Decode error = %v, want %v", err, c.want)
			}
			if p != nil {
				t.Errorf("payload %d bytes returned with an error", len(p))
			}
		})
	}
}

func TestControl(t *testing.T) {
	buf := make([]byte, HeaderLen)
	for _, h := range []Header{
		{Type: TypeGrant, MsgLen: 100, GrantOffset: 60},
		{Type: TypeResend, MsgLen: 100, Offset: 10, GrantOffset: 20},
		{Type: TypeAck},
		{Type: TypeBusy},
		{Type: TypeUnknown, MsgLen: 5},
	} {
		if _, err := Encode(buf, h, nil); err != nil {
			t.Fatalf("%v: Encode: %v", h.Type, err)
		}
		got, p, err := Decode(buf)
		if err != nil || got != h || len(p) != 0 {
			t.Errorf("%v: Decode = %+v, %d bytes, %v", h.Type, got, len(p), err)
		}
	}
	bad := []Header{
		{Type: TypeResend, MsgLen: 100, Offset: 30, GrantOffset: 20},
		{Type: TypeGrant, MsgLen: 100, GrantOffset: 101},
	}
	for _, h := range bad {
		if _, err := Encode(buf, h, nil); !errors.Is(err, ErrRange) {
			t.Errorf("%+v: Encode error %v, want ErrRange", h, err)
		}
	}
}

// TestAckIDs: an ACK lists more message IDs in its payload, whole IDs only.
func TestAckIDs(t *testing.T) {
	var p []byte
	for _, id := range []uint64{7, 1 << 40, ^uint64(0)} {
		p = AppendAckID(p, id)
	}
	buf := make([]byte, HeaderLen+len(p))
	h := Header{Type: TypeAck, Sender: 3, MsgID: 5}
	if _, err := Encode(buf, h, p); err != nil {
		t.Fatal(err)
	}
	got, payload, err := Decode(buf)
	if err != nil || got.MsgID != 5 || AckIDs(payload) != 3 {
		t.Fatalf("Decode = %+v, %d IDs, %v", got, AckIDs(payload), err)
	}
	for i, want := range []uint64{7, 1 << 40, ^uint64(0)} {
		if id := AckID(payload, i); id != want {
			t.Errorf("ID %d = %d, want %d", i, id, want)
		}
	}
	if _, err := Encode(buf, h, p[:len(p)-1]); !errors.Is(err, ErrRange) {
		t.Errorf("ACK with a partial ID: %v, want ErrRange", err)
	}
}

// TestAckCookies: a client's ACK lists more RPCs with their cookies.
func TestAckCookies(t *testing.T) {
	var p []byte
	want := [][2]uint64{{7, 1}, {1 << 40, ^uint64(0)}, {9, 1 << 63}}
	for _, e := range want {
		p = AppendAckCookie(p, e[0], e[1])
	}
	if n, whole := AckCookies(p); n != 3 || !whole {
		t.Fatalf("AckCookies = %d, %v; want 3, true", n, whole)
	}
	for i, e := range want {
		if id, c := AckCookie(p, i); id != e[0] || c != e[1] {
			t.Errorf("entry %d = %d, %d; want %d, %d", i, id, c, e[0], e[1])
		}
	}
	if _, whole := AckCookies(p[:len(p)-AckIDLen]); whole {
		t.Error("a payload with half an entry is whole")
	}
}

func TestEncodeErrors(t *testing.T) {
	h := sample()
	if _, err := Encode(make([]byte, HeaderLen+9), h, make([]byte, 10)); !errors.Is(err, ErrBuffer) {
		t.Errorf("small buffer: %v", err)
	}
	if err := h.Put(make([]byte, HeaderLen-1)); !errors.Is(err, ErrBuffer) {
		t.Errorf("Put small buffer: %v", err)
	}
	if _, err := Encode(make([]byte, 1<<17), h, make([]byte, MaxPayload+1)); !errors.Is(err, ErrRange) {
		t.Errorf("payload over 64 KiB: %v", err)
	}
	h.Type = 0
	if _, err := Encode(make([]byte, 100), h, []byte{1}); !errors.Is(err, ErrType) {
		t.Errorf("bad type: %v", err)
	}
}

func TestTypeString(t *testing.T) {
	if TypeGrant.String() != "GRANT" || Type(99).String() != "Type(99)" {
		t.Errorf("names: %v %v", TypeGrant, Type(99))
	}
}

func TestNoAlloc(t *testing.T) {
	buf := make([]byte, 1500)
	payload := make([]byte, 1424)
	h := sample()
	allocs := testing.AllocsPerRun(100, func() {
		n, _ := Encode(buf, h, payload)
		_, _, _ = Decode(buf[:n])
	})
	if allocs != 0 {
		t.Errorf("Encode+Decode allocate %.1f times", allocs)
	}
}

// FuzzDecode checks that Decode never panics, never returns a payload that
// disagrees with the header, and that every datagram it accepts re-encodes
// to the same bytes.
func FuzzDecode(f *testing.F) {
	seed := func(h Header, payload []byte) {
		b := make([]byte, HeaderLen+len(payload))
		if _, err := Encode(b, h, payload); err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(sample(), make([]byte, 1424))
	seed(Header{Type: TypeData, Sender: 1, MsgID: 1, MsgLen: 3}, []byte("abc"))
	seed(Header{Type: TypeGrant, MsgLen: 100000, GrantOffset: 60000}, nil)
	seed(Header{Type: TypeResend, MsgLen: 100000, Offset: 1424, GrantOffset: 2848}, nil)
	f.Add([]byte{})
	f.Add([]byte("HL"))
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := Decode(b)
		if err != nil {
			if p != nil {
				t.Fatalf("payload with error %v", err)
			}
			return
		}
		if len(p) != int(h.PayloadLen) || len(b) != HeaderLen+len(p) {
			t.Fatalf("payload %d bytes, header says %d, datagram %d", len(p), h.PayloadLen, len(b))
		}
		if h.Type == TypeData && uint64(h.Offset)+uint64(len(p)) > uint64(h.MsgLen) {
			t.Fatalf("segment [%d,+%d) past message of %d", h.Offset, len(p), h.MsgLen)
		}
		out := make([]byte, len(b))
		n, err := Encode(out, h, p)
		if err != nil {
			t.Fatalf("re-encode of an accepted packet: %v", err)
		}
		if !bytes.Equal(out[:n], b) {
			t.Fatalf("re-encode differs:\n%x\n%x", out[:n], b)
		}
	})
}
