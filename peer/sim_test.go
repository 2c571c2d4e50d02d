package peer_test

import (
	"flag"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
)

var (
	simSeed         = flag.Uint64("sim.seed", 0, "run the simulator scenarios with this seed only (replays a failing run)")
	simSeeds        = flag.Int("sim.seeds", 3, "run each simulator scenario with seeds 1..N")
	simLog          = flag.Bool("sim.log", false, "with -v, log the simulated nodes (with the virtual time vt, in ms)")
	simLoss         = flag.Float64("sim.loss", -1, "explore: run the calm scenarios (join, partition, churn, silent) with this loss instead")
	simMaxDelay     = flag.Duration("sim.maxdelay", 0, "explore: ... and with delays up to this (and 10% duplicates) instead")
	simLogLevelFlag = flag.String("sim.loglevel", "info", "the simulated nodes' log level with -sim.log")
)

// simNodes is how many nodes every scenario runs.
const simNodes = 30

// courseTimings are the course network's, which the simulator can
// afford: its time is virtual.
func courseTimings() peer.Timings { return peer.CourseTimings() }

// network is how a scenario's network misbehaves.
type network struct {
	loss, dup          float64
	minDelay, maxDelay time.Duration
}

var calmNetwork = network{minDelay: time.Millisecond, maxDelay: 40 * time.Millisecond}

// calm returns calmNetwork, or the network -sim.loss and -sim.maxdelay ask
// for: for exploring the scenarios on a worse network by hand.
func calm() network {
	nw := calmNetwork
	if *simLoss >= 0 {
		nw.loss, nw.dup = *simLoss, 0.1
	}
	if *simMaxDelay > 0 {
		nw.maxDelay, nw.dup = *simMaxDelay, 0.1
	}
	return nw
}

// scenario is one simulator scenario: it builds and runs a Sim from a seed,
// failing t when the network misbehaves, and returns the Sim for its digest.
type scenario func(t *testing.T, seed uint64) *peer.Sim

// forSeeds runs sc once per seed, each a subtest named seed=N, and prints
// how to replay a failing seed. The first seed runs twice: both runs must
// have the same digest (every datagram delivered, at the same virtual time,
// and the same final states); different seeds must have different ones.
func forSeeds(t *testing.T, sc scenario) { forNSeeds(t, *simSeeds, sc) }

// forNSeeds is forSeeds with seeds 1..n by default. The Sims are CPU-bound
// and share nothing: the scenarios run in parallel with each other (after
// the package's other tests, which mostly wait on real time).
func forNSeeds(t *testing.T, n int, sc scenario) {
	t.Parallel()
	seeds := make([]uint64, 0, n)
	for s := range n {
		seeds = append(seeds, uint64(s+1))
	}
	if *simSeed != 0 {
		seeds = []uint64{*simSeed}
	}
	digests := map[string]uint64{}
	for i, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Errorf("seed %d failed; replay it with: go test -race -run '^%s$' ./peer/ -sim.seed %d -v -sim.log",
						seed, t.Name(), seed)
				}
			}()
			start := time.Now()
			sim := sc(t, seed)
			if t.Failed() {
				return
			}
			digest := sim.Digest()
			st := sim.Stats()
			t.Logf("seed %d: %v virtual in %v wall; %d datagrams sent, %d delivered, %d lost, %d duplicated, %d reordered, %d cut; digest %.16s; by type %v",
				seed, sim.Elapsed(), time.Since(start).Round(time.Millisecond), st.Sent, st.Delivered, st.Lost,
				st.Duplicated, st.Reordered, st.Cut, digest, st.ByType)
			if other, ok := digests[digest]; ok {
				t.Errorf("seeds %d and %d ran the same: digest %s", other, seed, digest)
			}
			digests[digest] = seed
			if i > 0 {
				return
			}
			again := sc(t, seed)
			if d := again.Digest(); d != digest {
				t.Errorf("seed %d does not replay: digest %s, then %s (%d datagrams delivered, then %d)",
					seed, digest, d, st.Delivered, again.Stats().Delivered)
			} else {
				t.Logf("seed %d replayed: same digest", seed)
			}
		})
	}
}

func newSim(t *testing.T, seed uint64, nw network) *peer.Sim {
	log := zerolog.Nop()
	if *simLog && testing.Verbose() {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(simLogLevel())
	}
	return peer.NewSim(peer.SimConfig{
		Seed: seed, Timings: courseTimings(), Difficulty: testDifficulty, Log: log,
		Loss: nw.loss, Duplicate: nw.dup, MinDelay: nw.minDelay, MaxDelay: nw.maxDelay,
	})
}

// bootstrap starts the first node, which mines a genesis block, and has
// the others join through it at random times in the next 10 s.
func bootstrap(t *testing.T, sim *peer.Sim, n int) {
	t.Helper()
	seed, err := sim.AddNode("n0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sim.Mine(seed)
	for i := 1; i < n; i++ {
		sim.At(time.Duration(sim.Rand().Int64N(int64(10*time.Second))), func() {
			if _, err := sim.AddNode(fmt.Sprintf("n%d", i), []netip.AddrPort{seed.Addr()}, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

// mineEvery has a random node that is up (of the given ones; all when
// none given) mine a block every interval (±50%) from `from` until `to`.
func mineEvery(sim *peer.Sim, from, to, interval time.Duration, among ...*peer.SimNode) {
	var next func()
	next = func() {
		if sim.Elapsed() >= to {
			return
		}
		pool := among
		if len(pool) == 0 {
			pool = sim.Up()
		}
		var up []*peer.SimNode
		for _, n := range pool {
			if n.IsUp() {
				up = append(up, n)
			}
		}
		if len(up) > 0 {
			sim.Mine(up[sim.Rand().IntN(len(up))])
		}
		sim.After(interval/2+time.Duration(sim.Rand().Int64N(int64(interval))), next)
	}
	sim.At(from, next)
}

// tallest returns a random node among those up with the tallest chain:
// the block it mines next makes the one tallest chain, which every node
// must then adopt (nodes keep their chain against another of equal height,
// so forks of equal height can last until a block settles them).
// When nodes are given, it chooses among those.
func tallest(sim *peer.Sim, among ...*peer.SimNode) *peer.SimNode {
	if len(among) == 0 {
		among = sim.Up()
	}
	var best []*peer.SimNode
	for _, n := range among {
		switch {
		case len(best) == 0 || n.Height() > best[0].Height():
			best = []*peer.SimNode{n}
		case n.Height() == best[0].Height():
			best = append(best, n)
		}
	}
	return best[sim.Rand().IntN(len(best))]
}

// converged reports whether the nodes that are up (of the given ones; all
// when none given) hold one chain.
func converged(sim *peer.Sim, among ...*peer.SimNode) bool {
	if len(among) == 0 {
		among = sim.Up()
	}
	for _, n := range among {
		if n.Height() == 0 || n.Tip() != among[0].Tip() {
			return false
		}
	}
	return true
}

// awaitConvergence runs sim until its nodes hold one chain, for at most
// limit of virtual time, and checks that chain: valid, and the tallest any
// of them held. It returns how long it took.
func awaitConvergence(t *testing.T, sim *peer.Sim, limit time.Duration, among ...*peer.SimNode) time.Duration {
	t.Helper()
	if len(among) == 0 {
		among = sim.Up()
	}
	tallest := 0
	for _, n := range among {
		tallest = max(tallest, n.Height())
	}
	start := sim.Elapsed()
	if !sim.RunUntil(limit, 100*time.Millisecond, func() bool { return converged(sim, among...) }) {
		heights := map[string]int{}
		for _, n := range among {
			heights[fmt.Sprintf("%d@%.8s", n.Height(), n.Tip())]++
		}
		t.Fatalf("at %v: %d nodes not converged after %v: chains (height@tip: nodes) %v", sim.Elapsed(), len(among), limit, heights)
	}
	blocks := among[0].Blocks()
	if got := chain.ValidPrefix(blocks, testDifficulty); got != len(blocks) {
		t.Fatalf("converged on an invalid chain: %d of %d blocks valid", got, len(blocks))
	}
	if len(blocks) < tallest {
		t.Fatalf("converged on %d blocks, but a node held %d", len(blocks), tallest)
	}
	took := sim.Elapsed() - start
	t.Logf("at %v: %d nodes converged on %d blocks (tip %.12s) in %v", sim.Elapsed(), len(among), len(blocks), among[0].Tip(), took)
	return took
}

// joinScenario: 30 nodes join one after the other through the first while
// random nodes mine a block every 10 s; after a pause a node with the
// tallest chain mines a last block, and all of them must end up holding it.
func joinScenario(nw network) scenario {
	return func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, nw)
		bootstrap(t, sim, simNodes)
		mineEvery(sim, 5*time.Second, 60*time.Second, 10*time.Second)
		sim.RunFor(75 * time.Second)
		last := sim.Mine(tallest(sim))
		awaitConvergence(t, sim, 10*time.Minute)
		if tip := sim.Up()[0].Tip(); tip != last.Hash {
			t.Errorf("converged on %.12s, not on the last block mined %.12s", tip, last.Hash)
		}
		// Each knows a good part of the network (under loss, a node may
		// rarely see all its GOSSIPs to its one seed lost for minutes).
		few, allowed := 0, 0
		if nw.loss > 0 {
			allowed = simNodes / 10
		}
		for _, n := range sim.Up() {
			if peers := len(n.Status().Peers); peers < simNodes/3 {
				t.Logf("%s knows %d peers of %d", n.Name(), peers, simNodes-1)
				few++
			}
		}
		if few > allowed {
			t.Errorf("%d nodes know fewer than %d peers of %d", few, simNodes/3, simNodes-1)
		}
		return sim
	}
}

func TestSimJoin(t *testing.T) { forSeeds(t, joinScenario(calm())) }

// TestSimLossy is the join scenario over a network that loses 30% of the
// datagrams, delivers 10% twice and delays each by 1 to 300 ms (which
// reorders them).
func TestSimLossy(t *testing.T) {
	nw := network{loss: 0.3, dup: 0.1, minDelay: time.Millisecond, maxDelay: 300 * time.Millisecond}
	forSeeds(t, func(t *testing.T, seed uint64) *peer.Sim {
		sim := joinScenario(nw)(t, seed)
		st := sim.Stats()
		if lost := float64(st.Lost) / float64(st.Sent); lost < 0.27 || lost > 0.33 {
			t.Errorf("%.3f of the datagrams lost, want 0.3", lost)
		}
		if st.Duplicated == 0 || st.Reordered == 0 {
			t.Errorf("no duplicates (%d) or no reordering (%d)", st.Duplicated, st.Reordered)
		}
		return sim
	})
}

// TestSimPartition: 30 nodes converge; the network splits in two halves
// that cannot reach each other (the first node, every node's seed, in the
// first) for 100 s, longer than the peer timeout; both mine on their own,
// one of them more; the
// partition heals and every node must end up on the taller half's chain.
func TestSimPartition(t *testing.T) {
	forSeeds(t, func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, calm())
		bootstrap(t, sim, simNodes)
		mineEvery(sim, 5*time.Second, 30*time.Second, 10*time.Second)
		sim.RunFor(40 * time.Second)
		sim.Mine(tallest(sim))
		awaitConvergence(t, sim, 5*time.Minute)

		nodes := sim.Nodes()
		perm := sim.Rand().Perm(len(nodes) - 1)
		halves := [2][]*peer.SimNode{{nodes[0]}, nil}
		for i, p := range perm {
			halves[i%2] = append(halves[i%2], nodes[p+1])
		}
		taller := sim.Rand().IntN(2) // this half mines every 10 s, the other every 30 s
		at := sim.Elapsed()
		sim.Partition(halves[0], halves[1])
		t.Logf("at %v: partition into %d and %d nodes; half %d mines more", at, len(halves[0]), len(halves[1]), taller)
		mineEvery(sim, at+5*time.Second, at+90*time.Second, 10*time.Second, halves[taller]...)
		mineEvery(sim, at+5*time.Second, at+90*time.Second, 30*time.Second, halves[1-taller]...)
		sim.RunFor(100 * time.Second)
		sim.Mine(tallest(sim, halves[0]...))
		sim.Mine(tallest(sim, halves[1]...))
		awaitConvergence(t, sim, 5*time.Minute, halves[0]...)
		awaitConvergence(t, sim, 5*time.Minute, halves[1]...)
		short, tall := halves[1-taller][0], halves[taller][0]
		for tall.Height() <= short.Height() { // its forks cost it blocks: one more
			sim.Mine(tallest(sim, halves[taller]...))
			awaitConvergence(t, sim, 5*time.Minute, halves[taller]...)
		}
		want := tall.Tip()
		sim.Heal()
		t.Logf("at %v: healed; the halves hold %d and %d blocks", sim.Elapsed(), tall.Height(), short.Height())
		awaitConvergence(t, sim, 10*time.Minute)
		if got := nodes[0].Tip(); got != want {
			t.Errorf("converged on %.12s, not on the taller half's tip %.12s", got, want)
		}
		return sim
	})
}

// TestSimChurn: while blocks are mined, every 2 to 6 virtual seconds for
// two minutes a random node leaves (as a crash), a node that left comes
// back with its chain, or a new node with no chain joins. Then the mining
// stops, a node with the tallest chain mines a last block, and every node
// up must hold it.
func TestSimChurn(t *testing.T) {
	forSeeds(t, func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, calm())
		bootstrap(t, sim, simNodes)
		seedAddr := sim.Nodes()[0].Addr()
		const churnFrom, churnTo = 20 * time.Second, 140 * time.Second
		mineEvery(sim, 5*time.Second, churnTo, 8*time.Second)
		left, back, joined := 0, 0, 0
		var churn func()
		churn = func() {
			if sim.Elapsed() >= churnTo {
				return
			}
			rng := sim.Rand()
			var down, stoppable []*peer.SimNode
			for _, n := range sim.Nodes()[1:] { // the seed stays, as the course's well-known peers do
				if n.IsUp() {
					stoppable = append(stoppable, n)
				} else {
					down = append(down, n)
				}
			}
			switch r := rng.IntN(10); {
			case r < 5 && len(stoppable) > simNodes/2:
				stoppable[rng.IntN(len(stoppable))].Stop()
				left++
			case r < 8 && len(down) > 0:
				if err := down[rng.IntN(len(down))].Start(); err != nil {
					t.Error(err)
				}
				back++
			default:
				if _, err := sim.AddNode(fmt.Sprintf("n%d", len(sim.Nodes())), []netip.AddrPort{seedAddr}, nil); err != nil {
					t.Error(err)
				}
				joined++
			}
			sim.After(2*time.Second+time.Duration(rng.Int64N(int64(4*time.Second))), churn)
		}
		sim.At(churnFrom, churn)
		sim.RunFor(churnTo + 15*time.Second)
		t.Logf("churn: %d left, %d came back, %d new; %d of %d nodes up", left, back, joined, len(sim.Up()), len(sim.Nodes()))
		if left < 5 || back+joined < 5 {
			t.Fatalf("too little churn to mean anything: %d left, %d came back, %d new", left, back, joined)
		}
		last := sim.Mine(tallest(sim))
		awaitConvergence(t, sim, 10*time.Minute)
		if tip := sim.Up()[0].Tip(); tip != last.Hash {
			t.Errorf("converged on %.12s, not on the last block mined %.12s", tip, last.Hash)
		}
		return sim
	})
}

// TestSimSilentPeersDropped: once 30 nodes know each other, five of them go
// silent (crash). Every other node must drop each of them 60 s (the peer
// timeout) after it last heard from it: not before, and not more than the
// expiry check's period (1 s) and a tick later.
func TestSimSilentPeersDropped(t *testing.T) {
	forSeeds(t, func(t *testing.T, seed uint64) *peer.Sim {
		timeout := courseTimings().PeerTimeout
		slack := time.Second + courseTimings().Tick
		sim := newSim(t, seed, calm())
		bootstrap(t, sim, simNodes)
		sim.RunFor(time.Minute)
		// Five random nodes (not the seed) that most others know go silent.
		nodes := sim.Nodes()
		knownBy := func(s *peer.SimNode) int {
			k := 0
			for _, l := range nodes {
				if _, ok := l.Knows(s.Addr()); ok && l != s {
					k++
				}
			}
			return k
		}
		var silent, live []*peer.SimNode
		for _, p := range sim.Rand().Perm(len(nodes) - 1) {
			if n := nodes[p+1]; len(silent) < 5 && knownBy(n) >= (len(nodes)-1)*3/4 {
				silent = append(silent, n)
			} else {
				live = append(live, n)
			}
		}
		live = append(live, nodes[0])
		if len(silent) < 5 {
			t.Fatalf("at %v, only %d nodes are known by 3/4 of the others", sim.Elapsed(), len(silent))
		}
		type pair struct{ live, silent *peer.SimNode }
		lastSeen := map[pair]time.Time{}
		for _, s := range silent {
			for _, l := range live {
				if seen, ok := l.Knows(s.Addr()); ok {
					lastSeen[pair{l, s}] = seen
				}
			}
			s.Stop()
		}
		silentAt := sim.Elapsed()
		t.Logf("at %v: %v go silent", silentAt, names(silent))
		dropped := 0
		// Check every 50 ms of virtual time (a tick) for 70 s.
		sim.RunUntil(timeout+10*time.Second, courseTimings().Tick, func() bool {
			now := sim.Now()
			for p, prev := range lastSeen {
				seen, ok := p.live.Knows(p.silent.Addr())
				switch {
				case ok && now.Sub(seen) > timeout+slack:
					t.Fatalf("at %v: %s still lists %s, silent for %v", sim.Elapsed(), p.live.Name(), p.silent.Name(), now.Sub(seen))
				case ok:
					lastSeen[p] = seen
				case now.Sub(prev) < timeout:
					t.Fatalf("at %v: %s dropped %s after only %v of silence", sim.Elapsed(), p.live.Name(), p.silent.Name(), now.Sub(prev))
				default:
					delete(lastSeen, p)
					dropped++
				}
			}
			return false
		})
		for _, l := range live {
			for _, s := range silent {
				if _, ok := l.Knows(s.Addr()); ok {
					t.Errorf("%s still lists %s %v after it went silent", l.Name(), s.Name(), sim.Elapsed()-silentAt)
				}
			}
			if peers := len(l.Status().Peers); peers < len(live)/2 {
				t.Errorf("%s lists %d of the %d other live nodes", l.Name(), peers, len(live)-1)
			}
		}
		t.Logf("%d drops, each 60 s to 60 s + %v after the last word", dropped, slack)
		return sim
	})
}

func names(nodes []*peer.SimNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name())
	}
	return out
}

// TestSimJoinGossipCost: a node joining a settled network of 30 must cost
// O(N) GOSSIP datagrams, not a flood of the whole network per peer that
// learns of it (which greeting each new peer with a fresh gossip id did:
// N floods of ~4N datagrams each).
func TestSimJoinGossipCost(t *testing.T) {
	forNSeeds(t, 1, func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, calm())
		bootstrap(t, sim, simNodes)
		sim.RunFor(time.Minute)
		const window = 30 * time.Second // every node's gossip round falls once in each window
		before := sim.Stats().ByType["GOSSIP"]
		sim.RunFor(window)
		quiet := sim.Stats().ByType["GOSSIP"] - before
		before = sim.Stats().ByType["GOSSIP"]
		if _, err := sim.AddNode("late", []netip.AddrPort{sim.Nodes()[0].Addr()}, nil); err != nil {
			t.Fatal(err)
		}
		sim.RunFor(window)
		join := sim.Stats().ByType["GOSSIP"] - before
		t.Logf("GOSSIP datagrams in %v: %d without a join, %d with one", window, quiet, join)
		if join-quiet > 20*simNodes {
			t.Errorf("a join cost %d GOSSIP datagrams over the %d of a quiet %v (more than %d)", join-quiet, quiet, window, 20*simNodes)
		}
		return sim
	})
}

func simLogLevel() zerolog.Level {
	if l, err := zerolog.ParseLevel(*simLogLevelFlag); err == nil && l != zerolog.NoLevel {
		return l
	}
	return zerolog.InfoLevel
}

// TestSimLostJoinGossipRetried: a node whose join GOSSIP is lost (or whose
// seeds are down) and that so knows no peer retries soon, backing off up
// to the gossip interval, instead of staying unknown for 30 s per loss
// (under 30% loss, about 1% of the nodes were still unknown after two
// minutes).
func TestSimLostJoinGossipRetried(t *testing.T) {
	forNSeeds(t, 1, func(t *testing.T, seed uint64) *peer.Sim {
		sim := newSim(t, seed, calmNetwork)
		seedNode, err := sim.AddNode("seed", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var lonely *peer.SimNode
		sim.At(time.Second, func() {
			lonely, err = sim.AddNode("lonely", []netip.AddrPort{seedNode.Addr()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			sim.Cut(lonely, seedNode) // its first GOSSIPs are lost
		})
		sim.At(5*time.Second, sim.Heal)
		known := func() bool { _, ok := seedNode.Knows(lonely.Addr()); return ok }
		sim.RunFor(5 * time.Second)
		if known() {
			t.Fatal("known across a cut link")
		}
		// Retries at 2, 4 and 8 s (1, 2 and 4 s apart): the one at 8 s gets through.
		if !sim.RunUntil(10*time.Second, courseTimings().Tick, known) {
			t.Fatalf("at %v, the seed still does not know the node that joined at 1s", sim.Elapsed())
		}
		t.Logf("known at %v", sim.Elapsed())
		if got := sim.Stats().ByType["GOSSIP"]; got > 8 {
			t.Errorf("%d GOSSIPs sent, want at most 8", got)
		}
		return sim
	})
}
