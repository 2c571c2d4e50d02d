package peer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"blockpeer/protocol"
)

// Packet is one datagram received.
type Packet struct {
	From netip.AddrPort
	Data []byte
	At   time.Time // when the transport read it (zero: unknown)
}

// Transport moves datagrams: packets in on a channel, packets out with
// Send. UDP is the real one; MemNet gives tests an in-memory network.
type Transport interface {
	// Send sends one datagram to addr. It does not block for long.
	Send(to netip.AddrPort, data []byte) error
	// Packets returns the channel of received datagrams; it is closed
	// when the transport is closed.
	Packets() <-chan Packet
	// LocalAddr returns the address we receive on.
	LocalAddr() netip.AddrPort
	Close() error
}

// UDP is a Transport over one UDP socket, which both receives and sends
// (so peers see our listening port as the source of what we send).
type UDP struct {
	conn    *net.UDPConn
	packets chan Packet
	closed  chan struct{}
	once    sync.Once
}

// ListenUDP binds addr ("127.0.0.1:0", ":8993", ...) and starts reading.
func ListenUDP(addr string) (*UDP, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen on UDP %s: %w", addr, err)
	}
	_ = conn.SetReadBuffer(4 << 20) // bursts of replies during a sync
	_ = conn.SetWriteBuffer(4 << 20)
	u := &UDP{conn: conn, packets: make(chan Packet, 1024), closed: make(chan struct{})}
	go u.read()
	return u, nil
}

func (u *UDP) read() {
	defer close(u.packets)
	buf := make([]byte, protocol.ReadBuffer+1)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable surfacing on Linux
		}
		if n > protocol.ReadBuffer {
			continue // oversize: dropped, as the spec says
		}
		select {
		case u.packets <- Packet{From: unmap(from), Data: append([]byte(nil), buf[:n]...), At: time.Now()}:
		case <-u.closed: // nobody reads any more
			return
		}
	}
}

// Send writes one datagram.
func (u *UDP) Send(to netip.AddrPort, data []byte) error {
	_, err := u.conn.WriteToUDPAddrPort(data, to)
	return err
}

// Packets returns the received datagrams.
func (u *UDP) Packets() <-chan Packet { return u.packets }

// LocalAddr returns the bound address.
func (u *UDP) LocalAddr() netip.AddrPort {
	return unmap(u.conn.LocalAddr().(*net.UDPAddr).AddrPort())
}

// Close closes the socket; Packets is closed once the reader stops.
func (u *UDP) Close() error {
	var err error
	u.once.Do(func() {
		close(u.closed)
		err = u.conn.Close()
	})
	return err
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4, so one peer has
// one key whichever socket family saw it.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
