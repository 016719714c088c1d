package rx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homalb/homalb/wire"
)

// Client is a minimal sender for a Server: it cuts each message into DATA
// packets of MaxPayload bytes, sends them at once (no grants, no resends:
// those belong to the transport protocol), and for Call reassembles the
// response. A lost packet loses its message; callers that need delivery
// retry at the message level. A Client is safe for concurrent use.
type Client struct {
	conn   *net.UDPConn
	sender uint64
	nextID atomic.Uint64

	mu    sync.Mutex
	calls map[uint64]chan []byte // pending calls by message id

	parts map[uint64]*partial // responses being assembled (reader only)

	dropped   atomic.Uint64
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type partial struct {
	data []byte
	asm  assembly
}

// clientSweep is how often the client forgets partial responses of calls
// that ended.
const clientSweep = time.Second

// Dial returns a client sending to the server at addr ("IP:PORT") from a
// socket of its own, with a random sender id.
func Dial(addr string) (*Client, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("rx: dial %q: %w", addr, err)
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("rx: dial %s: %w", addr, err)
	}
	_, _ = setSocketBuffers(conn, DefaultSocketBuffer) // best effort
	c := &Client{
		conn:   conn,
		sender: rand.Uint64(),
		calls:  make(map[uint64]chan []byte),
		parts:  make(map[uint64]*partial),
		done:   make(chan struct{}),
	}
	c.wg.Add(1)
	go c.runClientReader()
	return c, nil
}

// LocalAddr returns the client's address, the From of its messages.
func (c *Client) LocalAddr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Sender returns the client's sender id.
func (c *Client) Sender() uint64 { return c.sender }

// Dropped counts response packets the client could not use (malformed,
// unsolicited, duplicate).
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Send sends msg as a one-way message and returns its message id.
func (c *Client) Send(msg []byte) (uint64, error) {
	id := c.nextID.Add(1)
	return id, c.send(id, msg)
}

// Call sends req and waits for the response (a message flagged
// FlagResponse with req's id) until ctx ends. The response is the caller's.
func (c *Client) Call(ctx context.Context, req []byte) ([]byte, error) {
	id := c.nextID.Add(1)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.calls[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
	}()
	if err := c.send(id, req); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("rx: call %d: %w", id, ctx.Err())
	case <-c.done:
		return nil, errClientClosed
	}
}

var errClientClosed = errors.New("rx: client closed")

func (c *Client) send(id uint64, msg []byte) error {
	buf := sendBufPool.Get().(*[MaxDatagram]byte)
	defer sendBufPool.Put(buf)
	h := wire.Header{Type: wire.TypeData, Sender: c.sender, MsgID: id}
	for off := 0; off < len(msg) || off == 0; {
		pkt, next, err := encodeSegment(buf, &h, msg, off)
		if err == nil {
			_, err = c.conn.Write(pkt)
		}
		if err != nil {
			return fmt.Errorf("rx: send message %d: %w", id, err)
		}
		off = next
	}
	return nil
}

// runClientReader reassembles responses and completes their calls.
func (c *Client) runClientReader() {
	defer c.wg.Done()
	var b [pktBufSize]byte
	lastSweep := time.Now()
	for {
		n, err := c.conn.Read(b[:])
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if isTransient(err) {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c.packet(b[:n])
		if time.Since(lastSweep) > clientSweep {
			c.sweep()
			lastSweep = time.Now()
		}
	}
}

func (c *Client) packet(b []byte) {
	h, payload, err := wire.Decode(b)
	if err != nil || h.Type != wire.TypeData || h.Flags&wire.FlagResponse == 0 || h.Sender != c.sender {
		c.dropped.Add(1)
		return
	}
	c.mu.Lock()
	ch := c.calls[h.MsgID]
	c.mu.Unlock()
	if ch == nil {
		c.dropped.Add(1)
		return
	}
	p := c.parts[h.MsgID]
	if p == nil {
		if h.MsgLen > MaxMessageLenLimit {
			c.dropped.Add(1)
			return
		}
		p = &partial{data: make([]byte, h.MsgLen)}
		p.asm.reset(h.MsgLen)
		c.parts[h.MsgID] = p
	}
	if p.asm.length != h.MsgLen || p.asm.add(h.Offset, uint32(len(payload))) != addNew {
		c.dropped.Add(1)
		return
	}
	copy(p.data[h.Offset:], payload)
	if p.asm.complete() {
		delete(c.parts, h.MsgID)
		select {
		case ch <- p.data:
		default:
		}
	}
}

// sweep forgets partial responses whose call ended.
func (c *Client) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.parts {
		if c.calls[id] == nil {
			delete(c.parts, id)
		}
	}
}

// Close closes the socket, ends pending calls and waits for the reader.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.closeErr = c.conn.Close()
		c.wg.Wait()
	})
	return c.closeErr
}
