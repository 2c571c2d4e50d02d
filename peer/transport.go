package peer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"blockpeer/protocol"
)

// Packet is one datagram received.
type Packet struct {
	From netip.AddrPort
	Data []byte
	// At is when the transport read the datagram (zero when the transport
	// does not say): the receive time of a reply, for round-trip
	// estimates, without the time it waited for the event loop.
	At time.Time
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

// Laned is a Transport that sorts what it receives into two lanes: the
// small control messages (see Urgent) on Priority, everything else on
// Packets. The node serves Priority first, so a STATS does not wait behind
// a backlog of GET_BLOCKs. A transport that is not Laned has one lane.
type Laned interface {
	// Priority returns the channel of urgent datagrams; it is closed
	// when the transport is closed.
	Priority() <-chan Packet
}

// PriorityOf returns tr's priority lane, or nil (a channel that never
// delivers) when tr has one lane.
func PriorityOf(tr Transport) <-chan Packet {
	if l, ok := tr.(Laned); ok {
		return l.Priority()
	}
	return nil
}

// Lane sizes of UDP. Before there were lanes, the reader blocked on a
// channel of 1,024 datagrams and the socket's buffer (4 MB) held the rest
// of a burst; now the lanes are the buffer. The bulk lane takes a burst of
// 2,048 datagrams (a deeper one only queues requests their senders have
// given up on: 8,192 halved the replies a second under the bench's busy
// row), but at most laneBytes of them: the most the channel could hold
// before (1,024 of 64 KB). The priority lane's messages are small (see
// Urgent).
const (
	bulkLane     = 2048
	priorityLane = 1024
	laneBytes    = 1024 * (64 << 10)
)

// laneSizes tracks the bytes in a lane that one goroutine sends on: the
// datagrams in the channel are the last len(ch) it sent, so a ring of the
// running total of bytes sent gives their sum. len(ch) read by the sender
// may be stale by datagrams the event loop took since, so the sum errs
// high.
type laneSizes struct {
	totals []uint64 // totals[i % len]: bytes sent up to and including the i-th datagram
	sent   uint64   // datagrams sent
}

func newLaneSizes(capacity int) *laneSizes { return &laneSizes{totals: make([]uint64, capacity+1)} }

// queued returns the bytes of the last k datagrams sent.
func (l *laneSizes) queued(k int) uint64 {
	if k <= 0 || l.sent == 0 {
		return 0
	}
	n := uint64(len(l.totals))
	last := l.totals[(l.sent-1)%n]
	if uint64(k) >= l.sent {
		return last
	}
	return last - l.totals[(l.sent-1-uint64(k))%n]
}

// add records a datagram of size bytes sent.
func (l *laneSizes) add(size int) {
	n := uint64(len(l.totals))
	prev := uint64(0)
	if l.sent > 0 {
		prev = l.totals[(l.sent-1)%n]
	}
	l.totals[l.sent%n] = prev + uint64(size)
	l.sent++
}

// UDP is a Transport over one UDP socket, which both receives and sends
// (so peers see our listening port as the source of what we send). It is
// Laned: its reader goroutine peeks at each datagram's type (see Urgent).
// When a lane is full, the reader drops the datagram, as a full socket
// buffer would, and keeps reading: a backlog in one lane never holds up
// the other.
type UDP struct {
	conn     *net.UDPConn
	packets  chan Packet
	priority chan Packet
	closed   chan struct{}
	once     sync.Once
	overflow atomic.Uint64
	laned    atomic.Bool // Priority was called: someone reads the priority lane
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
	u := &UDP{conn: conn, packets: make(chan Packet, bulkLane), priority: make(chan Packet, priorityLane),
		closed: make(chan struct{})}
	go u.read()
	return u, nil
}

func (u *UDP) read() {
	defer close(u.packets)
	defer close(u.priority)
	buf := make([]byte, protocol.ReadBuffer+1)
	bulk := newLaneSizes(bulkLane)
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
		p := Packet{From: unmap(from), Data: append([]byte(nil), buf[:n]...), At: time.Now()}
		lane, sizes := u.packets, bulk
		if u.laned.Load() && Urgent(p.Data) {
			lane, sizes = u.priority, nil
		} else if bulk.queued(len(u.packets))+uint64(n) > laneBytes {
			u.overflow.Add(1)
			continue
		}
		select {
		case lane <- p:
			if sizes != nil {
				sizes.add(n)
			}
		case <-u.closed: // nobody reads any more
			return
		default:
			u.overflow.Add(1)
		}
	}
}

// Send writes one datagram.
func (u *UDP) Send(to netip.AddrPort, data []byte) error {
	_, err := u.conn.WriteToUDPAddrPort(data, to)
	return err
}

// Packets returns the received datagrams but the urgent ones (all of them
// while nobody asked for Priority).
func (u *UDP) Packets() <-chan Packet { return u.packets }

// Priority returns the received urgent datagrams (see Urgent). Until it
// is called, every datagram goes to Packets: a transport that wraps this
// one and does not pass Priority on loses no datagram, only the lane.
func (u *UDP) Priority() <-chan Packet {
	u.laned.Store(true)
	return u.priority
}

// Overflow returns how many datagrams were dropped because their lane was
// full (the event loop fell behind).
func (u *UDP) Overflow() uint64 { return u.overflow.Load() }

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
