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

// A peer silent for longer than the peer timeout is dropped.
func TestSilentPeerDropped(t *testing.T) {
	node := startNode(t, "node", nil, nil, func(c *peer.Config) {
		c.Timings.PeerTimeout = 400 * time.Millisecond
	})
	quiet := newRaw(t)
	talker := newRaw(t)
	gossip := func(r *raw, name, id string) {
		r.send(node.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(r.addr.Port()), ID: id, Name: name})
	}
	gossip(quiet, "quiet", "q1")
	gossip(talker, "talker", "t1")
	eventually(t, 2*time.Second, "both peers to be known", func() bool { return len(node.status(t).Peers) == 2 })
	// The talker re-sends the same gossip id (as some peers do): it still
	// counts as a sign of life.
	stop := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(stop) {
		gossip(talker, "talker", "t1")
		time.Sleep(100 * time.Millisecond)
	}
	peers := node.status(t).Peers
	if len(peers) != 1 || peers[0].Name != "talker" {
		t.Fatalf("peers %s, want only the talker", jsonString(peers))
	}
}

// A GOSSIP id is forwarded once, to at most 3 peers, never to its
// originator or its sender; the originator gets a GOSSIP_REPLY.
func TestGossipForwardedOnceToThree(t *testing.T) {
	node := startNode(t, "node", nil, nil)
	var members []*raw
	for i := range 5 {
		r := newRaw(t)
		r.send(node.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(r.addr.Port()), ID: "join-" + string(rune('a'+i)), Name: "m"})
		members = append(members, r)
	}
	eventually(t, 2*time.Second, "5 members", func() bool { return len(node.status(t).Peers) == 5 })
	origin, sender := members[0], members[1]
	g := protocol.Gossip{Host: "127.0.0.1", Port: int(origin.addr.Port()), ID: "the-id", Name: "origin"}
	sender.send(node.addr, g)
	sender.send(node.addr, g) // a repeat: never forwarded twice

	got := map[int]int{} // member index -> forwarded copies of the-id
	replied := false
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		for i, r := range members {
			m, _ := r.recv(5 * time.Millisecond)
			switch m := m.(type) {
			case protocol.Gossip:
				if m.ID == "the-id" {
					got[i]++
				}
			case protocol.GossipReply:
				if i == 0 && m.Name == "node" {
					replied = true
				}
			}
		}
	}
	total := 0
	for i, n := range got {
		if i == 0 || i == 1 {
			t.Errorf("forwarded to the %s", map[int]string{0: "originator", 1: "sender"}[i])
		}
		if n > 1 {
			t.Errorf("member %d got the id %d times", i, n)
		}
		total += n
	}
	if total != 3 {
		t.Errorf("forwarded to %d peers, want 3", total)
	}
	if !replied {
		t.Error("no GOSSIP_REPLY to the originator")
	}
}

// STATS and GET_BLOCK are answered at once, also in the middle of a sync.
func TestStatsAnsweredMidSync(t *testing.T) {
	blocks := chain.Extend(nil, 300, testDifficulty, "slow", 1_700_000_000)
	src := startFake(t, blocks)
	src.mu.Lock()
	src.stall = true // before any traffic: the sync stalls, waiting for blocks
	src.mu.Unlock()
	node := startNode(t, "node", blocks[:10], []netip.AddrPort{src.addr}, func(c *peer.Config) {
		c.Timings.RequestTimeout = 5 * time.Second // stay mid-sync for the whole test
	})
	eventually(t, 5*time.Second, "a sync to start", func() bool { return node.status(t).Sync != nil })
	asker := newRaw(t)
	asker.send(node.addr, protocol.Stats{})
	m := asker.recvType(protocol.TypeStatsReply, time.Second)
	if m == nil || m.(protocol.StatsReply).Height != 10 || m.(protocol.StatsReply).Hash != blocks[9].Hash {
		t.Fatalf("STATS during the sync: %v, want 10 blocks", m)
	}
	asker.send(node.addr, protocol.GetBlock{Height: 3})
	gb := asker.recvType(protocol.TypeGetBlockReply, time.Second)
	if gb == nil || gb.(protocol.GetBlockReply).Block == nil || gb.(protocol.GetBlockReply).Block.Hash != blocks[3].Hash {
		t.Fatalf("GET_BLOCK during the sync: %v", gb)
	}
	if node.status(t).Sync == nil {
		t.Fatal("the sync was no longer running")
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
	n, err := peer.New(peer.Config{Name: "n", Advertise: tr.LocalAddr(), Difficulty: testDifficulty, Timings: testTimings(), Mine: true, MineGenesis: true, MineThreads: 1}, tr, ch)
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

// CONSENSUS makes the node ask every known peer for STATS at once; a
// flood of them makes at most one round per STATS window.
func TestConsensusMessageStartsARound(t *testing.T) {
	node := startNode(t, "node", nil, nil, func(c *peer.Config) {
		c.Timings.JoinDelay = time.Hour // no round of its own
		c.Timings.ConsensusInterval = time.Hour
		c.Timings.StatsWindow = time.Second
	})
	member := newRaw(t)
	member.send(node.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(member.addr.Port()), ID: "m", Name: "m"})
	eventually(t, 2*time.Second, "the member to be known", func() bool { return len(node.status(t).Peers) == 1 })
	// A new peer is asked for STATS once, on discovery: take that first.
	if m := member.recvType(protocol.TypeStats, time.Second); m == nil {
		t.Fatal("a new peer was not asked for its chain")
	}
	for range 20 {
		member.send(node.addr, protocol.Consensus{})
	}
	stats := 0
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if m, _ := member.recv(50 * time.Millisecond); m != nil && m.Type() == protocol.TypeStats {
			stats++
		}
	}
	if stats != 1 {
		t.Fatalf("%d STATS after 20 CONSENSUS within a STATS window, want exactly 1", stats)
	}
	if c := node.status(t).Counters; c.ConsensusRounds != 1 {
		t.Fatalf("%d rounds, want 1", c.ConsensusRounds)
	}
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
