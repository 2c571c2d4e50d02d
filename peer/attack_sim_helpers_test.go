package peer

import (
	"fmt"
	"net/netip"

	"blockpeer/chain"
)

// AddNodeWith is AddNode for a node whose Config is not quite the Sim's:
// tweak changes it (its Limits, or Timings of its own) before the node
// starts. The node's timers are still checked every Tick of the Sim's
// timings, and a Start after a Stop drops the tweak.
func (s *Sim) AddNodeWith(name string, seeds []netip.AddrPort, blocks []*chain.Block, tweak func(*Config)) (*SimNode, error) {
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
		seeds: append([]netip.AddrPort(nil), seeds...), chain: ch}
	if s.actors[n.addr] != nil {
		return nil, fmt.Errorf("sim: %s: an actor is at %s", name, n.addr)
	}
	cfg := Config{
		Name: n.name, Advertise: n.addr, Seeds: n.seeds, Difficulty: s.cfg.Difficulty,
		Timings: s.cfg.Timings, RandSeed: s.netRand.Uint64() | 1, Log: s.cfg.Log.Hook(simClock{s}), Now: s.Now,
	}
	tweak(&cfg)
	node, err := New(cfg, simTransport{n}, n.chain)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", n.name, err)
	}
	s.nodes = append(s.nodes, n)
	s.byAddr[n.addr] = n
	n.node, n.up = node, true
	n.gen++
	node.start(s.now)
	s.schedule(&simEvent{at: s.now.Add(s.cfg.Timings.Tick), kind: evTick, node: n, gen: n.gen})
	return n, nil
}
