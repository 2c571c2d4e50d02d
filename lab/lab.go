// Package lab runs a whole blockpeer network on 127.0.0.1 in one process:
// a seed node that mines a fresh chain and ordinary peers that join it by
// GOSSIP, run consensus, sync and follow new blocks, each a real UDP node
// on its own port. It is its own package because it is a tool of its own:
// the demo an instructor runs and the network a student joins when the
// course network is out of reach.
//
// While it runs, the lab takes commands (Do; the console, a -scenario
// script and the status page's buttons all use them): add a node, stop
// one and start it again with its chain, partition the network and heal
// it, start a liar, put loss or delay on a node's links, send a NEW_WORD.
// Its narrator turns the nodes' events into one line per network event.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
)

// Config describes a lab network.
type Config struct {
	Nodes       int // ordinary peers besides the seed
	BasePort    int // the seed's port; peers take the next ones (0: ephemeral ports)
	Difficulty  int // trailing zeros of the lab chain's hashes
	MineThreads int // the seed's mining threads (0: all cores)
	// BlockInterval is the least time between two of the seed's blocks
	// (it rests in between); 0 mines flat out.
	BlockInterval time.Duration
	Prefix        string // node names: <prefix>seed, <prefix>1, ...
	// SeedChain, when not empty, is a whole chain from genesis (read from a
	// chain file) the seed starts with, verified first; it mines on top.
	SeedChain []*chain.Block
	Timings   peer.Timings
	Log       zerolog.Logger // the nodes' own log lines
	// Console, when set, gets the narrator's lines: one per network event.
	Console io.Writer
}

// Timings are the lab's timings: faster gossip and consensus than the
// course network, so the demo moves, and the spec's 60 s peer timeout so
// that a node joined by hand with the course timings stays a member.
func Timings() peer.Timings {
	return peer.Timings{
		GossipInterval:    5 * time.Second,
		PeerTimeout:       60 * time.Second,
		ConsensusInterval: 15 * time.Second,
		JoinDelay:         300 * time.Millisecond,
		StatsWindow:       300 * time.Millisecond,
		RequestTimeout:    300 * time.Millisecond,
		SeenIDTTL:         5 * time.Minute,
		Tick:              20 * time.Millisecond,
	}
}

// maxNodes bounds the lab, added nodes included.
const maxNodes = 100

// Lab is a lab network.
type Lab struct {
	// Seed and Nodes are the nodes as built by New (the seed first). A
	// node stopped and started again is a new *peer.Node: Node and
	// Sources give the current ones.
	Seed  *peer.Node
	Nodes []*peer.Node

	cfg      Config
	seedAddr netip.AddrPort
	em       *netem
	narr     *narrator

	mu      sync.Mutex
	slots   []*slot
	ctx     context.Context // Run's; nil before Run
	closing bool            // Run is stopping: no node starts
	wg      sync.WaitGroup
	liar    *liar
	partMnr *slot // the node mining for the seedless half of a partition
}

// slot is one lab node: its chain outlives the node, so a node stopped
// and started again keeps its chain.
type slot struct {
	index  int
	name   string
	port   int // 0 until bound
	pc     peer.Config
	chain  *chain.Chain
	node   *peer.Node
	tr     *peer.UDP
	cancel context.CancelFunc
	done   chan struct{}
	up     bool
}

// New binds every node's socket on 127.0.0.1 and builds the nodes; Run
// starts them.
func New(cfg Config) (*Lab, error) {
	if cfg.Nodes < 0 || cfg.Nodes >= maxNodes {
		return nil, fmt.Errorf("lab: %d nodes: want 0 to %d", cfg.Nodes, maxNodes-1)
	}
	if cfg.BasePort < 0 || cfg.BasePort+cfg.Nodes > 65535 {
		return nil, fmt.Errorf("lab: base port %d out of range", cfg.BasePort)
	}
	if cfg.Timings == (peer.Timings{}) {
		cfg.Timings = Timings()
	}
	l := &Lab{cfg: cfg, em: newNetem()}
	l.narr = newNarrator(cfg.Console, l.upNames)
	for i := 0; i <= cfg.Nodes; i++ {
		s, err := l.newSlot(i)
		if err != nil {
			l.close()
			return nil, err
		}
		l.slots = append(l.slots, s)
		l.Nodes = append(l.Nodes, s.node)
	}
	l.Seed = l.Nodes[0]
	return l, nil
}

// newSlot builds node i: its chain, its socket and the node.
func (l *Lab) newSlot(i int) (*slot, error) {
	cfg := l.cfg
	ch, err := chain.New(cfg.Difficulty, nil) // memory only: a fresh chain every lab
	if err != nil {
		return nil, err
	}
	if i == 0 && len(cfg.SeedChain) > 0 {
		if _, err := ch.Import(cfg.SeedChain); err != nil {
			return nil, fmt.Errorf("lab: the seed's chain at difficulty %d: %w", cfg.Difficulty, err)
		}
	}
	s := &slot{index: i, name: fmt.Sprintf("%s%d", cfg.Prefix, i), chain: ch}
	if cfg.BasePort > 0 {
		s.port = cfg.BasePort + i
	}
	s.pc = peer.Config{
		Name: s.name, Difficulty: cfg.Difficulty, Timings: cfg.Timings, Log: cfg.Log,
		OnEvent: l.narr.event,
	}
	if i == 0 {
		s.name = cfg.Prefix + "seed"
		s.pc.Name = s.name
		s.pc.Mine, s.pc.MineGenesis, s.pc.MineThreads = true, true, cfg.MineThreads
		s.pc.MinBlockInterval = cfg.BlockInterval
		s.pc.MineMessage = "lab block"
	} else {
		s.pc.Seeds = []netip.AddrPort{l.seedAddr}
		s.pc.MineThreads = 1 // if it mines (a partition's other half)
		s.pc.MineMessage = "lab block"
	}
	if err := l.bind(s); err != nil {
		return nil, err
	}
	if i == 0 {
		l.seedAddr = s.tr.LocalAddr()
	}
	return s, nil
}

// bind opens s's socket (on its port, or an ephemeral one the first
// time) and builds its node on it.
func (l *Lab) bind(s *slot) error {
	tr, err := peer.ListenUDP(fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		return fmt.Errorf("lab node %d: %w (another lab running? try -base-port)", s.index, err)
	}
	// The port and address are set by the first bind, before anyone else
	// sees the slot, and never change.
	if !s.pc.Advertise.IsValid() {
		s.port = int(tr.LocalAddr().Port())
		s.pc.Advertise = tr.LocalAddr()
	}
	n, err := peer.New(s.pc, &link{Transport: tr, em: l.em}, s.chain)
	if err != nil {
		tr.Close()
		return err
	}
	s.tr, s.node = tr, n
	return nil
}

// Run runs every node until ctx is done, then closes the sockets.
func (l *Lab) Run(ctx context.Context) error {
	l.mu.Lock()
	l.ctx = ctx
	for _, s := range l.slots {
		l.startSlot(s)
	}
	l.mu.Unlock()
	narrDone := make(chan struct{})
	go func() { l.narr.run(ctx); close(narrDone) }()
	<-ctx.Done()
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.wg.Wait()
	<-narrDone
	l.mu.Lock()
	lr := l.liar
	l.liar = nil
	l.mu.Unlock()
	if lr != nil {
		lr.stop() // without l.mu: the liar asks the seed for its chain
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.close()
	return nil
}

// startSlot runs s's node (l.mu held, Run started).
func (l *Lab) startSlot(s *slot) {
	if l.closing {
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	s.cancel, s.done, s.up = cancel, make(chan struct{}), true
	n, done := s.node, s.done
	l.wg.Go(func() {
		defer close(done)
		if err := n.Run(ctx); err != nil && ctx.Err() == nil {
			l.narr.say("%s stopped: %v", s.name, err)
		}
	})
}

// stopSlot stops s's node and closes its socket (l.mu held).
func (l *Lab) stopSlot(s *slot) {
	if !s.up {
		return
	}
	s.cancel()
	<-s.done
	s.tr.Close()
	s.up = false
}

// Close releases the sockets of a lab that will not be run (Run closes
// them itself when it returns).
func (l *Lab) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.close()
}

func (l *Lab) close() {
	for _, s := range l.slots {
		if s.tr != nil {
			s.tr.Close()
		}
	}
}

// upNames lists the names of the nodes running.
func (l *Lab) upNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.slots {
		if s.up {
			out = append(out, s.name)
		}
	}
	return out
}

// nodeOf returns s's node as it is now.
func (l *Lab) nodeOf(s *slot) *peer.Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return s.node
}

// Node returns node i as it runs now (nil if there is none).
func (l *Lab) Node(i int) *peer.Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i >= len(l.slots) {
		return nil
	}
	return l.slots[i].node
}

// Source is a lab node for the status page: whichever node runs in its
// slot now, and an error while it is stopped.
type Source struct {
	l *Lab
	s *slot
}

// ErrDown is the error of a stopped lab node.
var ErrDown = errors.New("stopped by the lab (start it again with: start NODE)")

func (src Source) current() (*peer.Node, error) {
	src.l.mu.Lock()
	defer src.l.mu.Unlock()
	if !src.s.up && src.l.ctx != nil {
		return nil, ErrDown
	}
	return src.s.node, nil
}

// Status is the node's status.
func (src Source) Status(ctx context.Context) (peer.Status, error) {
	n, err := src.current()
	if err != nil {
		return peer.Status{}, err
	}
	return n.Status(ctx)
}

// Blocks is the node's blocks.
func (src Source) Blocks(ctx context.Context, from, limit int) ([]chain.Block, error) {
	n, err := src.current()
	if err != nil {
		return nil, err
	}
	return n.Blocks(ctx, from, limit)
}

// Height is the node's number of blocks.
func (src Source) Height(ctx context.Context) (int, error) {
	n, err := src.current()
	if err != nil {
		return 0, err
	}
	return n.Height(ctx)
}

// Name is the node's name.
func (src Source) Name() string { return src.s.name }

// Addr is the node's address.
func (src Source) Addr() string { return fmt.Sprintf("127.0.0.1:%d", src.s.port) }

// Sources returns every lab node as a Source, in order.
func (l *Lab) Sources() []Source {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Source, len(l.slots))
	for i, s := range l.slots {
		out[i] = Source{l: l, s: s}
	}
	return out
}
