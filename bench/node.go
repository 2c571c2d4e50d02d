package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// nodeSpec is one node the bench runs.
type nodeSpec struct {
	name    string
	blocks  []*chain.Block // the chain it starts with
	seeds   []netip.AddrPort
	timings peer.Timings
	wrap    func(peer.Transport) peer.Transport // nil: plain UDP
	mine    func(*peer.Config)                  // nil: no mining
	// unlimited turns off the per-address reply rate: the serve row's
	// load comes from one address, and would measure the limit.
	unlimited bool
}

// runningNode is a node and the way to stop it.
type runningNode struct {
	*peer.Node
	addr netip.AddrPort
	stop func() error
}

// nodeConfig is the one place where the bench's node configuration is
// built: a setting every bench node needs goes here.
func nodeConfig(s nodeSpec, tr peer.Transport) peer.Config {
	rate := 0.0 // the node's default limit
	if s.unlimited {
		rate = -1
	}
	return peer.Config{
		Name: s.name, Advertise: tr.LocalAddr(), Seeds: s.seeds, Difficulty: Difficulty,
		Timings: s.timings, Log: zerolog.Nop(), Limits: peer.Limits{ReplyRate: rate},
	}
}

// startNode binds a UDP socket on 127.0.0.1 and runs a node on it.
func startNode(s nodeSpec) (*runningNode, error) {
	udp, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var tr peer.Transport = udp
	if s.wrap != nil {
		tr = s.wrap(udp)
	}
	cfg := nodeConfig(s, tr)
	if s.mine != nil {
		s.mine(&cfg)
	}
	ch, err := chain.New(Difficulty, nil)
	if err != nil {
		tr.Close()
		return nil, err
	}
	if len(s.blocks) > 0 {
		if err := ch.Adopt(0, s.blocks); err != nil {
			tr.Close()
			return nil, fmt.Errorf("%s: chain: %w", s.name, err)
		}
	}
	n, err := peer.New(cfg, tr, ch)
	if err != nil {
		tr.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop := func() error {
		cancel()
		defer tr.Close()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s: did not stop within 5s", s.name)
		}
	}
	return &runningNode{Node: n, addr: tr.LocalAddr(), stop: stop}, nil
}

// height asks a node its height, bounded in time.
func height(n *peer.Node) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callBound)
	defer cancel()
	return n.Height(ctx)
}

// lossy wraps a transport: Send drops each datagram with probability loss
// (drawn from a seeded source, so a run can be replayed), and, when
// silentBlocks is set, every GET_BLOCK_REPLY (a source that answers STATS,
// then never a block).
type lossy struct {
	peer.Transport
	mu           sync.Mutex
	rng          *rand.Rand
	loss         float64
	silentBlocks bool
}

func newLossy(tr peer.Transport, loss float64, silentBlocks bool, seed uint64) *lossy {
	return &lossy{Transport: tr, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), loss: loss, silentBlocks: silentBlocks}
}

var getBlockReplyType = []byte(`"type":"` + protocol.TypeGetBlockReply + `"`)

// Send drops or sends one datagram.
func (l *lossy) Send(to netip.AddrPort, data []byte) error {
	if l.silentBlocks && bytes.Contains(data[:min(len(data), 40)], getBlockReplyType) {
		return nil
	}
	l.mu.Lock()
	lost := l.rng.Float64() < l.loss
	l.mu.Unlock()
	if lost {
		return nil
	}
	return l.Transport.Send(to, data)
}

// Priority passes on the wrapped transport's priority lane.
func (l *lossy) Priority() <-chan peer.Packet { return peer.PriorityOf(l.Transport) }

// wrapLossy returns a wrap for nodeSpec that makes the node lossy, or nil
// when it would do nothing.
func wrapLossy(loss float64, silentBlocks bool, seed uint64) func(peer.Transport) peer.Transport {
	if loss == 0 && !silentBlocks {
		return nil
	}
	return func(tr peer.Transport) peer.Transport { return newLossy(tr, loss, silentBlocks, seed) }
}
