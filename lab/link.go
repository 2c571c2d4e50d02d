package lab

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"blockpeer/peer"
)

// netem is the lab's network conditions: a partition into groups, and
// loss and delay on chosen nodes' links. Every lab node sends through a
// link that asks it; a datagram between two lab nodes crosses the
// sender's link, so one rule covers both directions.
type netem struct {
	mu    sync.Mutex
	group map[netip.AddrPort]int // partition: a node's group (absent: none)
	loss  map[netip.AddrPort]float64
	delay map[netip.AddrPort]time.Duration
}

func newNetem() *netem {
	return &netem{group: map[netip.AddrPort]int{}, loss: map[netip.AddrPort]float64{}, delay: map[netip.AddrPort]time.Duration{}}
}

// verdict says whether a datagram from a to b is dropped, and if not how
// long it is held back.
func (e *netem) verdict(a, b netip.AddrPort) (drop bool, delay time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ga, oka := e.group[a]
	gb, okb := e.group[b]
	if oka && okb && ga != gb {
		return true, 0
	}
	loss := max(e.loss[a], e.loss[b])
	if loss > 0 && rand.Float64() < loss {
		return true, 0
	}
	return false, e.delay[a] + e.delay[b]
}

func (e *netem) partition(groups [][]netip.AddrPort) {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.group)
	for g, addrs := range groups {
		for _, a := range addrs {
			e.group[a] = g
		}
	}
}

func (e *netem) heal() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.group)
}

func (e *netem) partitioned() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.group) > 0
}

func (e *netem) setLoss(a netip.AddrPort, p float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p <= 0 {
		delete(e.loss, a)
	} else {
		e.loss[a] = p
	}
}

func (e *netem) setDelay(a netip.AddrPort, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d <= 0 {
		delete(e.delay, a)
	} else {
		e.delay[a] = d
	}
}

// conditions returns the loss and delay set on a (for the page).
func (e *netem) conditions(a netip.AddrPort) (float64, time.Duration, int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.group[a]
	return e.loss[a], e.delay[a], g, ok
}

// link is a lab node's transport: the node's UDP socket, with the lab's
// conditions applied to what it sends.
type link struct {
	peer.Transport
	em *netem
}

// Send drops or delays the datagram as the conditions say, else sends it.
func (l *link) Send(to netip.AddrPort, data []byte) error {
	drop, delay := l.em.verdict(l.LocalAddr(), to)
	switch {
	case drop:
		return nil // lost on the way: the sender cannot tell
	case delay > 0:
		buf := append([]byte(nil), data...)
		time.AfterFunc(delay, func() { l.Transport.Send(to, buf) })
		return nil
	}
	return l.Transport.Send(to, data)
}

// Priority passes on the socket's priority lane (see peer.Laned): the
// node serves STATS and GOSSIP ahead of block traffic through a link too.
func (l *link) Priority() <-chan peer.Packet { return peer.PriorityOf(l.Transport) }
