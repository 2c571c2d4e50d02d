package peer

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// SimConfig configures a Sim: the nodes' settings and the network's
// misbehaviour.
type SimConfig struct {
	Seed       uint64 // decides everything random: same seed, same run
	Timings    Timings
	Difficulty int
	// Loss is the probability that a datagram is lost, Duplicate that it
	// is delivered twice. Each copy is delayed by a time drawn uniformly
	// from [MinDelay, MaxDelay]: the jitter reorders datagrams.
	Loss, Duplicate    float64
	MinDelay, MaxDelay time.Duration
	// Log is the nodes' log (the zero Logger: none); every line gets the
	// virtual time since the start, "vt" (in ms).
	Log zerolog.Logger
}

// SimStats count what the simulated network did with the datagrams sent.
type SimStats struct {
	Sent          int // datagrams the nodes sent
	Delivered     int // handed to a node (duplicates count twice)
	Lost          int // lost at random
	Duplicated    int // delivered an extra time
	Cut           int // lost on a cut link (a partition)
	Undeliverable int // nobody at the address, or the node was down
	Reordered     int // delivered after a later datagram of the same link
	// ActorSent and ActorBytes count what actors sent (SendAs), apart
	// from the nodes' datagrams (Sent).
	ActorSent, ActorBytes int
	// ByType counts the datagrams sent by message type.
	ByType map[string]int
}

// Sim runs many real Nodes in one process on virtual time, deterministically
// from a seed. One goroutine (the caller's) pops events from a queue ordered
// by time, then by scheduling order: a datagram's delivery calls the node's
// handler directly, a node's tick calls its tick; no wall clock is read and
// no goroutine runs per node, so the same seed and the same scenario give the
// same run, datagram for datagram (see Digest). Nodes do not mine: the
// scenario hands them blocks (Mine) at the virtual times it chooses.
//
// Actors (AddActor) stand in for peers that are no Node, such as the
// adversaries of a scenario: they receive datagrams at an address and send
// from any address (SendAs), on the same virtual time.
//
// A Sim is not safe for concurrent use. Its nodes are reached through their
// SimNode, on the caller's goroutine between runs: a simulated node has no
// Run loop for the Node methods that wait for one.
type Sim struct {
	cfg      SimConfig
	netRand  *rand.Rand // loss, duplication, delay, node seeds
	scenRand *rand.Rand // the scenario's own choices, see Rand
	start    time.Time
	now      time.Time
	seq      uint64
	queue    simQueue
	nodes    []*SimNode
	byAddr   map[netip.AddrPort]*SimNode
	actors   map[netip.AddrPort]func(from netip.AddrPort, data []byte)
	watch    func(from, to netip.AddrPort, data []byte) // see Watch
	cut      map[simLink]bool
	newest   map[simLink]uint64 // per link, the latest send delivered
	trace    hash.Hash          // of every datagram delivered, with its time and link
	hdr      []byte             // trace's buffer for a datagram's header
	stats    SimStats
}

// SimEpoch is the virtual time at which every Sim starts.
var SimEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewSim returns an empty simulated network at virtual time SimEpoch.
func NewSim(cfg SimConfig) *Sim {
	cfg.MaxDelay = max(cfg.MinDelay, cfg.MaxDelay)
	return &Sim{
		cfg:      cfg,
		netRand:  rand.New(rand.NewPCG(cfg.Seed, 0x5eed0001)),
		scenRand: rand.New(rand.NewPCG(cfg.Seed, 0x5eed0002)),
		start:    SimEpoch,
		now:      SimEpoch,
		byAddr:   make(map[netip.AddrPort]*SimNode),
		actors:   make(map[netip.AddrPort]func(netip.AddrPort, []byte)),
		cut:      make(map[simLink]bool),
		newest:   make(map[simLink]uint64),
		trace:    sha256.New(),
		stats:    SimStats{ByType: make(map[string]int)},
	}
}

// SimNode is one node of a Sim, up or down. Its chain outlives a Stop.
type SimNode struct {
	sim   *Sim
	name  string
	addr  netip.AddrPort
	seeds []netip.AddrPort
	chain *chain.Chain
	node  *Node // the current incarnation; nil before the first start
	up    bool
	gen   int // incarnation: ticks of an earlier one are ignored
	mined int
	tweak func(*Config) // changes the node's Config at each Start (nil: the Sim's)
}

// simLink is a direction-free pair of addresses.
type simLink struct{ a, b netip.AddrPort }

func linkOf(x, y netip.AddrPort) simLink {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return simLink{x, y}
}

// Now returns the virtual time.
func (s *Sim) Now() time.Time { return s.now }

// Elapsed returns the virtual time since the start.
func (s *Sim) Elapsed() time.Duration { return s.now.Sub(s.start) }

// Rand returns the scenario's random source, seeded from the Sim's seed
// apart from the network's, for choices such as which node mines next.
func (s *Sim) Rand() *rand.Rand { return s.scenRand }

// Stats returns what the network did so far.
func (s *Sim) Stats() SimStats {
	st := s.stats
	st.ByType = maps.Clone(st.ByType)
	return st
}

// Nodes returns every node ever added, in the order added.
func (s *Sim) Nodes() []*SimNode { return append([]*SimNode(nil), s.nodes...) }

// Up returns the nodes that are up, in the order added.
func (s *Sim) Up() []*SimNode {
	var up []*SimNode
	for _, n := range s.nodes {
		if n.up {
			up = append(up, n)
		}
	}
	return up
}

// AddNode adds a node named name at 127.0.0.1:20000+i (the i-th node; no
// socket is opened), holding blocks (nil: no chain), joining through seeds,
// and starts it now.
func (s *Sim) AddNode(name string, seeds []netip.AddrPort, blocks []*chain.Block) (*SimNode, error) {
	return s.AddNodeWith(name, seeds, blocks, nil)
}

// AddNodeWith is AddNode for a node whose Config is not quite the Sim's:
// tweak, when set, changes it (its Limits, or Timings of its own) at every
// Start. The node's timers are still checked every Tick of the Sim's
// timings.
func (s *Sim) AddNodeWith(name string, seeds []netip.AddrPort, blocks []*chain.Block, tweak func(*Config)) (*SimNode, error) {
	if len(s.nodes) >= 40000 {
		return nil, errors.New("sim: out of ports")
	}
	ch, err := chain.New(s.cfg.Difficulty, nil)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", name, err)
	}
	if len(blocks) > 0 {
		if err := ch.Adopt(0, blocks); err != nil {
			return nil, fmt.Errorf("sim: %s: initial chain: %w", name, err)
		}
	}
	n := &SimNode{sim: s, name: name, addr: netip.AddrPortFrom(loopback, uint16(20000+len(s.nodes))),
		seeds: append([]netip.AddrPort(nil), seeds...), chain: ch, tweak: tweak}
	if s.actors[n.addr] != nil {
		return nil, fmt.Errorf("sim: %s: an actor is at %s", name, n.addr)
	}
	s.nodes = append(s.nodes, n)
	s.byAddr[n.addr] = n
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}

// Start starts the node: a new incarnation (empty peer table, timers from
// now) on the chain it held, as a restarted node with a stored chain. It
// does nothing to a node that is up.
func (n *SimNode) Start() error {
	if n.up {
		return nil
	}
	s := n.sim
	log := s.cfg.Log.Hook(simClock{s})
	cfg := Config{
		Name: n.name, Advertise: n.addr, Seeds: n.seeds, Difficulty: s.cfg.Difficulty,
		Timings: s.cfg.Timings, RandSeed: s.netRand.Uint64() | 1, Log: log, Now: s.Now,
	}
	if n.tweak != nil {
		n.tweak(&cfg)
	}
	node, err := New(cfg, simTransport{n}, n.chain)
	if err != nil {
		return fmt.Errorf("sim: %s: %w", n.name, err)
	}
	n.node, n.up = node, true
	n.gen++
	node.start(s.now)
	s.schedule(&simEvent{at: s.now.Add(s.cfg.Timings.Tick), kind: evTick, node: n, gen: n.gen})
	return nil
}

// Stop stops the node at once, as a crash would: it sends and handles
// nothing more; datagrams to it are lost. Its chain is kept for Start.
func (n *SimNode) Stop() {
	n.up = false
	n.gen++
}

// Name returns the node's name.
func (n *SimNode) Name() string { return n.name }

// Addr returns the node's address.
func (n *SimNode) Addr() netip.AddrPort { return n.addr }

// IsUp reports whether the node runs.
func (n *SimNode) IsUp() bool { return n.up }

// Height returns the node's chain height.
func (n *SimNode) Height() int { return n.chain.Height() }

// Tip returns the hash of the node's top block ("" for no chain).
func (n *SimNode) Tip() string { return n.chain.TipHash() }

// Blocks returns the node's chain (the blocks must not be modified).
func (n *SimNode) Blocks() []*chain.Block {
	out := make([]*chain.Block, n.chain.Height())
	for i := range out {
		out[i], _ = n.chain.Block(i)
	}
	return out
}

// Status returns the node's status (that of its last incarnation when down).
func (n *SimNode) Status() Status {
	if n.node == nil {
		return Status{}
	}
	return n.node.status()
}

// Knows reports whether the node has addr in its peer table, and when it
// last heard from it.
func (n *SimNode) Knows(addr netip.AddrPort) (lastSeen time.Time, ok bool) {
	if n.node == nil {
		return time.Time{}, false
	}
	m := n.node.members.Get(addr)
	if m == nil {
		return time.Time{}, false
	}
	return m.LastSeen, true
}

// Offenders returns every peer the node holds an offence against (of its
// current or last incarnation), the highest score first: unlike
// Status().Offenders, not cut at 50.
func (n *SimNode) Offenders() []OffenderStatus {
	if n.node == nil {
		return nil
	}
	return n.node.offenders.List(n.sim.now, n.node.offenders.Len())
}

// Mine has the node mine a block on its tip now, single-threaded at the
// Sim's (low) difficulty, and hands it to the node as its miner's found
// block: appended, then ANNOUNCEd to every peer. It returns the block, or
// nil when the node is down.
func (s *Sim) Mine(n *SimNode) *chain.Block {
	if !n.up {
		return nil
	}
	n.mined++
	b := &chain.Block{Height: n.chain.Height(), MinedBy: n.name,
		Messages: []string{fmt.Sprintf("sim %d", n.mined)}, Timestamp: s.now.Unix()}
	if !chain.Mine(n.chain.TipHash(), b, s.cfg.Difficulty, 1<<40) {
		panic("sim: nonce space exhausted") // cannot happen at a test difficulty
	}
	n.node.addMined(b, 0)
	return b
}

// AddActor has handle receive every datagram delivered to addr, on the
// Sim's goroutine at its virtual time: a scenario's stand-in for a peer
// that is no Node (an adversary, a peer of another implementation). The
// actor sends with SendAs, from addr or from any other address. addr must
// not be a node's (nodes are at 127.0.0.1:20000 and up: take actors'
// ports elsewhere); a second AddActor at addr replaces the handler, and a
// nil handle removes the actor (datagrams to addr are then undeliverable,
// as to a socket not bound yet).
func (s *Sim) AddActor(addr netip.AddrPort, handle func(from netip.AddrPort, data []byte)) error {
	if s.byAddr[addr] != nil {
		return fmt.Errorf("sim: actor at %s: a node's address", addr)
	}
	if handle == nil {
		delete(s.actors, addr)
		return nil
	}
	s.actors[addr] = handle
	return nil
}

// SendAs sends data to the node or actor at to, as if from the address
// from, which may be anyone's (a UDP source address can be forged): it
// goes through the network as a node's datagram does (delay, loss, cut
// links between from and to), and the receiver sees from as its source.
// It is counted in SimStats.ActorSent, not in Sent.
func (s *Sim) SendAs(from, to netip.AddrPort, data []byte) {
	s.stats.ActorSent++
	s.stats.ActorBytes += len(data)
	s.transmit(from, to, data)
}

// Watch has f see every datagram delivered from now on (to a node or an
// actor), just before its receiver does; nil stops watching. A scenario
// measures with it what crosses the network, such as the bytes that name
// an address. f must not keep data.
func (s *Sim) Watch(f func(from, to netip.AddrPort, data []byte)) { s.watch = f }

// Partition cuts every link between nodes of different groups (nodes in no
// group keep their links) until Heal.
func (s *Sim) Partition(groups ...[]*SimNode) {
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					s.Cut(a, b)
				}
			}
		}
	}
}

// Cut cuts the link between a and b, both ways, until Heal.
func (s *Sim) Cut(a, b *SimNode) { s.cut[linkOf(a.addr, b.addr)] = true }

// Heal restores every cut link.
func (s *Sim) Heal() { clear(s.cut) }

// At runs f at virtual time d after the start (at once if that is past).
func (s *Sim) At(d time.Duration, f func()) {
	s.schedule(&simEvent{at: maxTime(s.now, s.start.Add(d)), kind: evCall, call: f})
}

// After runs f after d of virtual time.
func (s *Sim) After(d time.Duration, f func()) { s.At(s.Elapsed()+d, f) }

// RunFor runs the events of the next d of virtual time.
func (s *Sim) RunFor(d time.Duration) {
	end := s.now.Add(d)
	for len(s.queue) > 0 && !s.queue[0].at.After(end) {
		e := heap.Pop(&s.queue).(*simEvent)
		s.now = e.at
		s.fire(e)
	}
	s.now = end
}

// RunUntil runs the simulation until cond holds, checking it every step of
// virtual time, for at most limit. It reports whether cond held.
func (s *Sim) RunUntil(limit, step time.Duration, cond func() bool) bool {
	end := s.now.Add(limit)
	for {
		if cond() {
			return true
		}
		if !s.now.Before(end) {
			return false
		}
		s.RunFor(min(step, end.Sub(s.now)))
	}
}

// Digest returns a hash of the run so far: every datagram delivered (time,
// link, bytes) and each node's final state (chain, peers, counters). Two
// runs of one scenario with one seed have the same digest.
func (s *Sim) Digest() string {
	h := sha256.New()
	h.Write(s.trace.Sum(nil))
	fmt.Fprintf(h, "%s %+v\n", s.now.Format(time.RFC3339Nano), s.stats)
	for _, n := range s.nodes {
		fmt.Fprintf(h, "%s %s up=%v height=%d tip=%s\n", n.name, n.addr, n.up, n.chain.Height(), n.chain.TipHash())
		if n.node == nil {
			continue
		}
		for _, m := range n.node.members.All() {
			fmt.Fprintf(h, "  %s %s %d %d %s\n", m.Addr, m.Name, m.LastSeen.UnixNano(), m.Height, m.Hash)
		}
		fmt.Fprintf(h, "  %+v\n", n.node.stats)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// send is a node's Transport.Send: the datagram goes into the queue, maybe
// twice, maybe not at all.
func (s *Sim) send(from, to netip.AddrPort, data []byte) {
	s.stats.Sent++
	s.stats.ByType[gjson.GetBytes(data, "type").String()]++
	s.transmit(from, to, data)
}

// transmit puts a datagram into the queue, maybe twice, maybe not at all.
func (s *Sim) transmit(from, to netip.AddrPort, data []byte) {
	s.seq++
	sent := s.seq
	if s.cut[linkOf(from, to)] {
		s.stats.Cut++
		return
	}
	if s.netRand.Float64() < s.cfg.Loss {
		s.stats.Lost++
		return
	}
	copies := 1
	if s.netRand.Float64() < s.cfg.Duplicate {
		copies = 2
		s.stats.Duplicated++
	}
	data = append([]byte(nil), data...)
	for range copies {
		delay := s.cfg.MinDelay
		if jitter := s.cfg.MaxDelay - s.cfg.MinDelay; jitter > 0 {
			delay += time.Duration(s.netRand.Int64N(int64(jitter) + 1))
		}
		s.schedule(&simEvent{at: s.now.Add(delay), kind: evDeliver, from: from, to: to, data: data, sent: sent})
	}
}

func (s *Sim) deliver(e *simEvent) {
	dst := s.byAddr[e.to]
	actor := s.actors[e.to]
	link := linkOf(e.from, e.to)
	switch {
	case dst == nil && actor != nil && !s.cut[link] && len(e.data) <= protocol.ReadBuffer:
		s.stats.Delivered++
		s.record(e)
		actor(e.from, e.data)
		return
	case dst == nil || !dst.up || len(e.data) > protocol.ReadBuffer:
		s.stats.Undeliverable++
		return
	case s.cut[link]:
		s.stats.Cut++
		return
	}
	dir := simLink{e.from, e.to}
	if e.sent < s.newest[dir] {
		s.stats.Reordered++
	}
	s.newest[dir] = max(s.newest[dir], e.sent)
	s.stats.Delivered++
	s.record(e)
	dst.node.handle(Packet{From: e.from, Data: e.data, At: s.now}, s.now)
}

// record adds a delivered datagram to the trace of the run (see Digest).
func (s *Sim) record(e *simEvent) {
	hdr := binary.BigEndian.AppendUint64(s.hdr[:0], uint64(s.now.Sub(s.start)))
	hdr, _ = e.from.AppendBinary(hdr)
	hdr, _ = e.to.AppendBinary(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(e.data)))
	s.trace.Write(hdr)
	s.trace.Write(e.data)
	s.hdr = hdr
	if s.watch != nil {
		s.watch(e.from, e.to, e.data)
	}
}

func (s *Sim) fire(e *simEvent) {
	switch e.kind {
	case evDeliver:
		s.deliver(e)
	case evTick:
		n := e.node
		if !n.up || e.gen != n.gen {
			return // stopped (and maybe restarted) since
		}
		n.node.tick(s.now)
		e.at = s.now.Add(s.cfg.Timings.Tick)
		s.schedule(e)
	case evCall:
		e.call()
	}
}

func (s *Sim) schedule(e *simEvent) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.queue, e)
}

type simEventKind uint8

const (
	evDeliver simEventKind = iota
	evTick
	evCall
)

// simEvent is something due at a virtual time: a datagram to deliver, a
// node's tick or a scenario's call.
type simEvent struct {
	at   time.Time
	seq  uint64 // breaks ties: first scheduled, first run
	kind simEventKind

	from, to netip.AddrPort // evDeliver
	data     []byte
	sent     uint64 // the send's sequence number, to count reordering

	node *SimNode // evTick
	gen  int

	call func() // evCall
}

// simQueue is a heap of events, earliest first.
type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// simTransport is a SimNode's Transport: Send goes into the Sim's queue;
// datagrams come in by the Sim calling the node's handler, not by Packets.
type simTransport struct{ n *SimNode }

func (t simTransport) Send(to netip.AddrPort, data []byte) error {
	if !t.n.up {
		return errors.New("sim: send from a stopped node")
	}
	t.n.sim.send(t.n.addr, to, data)
	return nil
}

func (t simTransport) Packets() <-chan Packet    { return nil }
func (t simTransport) LocalAddr() netip.AddrPort { return t.n.addr }
func (t simTransport) Close() error              { return nil }

// simClock adds the virtual time to every log line of a Sim's nodes.
type simClock struct{ s *Sim }

func (c simClock) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Dur("vt", c.s.Elapsed())
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
