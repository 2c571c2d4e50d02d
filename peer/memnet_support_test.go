package peer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// MemNet is an in-memory datagram network for tests: many nodes in one
// process, with loss, delay and reordering drawn from a seeded random
// source, so a failing run can be replayed with its seed.
type MemNet struct {
	mu       sync.Mutex
	rng      *rand.Rand
	loss     float64
	minDelay time.Duration
	maxDelay time.Duration
	ends     map[netip.AddrPort]*MemTransport
	nextPort uint16
}

// NewMemNet returns a network that drops each datagram with probability
// loss and delays each by a uniform time in [minDelay, maxDelay]; different
// delays reorder datagrams.
func NewMemNet(seed uint64, loss float64, minDelay, maxDelay time.Duration) *MemNet {
	return &MemNet{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		loss:     loss,
		minDelay: minDelay,
		maxDelay: max(minDelay, maxDelay),
		ends:     make(map[netip.AddrPort]*MemTransport),
		nextPort: 20000,
	}
}

// Listen attaches a transport at 127.0.0.1:port (port 0 picks one).
func (m *MemNet) Listen(port uint16) (*MemTransport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if port == 0 {
		for m.ends[netip.AddrPortFrom(loopback, m.nextPort)] != nil {
			m.nextPort++
		}
		port = m.nextPort
		m.nextPort++
	}
	addr := netip.AddrPortFrom(loopback, port)
	if m.ends[addr] != nil {
		return nil, fmt.Errorf("memnet: %s in use", addr)
	}
	t := &MemTransport{net: m, addr: addr, packets: make(chan Packet, 4096)}
	m.ends[addr] = t
	return t, nil
}

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// MemTransport is one end of a MemNet.
type MemTransport struct {
	net     *MemNet
	addr    netip.AddrPort
	mu      sync.Mutex
	closed  bool
	packets chan Packet
}

// Send delivers data to the transport at to, maybe late, maybe never.
func (t *MemTransport) Send(to netip.AddrPort, data []byte) error {
	if t.isClosed() {
		return errors.New("memnet: send on closed transport")
	}
	m := t.net
	m.mu.Lock()
	dst := m.ends[to]
	lost := m.rng.Float64() < m.loss
	delay := m.minDelay
	if m.maxDelay > m.minDelay {
		delay += time.Duration(m.rng.Int64N(int64(m.maxDelay - m.minDelay)))
	}
	m.mu.Unlock()
	if dst == nil || lost {
		return nil // like UDP: nobody there, or lost on the way
	}
	p := Packet{From: t.addr, Data: append([]byte(nil), data...)}
	if delay <= 0 {
		dst.deliver(p)
	} else {
		time.AfterFunc(delay, func() { dst.deliver(p) })
	}
	return nil
}

func (t *MemTransport) deliver(p Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p.At = time.Now()
	select {
	case t.packets <- p:
	default: // receive buffer full: dropped, like a socket's
	}
}

func (t *MemTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Packets returns the received datagrams.
func (t *MemTransport) Packets() <-chan Packet { return t.packets }

// LocalAddr returns the transport's address.
func (t *MemTransport) LocalAddr() netip.AddrPort { return t.addr }

// Close detaches the transport and closes Packets.
func (t *MemTransport) Close() error {
	t.net.mu.Lock()
	delete(t.net.ends, t.addr)
	t.net.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.packets)
	}
	return nil
}
