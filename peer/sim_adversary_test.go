package peer_test

// The simulator's adversaries (issue 11): actors that play the cheap
// attacks of the attacker model (any datagram from any number of ports,
// forged sources, wrong or no answers; no proof of work beyond the honest
// miners'), each within a budget of datagrams a second, against a network
// of honest nodes at the course timings. Two properties must hold over
// the seeds (-sim.seeds N for more):
//   - liveness: once an honest source is reachable, every honest node
//     reaches the honest tip within livenessBound of virtual time;
//   - safety: no honest node ever records an offence against (let alone
//     bans) an honest peer, adopts an invalid block or holds a block of
//     the adversary's; and no third party named by the adversary receives
//     more than 3x the bytes of the datagrams that named it.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

const (
	advHonest     = 8                // honest nodes of the network under attack
	livenessBound = 10 * time.Second // to the honest tip, after an honest source is reachable
	advTag        = "adversary"      // MinedBy of every block an adversary makes
)

// attack is an adversary at work in a Sim: what it may send (its budget, a
// token bucket of rate datagrams a second), whom it attacks, and what it
// sent.
type attack struct {
	t      *testing.T
	sim    *peer.Sim
	rate   float64
	tokens float64
	filled time.Duration // virtual time of the last refill
	port   uint16        // the last port it took
	honest func() []*peer.SimNode
	ids    int
	// members are the actors that join the honest nodes: each GOSSIPs
	// every honest node when it starts, a newcomer as soon as it arrives
	// (as an attacker listening to the gossip would), and all of them
	// again every 2 s.
	members []netip.AddrPort

	sent, bytes, overBudget int
	// victims are addresses it named in message bodies without ever
	// sending from them: each counts the bytes it received, and named
	// the bytes of the datagrams delivered to nodes that named it.
	victims map[netip.AddrPort]*victim
}

type victim struct{ received, named int }

// adversary is one strategy of the attacker, with its budget.
type adversary struct {
	name string
	rate float64 // datagrams a second, every address of the adversary together
	run  func(a *attack)
}

// send sends m from (any address) to, within the budget; it reports
// whether it was sent.
func (a *attack) send(from, to netip.AddrPort, m protocol.Message) bool {
	data, err := protocol.Encode(m)
	if err != nil {
		a.t.Fatalf("adversary: encode %s: %v", m.Type(), err)
	}
	return a.sendRaw(from, to, data)
}

func (a *attack) sendRaw(from, to netip.AddrPort, data []byte) bool {
	now := a.sim.Elapsed()
	a.tokens = min(max(a.rate, 1), a.tokens+(now-a.filled).Seconds()*a.rate)
	a.filled = now
	if a.tokens < 1 {
		a.overBudget++
		return false
	}
	a.tokens--
	a.sent++
	a.bytes += len(data)
	a.sim.SendAs(from, to, data)
	return true
}

// every runs f every period of virtual time from now on.
func (a *attack) every(period time.Duration, f func()) {
	var next func()
	next = func() {
		f()
		a.sim.After(period, next)
	}
	a.sim.After(period, next)
}

// fresh returns an address of the adversary's not used lately: ports
// 10000 to 19999, below the nodes' (20000 and up), so that the nodes,
// which go through their peers in address order, meet the adversary's
// first.
func (a *attack) fresh() netip.AddrPort {
	a.port++
	if a.port < 10000 || a.port >= 20000 {
		a.port = 10000
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.port)
}

// actor returns a fresh address at which handle receives the datagrams
// that parse as messages.
func (a *attack) actor(handle func(me, from netip.AddrPort, m protocol.Message)) netip.AddrPort {
	me := a.fresh()
	err := a.sim.AddActor(me, func(from netip.AddrPort, data []byte) {
		if m, err := protocol.Parse(data); err == nil {
			handle(me, from, m)
		}
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return me
}

// victim returns a fresh address that sends nothing and counts what it
// receives.
func (a *attack) victim() netip.AddrPort {
	v := &victim{}
	addr := a.fresh()
	if err := a.sim.AddActor(addr, func(_ netip.AddrPort, data []byte) { v.received += len(data) }); err != nil {
		a.t.Fatal(err)
	}
	a.victims[addr] = v
	return addr
}

// member returns an actor (see actor) that joins the honest nodes: it
// GOSSIPs each of them now, every 2 s, and each newcomer on arrival.
func (a *attack) member(handle func(me, from netip.AddrPort, m protocol.Message)) netip.AddrPort {
	me := a.actor(handle)
	a.members = append(a.members, me)
	for _, n := range a.honest() {
		a.greet(me, n.Addr())
	}
	a.every(2*time.Second, func() {
		for _, n := range a.honest() {
			a.greet(me, n.Addr())
		}
	})
	return me
}

// greet sends a GOSSIP about the actor at me to the node at to.
func (a *attack) greet(me, to netip.AddrPort) {
	a.ids++
	a.send(me, to, protocol.Gossip{Host: "127.0.0.1", Port: int(me.Port()), ID: fmt.Sprintf("adv-%d", a.ids), Name: advTag})
}

// arrive tells the adversary of a newcomer: its members greet it at once.
func (a *attack) arrive(n *peer.SimNode) {
	for _, me := range a.members {
		a.greet(me, n.Addr())
	}
}

// target returns a random honest node that is up.
func (a *attack) target() *peer.SimNode {
	var up []*peer.SimNode
	for _, n := range a.honest() {
		if n.IsUp() {
			up = append(up, n)
		}
	}
	return up[a.sim.Rand().IntN(len(up))]
}

// honestTip returns the tallest chain an honest node holds (the first
// such node's, in the order added).
func (a *attack) honestTip() *peer.SimNode {
	var best *peer.SimNode
	for _, n := range a.honest() {
		if best == nil || n.Height() > best.Height() {
			best = n
		}
	}
	return best
}

// zeroHash returns a random hash that ends with the difficulty's zeros:
// it passes every check a block far above our tip can get.
func (a *attack) zeroHash() string {
	var b strings.Builder
	for b.Len() < 64-testDifficulty {
		fmt.Fprintf(&b, "%x", a.sim.Rand().IntN(16))
	}
	return b.String() + strings.Repeat("0", testDifficulty)
}

// fakeBlock returns a block at height h with hash, not mined.
func fakeBlock(h int, hash string) *chain.Block {
	return &chain.Block{Height: h, MinedBy: advTag, Messages: []string{"fake"}, Timestamp: 1_700_000_000, Nonce: "0", Hash: hash}
}

// claimHonest answers STATS with the honest tip's height and hash, and
// GET_BLOCK with serve(asker, height) (nil: nothing).
func claimHonest(a *attack, serve func(asker netip.AddrPort, h int) protocol.Message) func(me, from netip.AddrPort, m protocol.Message) {
	return func(me, from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			tip := a.honestTip()
			a.send(me, from, protocol.StatsReply{Height: tip.Height(), Hash: tip.Tip()})
		case protocol.GetBlock:
			if r := serve(from, m.Height); r != nil {
				a.send(me, from, r)
			}
		}
	}
}

// nodeAt returns the honest node at addr, or nil.
func (a *attack) nodeAt(addr netip.AddrPort) *peer.SimNode {
	for _, n := range a.honest() {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// adversaries are the strategies of issue 11, one per hole it describes.
var adversaries = []adversary{
	{"none", 0, func(*attack) {}},
	// 1: one forged datagram "from" an honest peer: an ANNOUNCE of a
	// block whose hash misses the difficulty, at the target's height.
	{"forged-invalid-announce", 10, func(a *attack) {
		a.every(100*time.Millisecond, func() {
			to := a.target()
			from := a.target()
			if from == to {
				return
			}
			b := fakeBlock(to.Height(), strings.Repeat("ab", 32))
			a.send(from.Addr(), to.Addr(), protocol.Announce{Block: b})
		})
	}},
	// 2: ANNOUNCEs of random heights far above, hashes ending in zeros,
	// each from a fresh port that never answers.
	{"fake-announce-flood", 20, func(a *attack) {
		a.every(50*time.Millisecond, func() {
			to := a.target()
			h := to.Height() + 1 + a.sim.Rand().IntN(100_000)
			a.send(a.fresh(), to.Addr(), protocol.Announce{Block: fakeBlock(h, a.zeroHash())})
		})
	}},
	// A backer of the honest chain (it claims the honest tip) that serves
	// nulls and tampered blocks.
	{"liar-backer", 200, func(a *attack) {
		for range 2 {
			a.member(claimHonest(a, func(_ netip.AddrPort, h int) protocol.Message {
				tip := a.honestTip()
				if h%2 == 0 || h >= tip.Height() {
					return protocol.GetBlockReply{Height: h}
				}
				b := tip.Blocks()[h].Clone()
				b.Messages = []string{"forged"}
				return protocol.GetBlockReply{Height: h, Block: b}
			}))
		}
	}},
	// 3: backers of the honest chain that answer a fork-point probe with
	// the asker's own block at that height (so that the search sets the
	// fork point too high), and nothing else.
	{"wrong-fork-point", 200, func(a *attack) {
		for range 4 {
			a.member(claimHonest(a, func(asker netip.AddrPort, h int) protocol.Message {
				if n := a.nodeAt(asker); n != nil && h < n.Height() {
					return protocol.GetBlockReply{Height: h, Block: n.Blocks()[h]}
				}
				return nil
			}))
		}
	}},
	// 4: backers of the honest chain that answer GET_BLOCK 0 with a
	// valid genesis of their own, and nothing else.
	{"stranger-genesis", 200, func(a *attack) {
		genesis := chain.Extend(nil, 1, testDifficulty, advTag, 1_700_000_000)[0]
		for range 3 {
			a.member(claimHonest(a, func(_ netip.AddrPort, h int) protocol.Message {
				if h == 0 {
					return protocol.GetBlockReply{Height: 0, Block: genesis}
				}
				return nil
			}))
		}
	}},
	// 5: ten members each claiming a chain of its own, a million blocks
	// tall, that they never serve.
	{"silent-huge-claims", 100, func(a *attack) {
		for i := range 10 {
			hash := a.zeroHash()
			a.member(func(me, from netip.AddrPort, m protocol.Message) {
				if _, ok := m.(protocol.Stats); ok {
					a.send(me, from, protocol.StatsReply{Height: 1_000_000 + i, Hash: hash})
				}
			})
		}
	}},
	// 6: GOSSIPs with fresh ids naming third parties (victims that never
	// sent a datagram), from the adversary's own port.
	{"gossip-names-victims", 10, func(a *attack) {
		me := a.fresh()
		a.every(100*time.Millisecond, func() {
			v := a.victim()
			a.ids++
			g := protocol.Gossip{Host: "127.0.0.1", Port: int(v.Port()), ID: fmt.Sprintf("adv-%d", a.ids), Name: advTag}
			data, err := protocol.Encode(g)
			if err != nil {
				a.t.Fatal(err)
			}
			a.sendRaw(me, a.target().Addr(), data)
		})
		// What names a victim is the GOSSIP the adversary sent and every
		// copy the nodes forwarded: each node may send a victim 3x the
		// bytes it received naming it.
		a.sim.Watch(func(_, to netip.AddrPort, data []byte) {
			if to.Port() < 20000 { // not to a node
				return
			}
			if g, err := protocol.Parse(data); err == nil && g.Type() == protocol.TypeGossip {
				addr, err := netip.ParseAddrPort(fmt.Sprintf("%s:%d", g.(protocol.Gossip).Host, g.(protocol.Gossip).Port))
				if v := a.victims[addr]; err == nil && v != nil {
					v.named += len(data)
				}
			}
		})
	}},
}

// property is what an adversary scenario checks.
type property int

const (
	liveness property = iota
	safety
)

// adversaryScenario: advHonest honest nodes join and converge on a chain
// of about 20 blocks; the adversary starts; 5 s later an honest source
// becomes reachable: a fresh node joins, a node holding a fork of the
// honest chain (shorter, from half its height) joins, and an honest node
// mines a block. Liveness: every honest node holds that block within
// livenessBound. Safety is checked every 250 ms from the attack's start.
func adversaryScenario(adv adversary, prop property) scenario {
	return func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, calm())
		bootstrap(t, sim, advHonest)
		mineEvery(sim, 5*time.Second, 40*time.Second, 2*time.Second)
		sim.RunFor(50 * time.Second)
		sim.Mine(tallest(sim))
		awaitConvergence(t, sim, 5*time.Minute)

		honest := sim.Nodes()
		a := &attack{t: t, sim: sim, rate: adv.rate, tokens: max(adv.rate, 1), victims: map[netip.AddrPort]*victim{},
			honest: func() []*peer.SimNode { return honest }, filled: sim.Elapsed()}
		adv.run(a)
		checkSafety := func() {
			if prop == safety {
				safe(t, sim, honest, a)
			}
		}
		step := func(d time.Duration) {
			sim.RunUntil(d, 250*time.Millisecond, func() bool { checkSafety(); return t.Failed() })
		}
		step(5 * time.Second)
		if t.Failed() {
			return sim
		}

		seedAddr := honest[0].Addr()
		late, err := sim.AddNode("late", []netip.AddrPort{seedAddr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		base := tallest(sim, honest...).Blocks()
		k := len(base) / 2
		forked, err := sim.AddNode("forked", []netip.AddrPort{seedAddr},
			chain.Extend(base[:k], len(base)-k-2, testDifficulty, "fork", 1_700_000_000))
		if err != nil {
			t.Fatal(err)
		}
		honest = append(honest, late, forked)
		a.arrive(late)
		a.arrive(forked)
		last := sim.Mine(tallest(sim, honest...))
		reachable := sim.Elapsed()

		reached := func() bool {
			for _, n := range honest {
				if n.IsUp() && n.Tip() != last.Hash {
					return false
				}
			}
			return true
		}
		ok := sim.RunUntil(livenessBound, 100*time.Millisecond, func() bool {
			if int(sim.Elapsed()/(250*time.Millisecond)) != int((sim.Elapsed()-100*time.Millisecond)/(250*time.Millisecond)) {
				checkSafety()
			}
			return reached() || t.Failed()
		})
		took := sim.Elapsed() - reachable
		if prop == liveness && !ok {
			heights := map[string]string{}
			for _, n := range honest {
				heights[n.Name()] = fmt.Sprintf("%d@%.8s", n.Height(), n.Tip())
			}
			t.Fatalf("%s: %v after an honest source became reachable, honest nodes hold (height@tip) %v, not %d@%.8s",
				adv.name, took, heights, last.Height+1, last.Hash)
		}
		if prop == safety {
			step(10 * time.Second) // and a while longer under attack
		}
		t.Logf("%s: honest tip reached by all in %v (%v); adversary sent %d datagrams (%d bytes), %d over its budget of %v/s",
			adv.name, took, ok, a.sent, a.bytes, a.overBudget, adv.rate)
		return sim
	}
}

// safe checks the safety property now.
func safe(t *testing.T, sim *peer.Sim, honest []*peer.SimNode, a *attack) {
	t.Helper()
	isHonest := map[string]string{}
	for _, n := range honest {
		isHonest[n.Addr().String()] = n.Name()
	}
	for _, n := range honest {
		for _, o := range n.Offenders() {
			if name, ok := isHonest[o.Addr]; ok {
				t.Errorf("at %v: %s holds an offence against honest %s (%s): score %.2f, banned until %v",
					sim.Elapsed(), n.Name(), name, o.Addr, o.Score, o.BannedUntil)
			}
		}
		blocks := n.Blocks()
		if v := chain.ValidPrefix(blocks, testDifficulty); v != len(blocks) {
			t.Errorf("at %v: %s holds an invalid chain: %d of %d blocks valid", sim.Elapsed(), n.Name(), v, len(blocks))
		}
		for _, b := range blocks {
			if b.MinedBy == advTag {
				t.Errorf("at %v: %s holds the adversary's block %d (%.12s)", sim.Elapsed(), n.Name(), b.Height, b.Hash)
				break
			}
		}
	}
	for addr, v := range a.victims {
		if v.received > 3*v.named {
			t.Errorf("at %v: victim %s received %d bytes, named in %d bytes: over 3x", sim.Elapsed(), addr, v.received, v.named)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestSimAdversaryLiveness: under each adversary, every honest node
// reaches the honest tip within livenessBound of an honest source being
// reachable.
func TestSimAdversaryLiveness(t *testing.T) {
	for _, adv := range adversaries {
		t.Run(adv.name, func(t *testing.T) { forSeeds(t, adversaryScenario(adv, liveness)) })
	}
}

// TestSimAdversarySafety: under each adversary, no honest node records an
// offence against an honest peer, adopts an invalid block or a block of
// the adversary's, and no third party receives more than 3x the bytes
// that named it.
func TestSimAdversarySafety(t *testing.T) {
	for _, adv := range adversaries {
		t.Run(adv.name, func(t *testing.T) { forSeeds(t, adversaryScenario(adv, safety)) })
	}
}
