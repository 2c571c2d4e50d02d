// Package client talks to one peer of the course network as a client and
// checks its conformance to the protocol spec: the `ask`, `shell` and
// `check` commands of blockpeer. It sends datagrams only to the one target
// address it is given, from UDP sockets of its own bound on the local
// address of the route to that target, and waits for each answer at most a
// per-request timeout. Messages are parsed and encoded by package protocol
// and blocks verified by package chain.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"blockpeer/protocol"
)

// Config says which peer to talk to and how.
type Config struct {
	Target     string        // the peer's HOST:PORT, as the user wrote it
	Timeout    time.Duration // how long to wait for one answer (default 1s)
	Difficulty int           // trailing zeros a valid block hash needs
	Name       string        // our name in GOSSIP (default "blockpeer-client")
}

// packet is one datagram received on one of the client's sockets.
type packet struct {
	Sock *socket
	From netip.AddrPort
	Data []byte
	At   time.Time
}

// socket is one UDP socket of the client. It sends only to the target.
type socket struct {
	conn *net.UDPConn
	addr netip.AddrPort
}

// Addr returns the socket's local address (what we advertise for it).
func (s *socket) Addr() netip.AddrPort { return s.addr }

// Client is a connection-less conversation with one peer. It is not safe
// for concurrent use: one goroutine sends and waits; one reader goroutine
// per socket only feeds the inbox.
type Client struct {
	ctx    context.Context // cancelled: every wait ends at once (Ctrl-C)
	cfg    Config
	target netip.AddrPort
	local  netip.Addr // our address toward the target
	main   *socket
	socks  []*socket
	inbox  chan packet
	closed chan struct{}

	// received is every datagram pulled from the inbox, in order of
	// arrival; waits scan it from a mark so nothing that arrives while we
	// wait for something else is lost.
	received []packet
	sent     int // datagrams sent
}

// ErrNoReply is wrapped by every error of a request nobody answered.
var ErrNoReply = errors.New("no reply")

// ErrInterrupted is returned when the context given to Dial was cancelled
// (Ctrl-C) while a command waited.
var ErrInterrupted = errors.New("interrupted")

// interrupted reports whether the client's context is done.
func (c *Client) interrupted() bool { return c.ctx.Err() != nil }

// noReply is the message the user sees when nothing answers, or
// ErrInterrupted when the wait was cut short.
func (c *Client) noReply() error {
	if c.interrupted() {
		return ErrInterrupted
	}
	return fmt.Errorf("%w from %s within %v: is it running, is the port right?", ErrNoReply, c.cfg.Target, c.cfg.Timeout)
}

// Dial resolves the target and binds the client's main socket on the local
// address of the route to it (a UDP "connect" finds it and sends nothing).
// When ctx is cancelled every wait of the client ends at once and the
// command in progress returns ErrInterrupted.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Name == "" {
		cfg.Name = "blockpeer-client"
	}
	if cfg.Difficulty < 0 || cfg.Difficulty > 64 {
		return nil, fmt.Errorf("difficulty %d is out of 0..64", cfg.Difficulty)
	}
	target, err := resolve(cfg.Target)
	if err != nil {
		return nil, err
	}
	probe, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return nil, fmt.Errorf("no route to %s: %w", cfg.Target, err)
	}
	local := probe.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	probe.Close()
	c := &Client{
		ctx: ctx, cfg: cfg, target: target, local: local,
		inbox: make(chan packet, 4096), closed: make(chan struct{}),
	}
	if c.main, err = c.newSocket(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolve turns HOST:PORT into an IPv4 address and port.
func resolve(hostPort string) (netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp4", hostPort)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: want HOST:PORT: %w", hostPort, err)
	}
	a := ua.AddrPort()
	if a.Port() == 0 || a.Addr().IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("target %q: want HOST:PORT with a host and a port", hostPort)
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), nil
}

// newSocket binds another socket on our address toward the target, on a
// fresh ephemeral port, and starts reading it.
func (c *Client) newSocket() (*socket, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.local, 0)))
	if err != nil {
		return nil, fmt.Errorf("bind a UDP socket on %s: %w", c.local, err)
	}
	_ = conn.SetReadBuffer(4 << 20) // bursts of blocks in a pipelined fetch
	s := &socket{conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	s.addr = netip.AddrPortFrom(s.addr.Addr().Unmap(), s.addr.Port())
	c.socks = append(c.socks, s)
	go c.read(s)
	return s, nil
}

func (c *Client) read(s *socket) {
	buf := make([]byte, protocol.ReadBuffer+1)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable surfacing on Linux
		}
		p := packet{Sock: s, From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Data: append([]byte(nil), buf[:n]...), At: time.Now()}
		select {
		case c.inbox <- p:
		case <-c.closed:
			return
		}
	}
}

// Close closes every socket of the client.
func (c *Client) Close() error {
	select {
	case <-c.closed:
		return nil
	default:
	}
	close(c.closed)
	var errs []error
	for _, s := range c.socks {
		errs = append(errs, s.conn.Close())
	}
	return errors.Join(errs...)
}

// Sent returns how many datagrams the client has sent.
func (c *Client) Sent() int { return c.sent }

// send encodes m and sends it from s to the target.
func (c *Client) send(s *socket, m protocol.Message) ([]byte, error) {
	data, err := protocol.Encode(m)
	if err != nil {
		return nil, err
	}
	return data, c.sendRaw(s, data)
}

// sendRaw sends data from s to the target, and only there.
func (c *Client) sendRaw(s *socket, data []byte) error {
	if _, err := s.conn.WriteToUDPAddrPort(data, c.target); err != nil {
		return fmt.Errorf("send to %s: %w", c.cfg.Target, err)
	}
	c.sent++
	return nil
}

// mark returns the position in received from which a wait starts: what
// has arrived so far (drained from the inbox) is before it.
func (c *Client) mark() int {
	for {
		select {
		case p := <-c.inbox:
			c.received = append(c.received, p)
		default:
			return len(c.received)
		}
	}
}

// await returns the first packet from position from on that match accepts,
// waiting until deadline, or until the client's context is done.
func (c *Client) await(from int, deadline time.Time, match func(packet) bool) (packet, bool) {
	for i := from; ; i++ {
		for i >= len(c.received) {
			wait := time.Until(deadline)
			if wait <= 0 || c.interrupted() {
				return packet{}, false
			}
			t := time.NewTimer(wait)
			select {
			case p := <-c.inbox:
				c.received = append(c.received, p)
			case <-t.C:
			case <-c.ctx.Done():
			}
			t.Stop()
		}
		if match(c.received[i]) {
			return c.received[i], true
		}
	}
}

// forget drops the datagrams received so far (a shell between commands).
func (c *Client) forget() {
	c.mark()
	c.received = c.received[:0]
}

// fromTarget reports whether p came from the target's host. Any port of
// that host counts: some peers answer from a second socket (check reports
// it, ask tolerates it).
func (c *Client) fromTarget(p packet) bool { return p.From.Addr() == c.target.Addr() }

// exchange sends m from s and waits for the first reply of type typ from
// the target's host accepted by ok (nil: any), within the timeout.
func (c *Client) exchange(s *socket, m protocol.Message, typ string, ok func(protocol.Message) bool) (reply, error) {
	from := c.mark()
	start := time.Now()
	data, err := c.send(s, m)
	if err != nil {
		return reply{}, err
	}
	return c.awaitReply(from, start, data, typ, ok)
}

// reply is an answer to one request, with the evidence check prints.
type reply struct {
	Sent    []byte
	packet  packet
	Msg     protocol.Message
	Latency time.Duration
}

// awaitReply waits from position from on for a reply to what was sent at
// start.
func (c *Client) awaitReply(from int, start time.Time, sent []byte, typ string, ok func(protocol.Message) bool) (reply, error) {
	var msg protocol.Message
	p, found := c.await(from, start.Add(c.cfg.Timeout), func(p packet) bool {
		if !c.fromTarget(p) {
			return false
		}
		m, err := protocol.Parse(p.Data)
		if err != nil || m.Type() != typ || ok != nil && !ok(m) {
			return false
		}
		msg = m
		return true
	})
	if !found {
		return reply{Sent: sent}, c.noReply()
	}
	return reply{Sent: sent, packet: p, Msg: msg, Latency: p.At.Sub(start)}, nil
}
