// Package lab runs a whole blockpeer network on 127.0.0.1 in one process:
// a seed node that mines a fresh chain and ordinary peers that join it by
// GOSSIP, run consensus, sync and follow new blocks, each a real UDP node
// on its own port. It is its own package because it is a tool of its own:
// the demo an instructor runs and the network a student joins when the
// course network is out of reach.
package lab

import (
	"context"
	"errors"
	"fmt"
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
	Log       zerolog.Logger
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

// Lab is a running lab network.
type Lab struct {
	Seed  *peer.Node
	Nodes []*peer.Node // the seed first
	trs   []peer.Transport
}

// New binds every node's socket on 127.0.0.1 and builds the nodes; Run
// starts them.
func New(cfg Config) (*Lab, error) {
	if cfg.Nodes < 0 || cfg.Nodes > 100 {
		return nil, fmt.Errorf("lab: %d nodes: want 0 to 100", cfg.Nodes)
	}
	if cfg.BasePort < 0 || cfg.BasePort+cfg.Nodes > 65535 {
		return nil, fmt.Errorf("lab: base port %d out of range", cfg.BasePort)
	}
	if cfg.Timings == (peer.Timings{}) {
		cfg.Timings = Timings()
	}
	l := &Lab{}
	var seedAddr netip.AddrPort
	for i := 0; i <= cfg.Nodes; i++ {
		port := 0
		if cfg.BasePort > 0 {
			port = cfg.BasePort + i
		}
		tr, err := peer.ListenUDP(fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.close()
			return nil, fmt.Errorf("lab node %d: %w (another lab running? try -base-port)", i, err)
		}
		l.trs = append(l.trs, tr)
		ch, err := chain.New(cfg.Difficulty, nil) // memory only: a fresh chain every lab
		if err != nil {
			l.close()
			return nil, err
		}
		pc := peer.Config{
			Name:       fmt.Sprintf("%s%d", cfg.Prefix, i),
			Advertise:  tr.LocalAddr(),
			Difficulty: cfg.Difficulty,
			Timings:    cfg.Timings,
			Log:        cfg.Log,
		}
		if i == 0 && len(cfg.SeedChain) > 0 {
			if _, err := ch.Import(cfg.SeedChain); err != nil {
				l.close()
				return nil, fmt.Errorf("lab: the seed's chain at difficulty %d: %w", cfg.Difficulty, err)
			}
		}
		if i == 0 {
			seedAddr = tr.LocalAddr()
			pc.Name = cfg.Prefix + "seed"
			pc.Mine, pc.MineGenesis, pc.MineThreads = true, true, cfg.MineThreads
			pc.MinBlockInterval = cfg.BlockInterval
			pc.MineMessage = "lab block"
		} else {
			pc.Seeds = []netip.AddrPort{seedAddr}
		}
		n, err := peer.New(pc, tr, ch)
		if err != nil {
			l.close()
			return nil, err
		}
		l.Nodes = append(l.Nodes, n)
	}
	l.Seed = l.Nodes[0]
	return l, nil
}

// Run runs every node until ctx is done, then closes the sockets.
func (l *Lab) Run(ctx context.Context) error {
	defer l.close()
	var wg sync.WaitGroup
	errs := make([]error, len(l.Nodes))
	for i, n := range l.Nodes {
		wg.Go(func() { errs[i] = n.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close releases the sockets of a lab that will not be run (Run closes
// them itself when it returns).
func (l *Lab) Close() { l.close() }

func (l *Lab) close() {
	for _, tr := range l.trs {
		tr.Close()
	}
}
