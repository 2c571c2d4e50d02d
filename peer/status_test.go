package peer_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"blockpeer/peer"
)

// A paced miner's seed sees its followers on its tip right after each
// block (it ANNOUNCEd the block to them when they were on its chain), says
// "resting" between blocks, and keeps a hash rate over its last mining
// instead of 0 while it rests.
func TestStatusPeersOnOurTipAndRestingMiner(t *testing.T) {
	seed := startNode(t, "seed", nil, nil, func(c *peer.Config) {
		// Mining starts once both followers have told the seed they have
		// no chain: from then on only its ANNOUNCEs tell it where they are.
		c.Mine, c.MineGenesis, c.MineThreads = false, true, 1
		c.MinBlockInterval = 400 * time.Millisecond
		c.Difficulty = 3
		// No consensus round of the seed refreshes what peers told it:
		// only its ANNOUNCEs can move them forward.
		c.Timings.ConsensusInterval = time.Hour
	})
	var followers []*testNode
	for _, name := range []string{"a", "b"} {
		followers = append(followers, startNode(t, name, nil, []netip.AddrPort{seed.addr}, func(c *peer.Config) { c.Difficulty = 3 }))
	}
	eventually(t, 10*time.Second, "both followers' 'no chain' at the seed", func() bool {
		told := 0
		for _, p := range seed.status(t).Peers {
			if !p.ReportedAt.IsZero() {
				told++
			}
		}
		return told == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := seed.SetMining(ctx, true, 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Wait until the seed has mined a few blocks after both joined.
	start := seed.status(t).Height
	eventually(t, 20*time.Second, "three more blocks on the seed", func() bool {
		st := seed.status(t)
		return st.Height >= start+3 && len(st.Peers) == 2
	})
	sawResting, sawSame := false, false
	deadline := time.Now().Add(20 * time.Second) // a loaded machine (-race, CI) mines and answers slowly
	for time.Now().Before(deadline) && !(sawResting && sawSame) {
		st := seed.status(t)
		if st.Mining.State == "resting" {
			sawResting = true
			if st.Mining.HashRate <= 0 {
				t.Fatalf("resting miner shows a hash rate of %v: want the rate of its last mining", st.Mining.HashRate)
			}
			if st.Mining.RestUntil.IsZero() {
				t.Errorf("resting without a rest_until")
			}
		}
		same := 0
		for _, p := range st.Peers {
			if p.Relation == "same" && p.Hash == st.Tip && p.Height == st.Height {
				same++
			}
			if p.Relation == "behind" {
				t.Fatalf("peer %s shown behind at %d blocks (seed %d, source %q): it follows the seed", p.Name, p.Height, st.Height, p.Source)
			}
		}
		if same == 2 && st.Height > start+3 {
			sawSame = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawResting || !sawSame {
		t.Fatalf("resting seen %v, both peers on the seed's tip seen %v", sawResting, sawSame)
	}
	_ = followers
}

// A node's events tell its blocks: the seed's "mined" events and a
// follower's "tip" events for the same blocks, with words "N blocks, top #N-1".
func TestStatusEvents(t *testing.T) {
	var got []peer.Event
	events := make(chan peer.Event, 256)
	seed := startNode(t, "seed", nil, nil, func(c *peer.Config) {
		c.Mine, c.MineGenesis, c.MineThreads = true, true, 1
		c.MinBlockInterval = 200 * time.Millisecond
		c.Difficulty = 3
		c.OnEvent = func(e peer.Event) {
			select {
			case events <- e:
			default:
			}
		}
	})
	f := startNode(t, "f", nil, []netip.AddrPort{seed.addr}, func(c *peer.Config) { c.Difficulty = 3 })
	eventually(t, 20*time.Second, "the follower's third block", func() bool { return f.status(t).Height >= 3 })
	for len(events) > 0 {
		got = append(got, <-events)
	}
	kinds := map[string]int{}
	for i, e := range got {
		kinds[e.Kind]++
		if e.Node != "seed" || (i > 0 && e.Seq != got[i-1].Seq+1) {
			t.Errorf("event %d: node %q seq %d after %d", i, e.Node, e.Seq, got[max(i-1, 0)].Seq)
		}
	}
	if kinds[peer.EventJoined] != 1 || kinds[peer.EventMined] < 2 || kinds[peer.EventPeerFound] < 1 {
		t.Fatalf("seed's events by kind: %v", kinds)
	}
	fs := f.status(t)
	var tips []peer.Event
	for _, e := range fs.Events {
		if e.Kind == peer.EventTip || e.Kind == peer.EventSync {
			tips = append(tips, e)
		}
	}
	if len(tips) == 0 {
		t.Fatalf("follower's events have no tip or sync: %+v", fs.Events)
	}
	for _, e := range got {
		if e.Kind == peer.EventMined && e.Index == 1 {
			if e.Blocks != 2 || !slices.Contains([]string{"mined #1"}, e.Text[:8]) {
				t.Errorf("mined event %+v: want blocks 2, text from \"mined #1\"", e)
			}
		}
	}
	last := tips[len(tips)-1]
	if last.Kind == peer.EventTip && last.Text[:4] != "now " {
		t.Errorf("tip event text %q", last.Text)
	}
}

// On the simulator, so that the order is sure: the peers meet the miner
// while it has no chain (they tell it "no chain"), then it mines. With no
// consensus round to refresh what they told it (the course's 2 min), it
// still sees them on its tip after each block: it ANNOUNCEd every block to
// them, from the genesis on. Before, it showed them "behind", with 0
// blocks, until a round.
func TestStatusPeersFollowOurAnnouncesFromGenesis(t *testing.T) {
	sim := newSim(t, 1, calm())
	miner, err := sim.AddNode("miner", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := miner.Start(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		n, err := sim.AddNode(name, []netip.AddrPort{miner.Addr()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	sim.RunFor(2 * time.Second)
	st := miner.Status()
	if len(st.Peers) != 2 || st.Height != 0 {
		t.Fatalf("before mining: the miner has %d blocks and %d peers, want 0 and 2", st.Height, len(st.Peers))
	}
	for _, p := range st.Peers {
		if p.Source != "told" || p.Height != 0 {
			t.Fatalf("%s: told %q, %d blocks; want it told us it has no chain", p.Name, p.Source, p.Height)
		}
	}
	for i := range 3 {
		sim.Mine(miner)
		sim.RunFor(time.Second)
		st = miner.Status()
		for _, p := range st.Peers {
			if p.Relation != "same" || p.Height != st.Height || p.Source != "our announce" {
				t.Fatalf("after block %d: %s shown with %d blocks, %q (%q); the miner has %d", i, p.Name, p.Height, p.Relation, p.Source, st.Height)
			}
		}
	}
}
