package peer_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// A fresh node syncs a 500-block chain from three nodes, spreading the
// GET_BLOCKs over all of them.
func TestSyncFromThreeNodes(t *testing.T) {
	blocks := chain.Extend(nil, 500, testDifficulty, "src", 1_700_000_000)
	var seeds []netip.AddrPort
	var sources []*testNode
	for _, name := range []string{"s1", "s2", "s3"} {
		s := startNode(t, name, blocks, nil)
		sources = append(sources, s)
		seeds = append(seeds, s.addr)
	}
	fresh := startNode(t, "fresh", nil, seeds)
	eventually(t, 20*time.Second, "the fresh node to hold 500 blocks", func() bool {
		return fresh.status(t).Height == 500
	})
	if got, want := fresh.status(t).Tip, blocks[499].Hash; got != want {
		t.Fatalf("tip %s, want %s", got, want)
	}
	for _, s := range sources {
		c := s.status(t).Counters
		if c.GetBlocksServed == 0 {
			t.Errorf("%s served no GET_BLOCK: the load was not spread", s.Name())
		}
	}
}

// A liar reports a taller chain whose blocks do not verify (its top is
// valid, so its claim is proven and its chain tried): the liar is refused
// for that chain (its chain shows bad, or the liar is banned and no longer
// asked) and the node ends on the valid chain.
func TestLiarWithTallerInvalidChainIsMarkedBad(t *testing.T) {
	honest := chain.Extend(nil, 200, testDifficulty, "honest", 1_700_000_000)
	lie := tamper(chain.Extend(honest, 50, testDifficulty, "liar", 1_700_000_000), 120)
	liar := startFake(t, lie)
	h1 := startNode(t, "h1", honest, nil)
	h2 := startNode(t, "h2", honest, nil)
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{liar.addr, h1.addr, h2.addr})
	eventually(t, 20*time.Second, "the fresh node to adopt the honest chain", func() bool {
		return fresh.status(t).Tip == honest[199].Hash
	})
	st := fresh.status(t)
	if st.Height != 200 {
		t.Fatalf("height %d, want 200", st.Height)
	}
	if liar.servedCount() == 0 {
		t.Fatal("the liar's taller chain was never tried")
	}
	o, ok := offender(t, fresh, liar.addr)
	marked := ok && !o.BannedUntil.IsZero()
	for _, g := range st.Consensus {
		if g.Height == 250 && g.Hash == lie[249].Hash {
			marked = marked || g.Bad
		}
	}
	if !marked {
		t.Fatalf("liar's chain not marked bad: %s", jsonString(st.Consensus))
	}
}

// A node holding a shorter chain that shares a prefix (and has a short
// fork of its own on top) fetches only the suffix above the fork point.
func TestForkFetchesOnlySuffix(t *testing.T) {
	common := chain.Extend(nil, 280, testDifficulty, "common", 1_700_000_000)
	theirs := chain.Extend(common, 120, testDifficulty, "theirs", 1_700_000_000) // 400 blocks
	ours := chain.Extend(common, 20, testDifficulty, "ours", 1_700_000_000)      // 300 blocks
	src := startNode(t, "src", theirs, nil)
	node := startNode(t, "node", ours, []netip.AddrPort{src.addr})
	eventually(t, 20*time.Second, "the node to switch to the taller fork", func() bool {
		return node.status(t).Tip == theirs[399].Hash
	})
	c := node.status(t).Counters
	// 120 blocks above the fork point, ~9 binary-search probes, and a few
	// resends at most on loopback.
	if c.GetBlocksSent < 120 || c.GetBlocksSent > 150 {
		t.Fatalf("sent %d GET_BLOCKs, want the 120-block suffix plus ~log2(300) probes", c.GetBlocksSent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := node.Blocks(ctx, 0, 400)
	if err != nil {
		t.Fatal(err)
	}
	for h, b := range got {
		if b.Hash != theirs[h].Hash {
			t.Fatalf("block %d is %s, want the taller fork's %s", h, b.Hash, theirs[h].Hash)
		}
	}
}

// ANNOUNCE of a valid next block is appended; an invalid one is ignored.
func TestAnnounce(t *testing.T) {
	blocks := chain.Extend(nil, 51, testDifficulty, "a", 1_700_000_000)
	node := startNode(t, "node", blocks[:50], nil)
	r := newRaw(t)

	r.send(node.addr, protocol.Announce{Block: tamper(blocks, 50)[50]})
	r.send(node.addr, protocol.Announce{Block: blocks[50]})
	eventually(t, 5*time.Second, "the announced block to be added", func() bool {
		return node.status(t).Height == 51
	})
	if got := node.status(t).Tip; got != blocks[50].Hash {
		t.Fatalf("tip %s, want the announced block %s", got, blocks[50].Hash)
	}
	// A next block that does not link to our tip.
	other := chain.Extend(blocks[:51], 1, testDifficulty, "x", 1)
	forged := other[51].Clone()
	forged.Messages = []string{"changed"}
	r.send(node.addr, protocol.Announce{Block: forged})
	r.send(node.addr, protocol.Stats{})
	if m := r.recvType(protocol.TypeStatsReply, 2*time.Second); m == nil || m.(protocol.StatsReply).Height != 51 {
		t.Fatalf("after an invalid ANNOUNCE: %v, want height 51", m)
	}
	if c := node.status(t).Counters; c.BlocksAnnouncedAdded != 1 {
		t.Fatalf("%d announced blocks added, want 1", c.BlocksAnnouncedAdded)
	}
}

// Run returns promptly when its context is cancelled.
func TestStopsPromptly(t *testing.T) {
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ch, _ := chain.New(testDifficulty, nil)
	n, err := peer.New(peer.Config{Name: "n", Advertise: tr.LocalAddr(), Difficulty: testDifficulty, Timings: peer.TestTimings(), Mine: true, MineGenesis: true, MineThreads: 1}, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return within a second of cancel")
	}
}

// Some peers answer from another socket than the one they listen on: one
// course peer sends every reply but STATS_REPLY from another port. Its
// blocks prove themselves: the node syncs from it all the same.
func TestRepliesFromAnotherSocket(t *testing.T) {
	blocks := chain.Extend(nil, 60, testDifficulty, "other", 1_700_000_000)
	src := startFake(t, blocks)
	other := newRaw(t)
	src.mu.Lock()
	src.out = other
	src.mu.Unlock()
	node := startNode(t, "node", nil, []netip.AddrPort{src.addr})
	eventually(t, 10*time.Second, "a sync from the two-socket peer", func() bool {
		return node.status(t).Height == 60
	})
}

// A peer found after the first round that reports a taller chain is
// followed at once, not at the next consensus timer.
func TestNewPeerWithTallerChainIsFollowed(t *testing.T) {
	node := startNode(t, "node", nil, nil, func(c *peer.Config) {
		c.Timings.ConsensusInterval = time.Hour // only the join round, which finds nobody
	})
	eventually(t, 2*time.Second, "the join round", func() bool { return node.status(t).Counters.ConsensusRounds == 1 })
	blocks := chain.Extend(nil, 40, testDifficulty, "late", 1_700_000_000)
	late := startNode(t, "late", blocks, []netip.AddrPort{node.addr})
	eventually(t, 5*time.Second, "the node to follow the late peer's chain", func() bool {
		return node.status(t).Tip == blocks[39].Hash
	})
	_ = late
}
