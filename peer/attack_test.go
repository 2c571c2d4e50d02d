package peer_test

// The attacks of issue 11, one or more per class of hole: blame on the
// wrong address (A), ANNOUNCE steering us before it is checked (B), a
// fork-point search that trusts one answer (C), a sync that livelocks (D),
// cheap claims that cost us seconds (E), amplification toward third
// parties (F), and the peer that binds after it gossips (G, issue 12 item
// 8). Each is scaled down from the figures of the issue and runs in the
// simulator (sim_support_test.go), on virtual time: the honest peers are
// real Nodes, the attackers and the odd peers are actors, a forged source
// is SendAs from any address, and "another port of the same host" is just
// another 127.0.0.1 port. None of them needs the kernel's sockets; each
// time bound below is virtual time, at the test timings.

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// zeroHash returns a made-up hash ending in the test difficulty's zeros.
func zeroHash(i int) string {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint("fake ", i))))
	return h[:64-testDifficulty] + strings.Repeat("0", testDifficulty)
}

// --- A: blame only the exact source, only for wrong answers to our requests.

// TestAttackForgedAnnounceBansNobody: ANNOUNCEs with a bad hash, forged
// to come "from" the honest seed and handled before anything else, must
// not get the seed blamed or banned: the node still syncs from it.
// (Issue 11, 1: one such datagram banned the seed for 5 minutes.)
func TestAttackForgedAnnounceBansNobody(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, blocks)
	node := addNode(t, sim, "node", []netip.AddrPort{src.Addr()}, nil)
	bad := blocks[0].Clone()
	bad.Hash = strings.Repeat("ab", 32) // misses the difficulty
	for range 3 {
		sendAs(t, sim, src.Addr(), node.Addr(), protocol.Announce{Block: bad})
	}
	reaches(t, sim, node, blocks, 5*time.Second, "the node to sync from the seed")
	noOffenceAgainst(t, node, src.Addr(), "the honest seed")
}

// TestAttackGossipNamingSeedBlamesNobody: 1,200 GOSSIPs (one repeated id,
// from the attacker's own port) that name the honest seed, far beyond the
// node's reply rate toward it (10 a second). The replies over the rate
// are not the seed's offence, nor the attacker's, and the node still
// syncs from the seed. (Issue 11, 1: 25-30k of them got the seed banned.)
func TestAttackGossipNamingSeedBlamesNobody(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, blocks)
	node := addNode(t, sim, "node", []netip.AddrPort{src.Addr()}, nil, withReplyRate(10, 10))
	attacker := local(30000)
	g := []byte(fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"same","name":"seed"}`, src.Addr().Port()))
	for i := range 1200 { // 20 a millisecond
		sim.After(time.Duration(i)*50*time.Microsecond, func() { sim.SendAs(attacker, node.Addr(), g) })
	}
	reaches(t, sim, node, blocks, 5*time.Second, "the node to sync from the seed")
	if n := node.Status().Counters.RateLimited; n == 0 {
		t.Fatal("no reply was over the rate: the scenario does not test what it says")
	}
	noOffenceAgainst(t, node, src.Addr(), "the honest seed named in the GOSSIPs")
	noOffenceAgainst(t, node, attacker, "the GOSSIP sender (over the reply rate of another address)")
}

// TestAttackOtherPortOfBackersHost: while the node syncs from an honest
// backer, invalid GET_BLOCK_REPLYs for every height arrive from other
// ports of the backer's host (10 a millisecond), each from a fresh one.
// They are not the backer's: it is not blamed, its chain is not marked
// bad, and the node adopts it. (Issue 11, 1: 192 such replies got the
// backer banned and its chain marked bad.)
func TestAttackOtherPortOfBackersHost(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	// A slow honest backer: it answers one request at a time, each 1 ms
	// after the one before, so that the sync lasts.
	src := local(10000)
	var busy time.Duration // when it is done with the requests it has
	actor(t, sim, src, func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			sendAs(t, sim, src, from, protocol.StatsReply{Height: len(honest), Hash: honest[len(honest)-1].Hash})
		case protocol.GetBlock:
			if m.Height >= 0 && m.Height < len(honest) {
				busy = max(busy, sim.Elapsed()) + time.Millisecond
				sim.At(busy, func() { sendAs(t, sim, src, from, protocol.GetBlockReply{Block: honest[m.Height]}) })
			}
		}
	})
	forged := make([][]byte, len(honest))
	for h := range honest {
		forged[h] = []byte(encode(t, protocol.GetBlockReply{Block: tamper(honest, h)[h]}))
	}
	node := addNode(t, sim, "node", []netip.AddrPort{src}, nil)
	fresh, i := freshPorts(40000), 0
	every(sim, time.Millisecond, func() { // the liar sprays every height, each from a fresh port
		for range 10 {
			sim.SendAs(fresh(), node.Addr(), forged[i%len(forged)])
			i++
		}
	})
	reaches(t, sim, node, honest, 8*time.Second, "the node to adopt the honest backer's chain")
	t.Logf("%d forged replies sent", i)
	noOffenceAgainst(t, node, src, "the honest backer")
	notMarkedBad(t, node, honest[len(honest)-1].Hash)
}

// TestAttackStatsReplyFromOtherPortIsNotTheBackers: for 3 s of consensus
// rounds every 300 ms, STATS_REPLYs claiming a tall chain nobody holds
// arrive every 5 ms from another port of the node's one peer's host,
// ahead of the peer's own answer (30 ms after each STATS). They are not
// the peer's: it is not found lacking, blamed or banned. (Issue 11, 1:
// three CONSENSUS and a fake STATS_REPLY from another port got the honest
// peer banned.)
func TestAttackStatsReplyFromOtherPortIsNotTheBackers(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	// An honest peer holding our chain that takes 30 ms to answer STATS.
	src := local(10000)
	actor(t, sim, src, func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			sim.After(30*time.Millisecond, func() {
				sendAs(t, sim, src, from, protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash})
			})
		case protocol.GetBlock:
			if m.Height >= 0 && m.Height < len(blocks) {
				sendAs(t, sim, src, from, protocol.GetBlockReply{Block: blocks[m.Height]})
			} else {
				sim.SendAs(src, from, []byte(noBlockReply))
			}
		}
	})
	node := addNode(t, sim, "node", []netip.AddrPort{src}, blocks, func(c *peer.Config) {
		c.Timings.ConsensusInterval = 300 * time.Millisecond
	})
	fake := []byte(`{"type":"STATS_REPLY","height":1000,"hash":"` + zeroHash(1) + `"}`)
	other := local(10001)
	every(sim, 5*time.Millisecond, func() { sim.SendAs(other, node.Addr(), fake) })
	sim.RunFor(3 * time.Second)
	if n := node.Status().Counters.ConsensusRounds; n < 5 {
		t.Fatalf("only %d consensus rounds in 3 s: the scenario does not test what it says", n)
	}
	noOffenceAgainst(t, node, src, "the honest peer")
	holdsChain(t, node, blocks)
}

// TestAttackEphemeralPortPeerStillSynced: a course peer answers STATS from
// its listening socket but every other request from a fresh ephemeral
// port. Its blocks prove themselves: the node must still sync from it.
func TestAttackEphemeralPortPeerStillSynced(t *testing.T) {
	blocks := chain.Extend(nil, 60, testDifficulty, "course", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src, fresh := local(10000), freshPorts(40000)
	actor(t, sim, src, func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			sendAs(t, sim, src, from, protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash})
		case protocol.GetBlock:
			var b *chain.Block
			if m.Height >= 0 && m.Height < len(blocks) {
				b = blocks[m.Height]
			}
			sendAs(t, sim, fresh(), from, protocol.GetBlockReply{Height: m.Height, Block: b})
		}
	})
	node := addNode(t, sim, "node", []netip.AddrPort{src}, nil)
	reaches(t, sim, node, blocks, 10*time.Second, "a sync from the peer that answers from fresh ports")
	noOffenceAgainst(t, node, src, "the course peer")
}

// --- B: an ANNOUNCE is checked first, and far above our tip it is only a hint.

// TestAttackAnnounceFarAboveIsOnlyAHint: an ANNOUNCE claiming the honest
// tip (its height and hash, no block behind it) from a stranger that then
// answers every GET_BLOCK with nulls must not have the honest chain marked
// bad: when the honest peer turns up, 1 s later, the node follows it
// within 3 s. (Issue 11, 2: the node stayed at height 0 for a minute.)
func TestAttackAnnounceFarAboveIsOnlyAHint(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	top := honest[len(honest)-1]
	sim := attackSim(t, peer.TestTimings())
	announcer := local(10000)
	actor(t, sim, announcer, func(from netip.AddrPort, m protocol.Message) {
		switch m.(type) {
		case protocol.Stats:
			sendAs(t, sim, announcer, from, protocol.StatsReply{Height: len(honest), Hash: top.Hash})
		case protocol.GetBlock:
			sim.SendAs(announcer, from, []byte(noBlockReply))
		}
	})
	node := addNode(t, sim, "node", nil, nil)
	fake := &chain.Block{Height: top.Height, MinedBy: "liar", Messages: []string{"x"}, Nonce: "0", Timestamp: top.Timestamp, Hash: top.Hash}
	for range 3 {
		sendAs(t, sim, announcer, node.Addr(), protocol.Announce{Block: fake})
	}
	sim.RunFor(time.Second) // what the ANNOUNCE sets off runs its course
	src := addNode(t, sim, "src", []netip.AddrPort{node.Addr()}, honest)
	took := reaches(t, sim, node, honest, 3*time.Second, "the node to follow the honest peer")
	notMarkedBad(t, node, top.Hash)
	noOffenceAgainst(t, node, src.Addr(), "the honest peer")
	t.Logf("honest tip reached %v after the honest peer started", took)
}

// TestAttackFakeAnnounceFlood: ANNOUNCEs every 20 ms from fresh ports,
// each of a random height with a hash ending in zeros, none answered; the
// flood is on 200 ms before the node starts (those ANNOUNCEs wait for it,
// as in a socket's queue). The node must still reach the honest seed's
// chain within 3 s. (Issue 11, 2: one every 0.5 s kept a node at height 0
// for 90 s.)
func TestAttackFakeAnnounceFlood(t *testing.T) {
	honest := chain.Extend(nil, 100, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, honest)
	type datagram struct {
		from netip.AddrPort
		data []byte
	}
	var node *peer.SimNode
	var queued []datagram // before the node starts
	fresh, i := freshPorts(40000), 0
	every(sim, 20*time.Millisecond, func() {
		b := &chain.Block{Height: 200 + (i*7919)%100_000, MinedBy: "fake", Messages: []string{"x"}, Nonce: "0",
			Timestamp: 1_700_000_000, Hash: zeroHash(i)}
		i++
		d := datagram{fresh(), []byte(encode(t, protocol.Announce{Block: b}))}
		if node == nil {
			queued = append(queued, d)
			return
		}
		sim.SendAs(d.from, node.Addr(), d.data)
	})
	sim.RunFor(200 * time.Millisecond)
	node = addNode(t, sim, "node", []netip.AddrPort{src.Addr()}, nil)
	for _, d := range queued {
		sim.SendAs(d.from, node.Addr(), d.data)
	}
	took := reaches(t, sim, node, honest, 3*time.Second, "the node to reach the honest chain under the flood")
	t.Logf("honest tip reached in %v under the flood (%d ANNOUNCEs, %d before the node started)", took, i, len(queued))
}

// TestAttackSlowAnnouncerDoesNotOwnTheSync: a valid ANNOUNCE of the tip of
// a 300-block chain from a peer that serves it at 20 blocks a second; a
// fast honest peer holding the same chain turns up 500 ms later. A
// running sync never puts off a due consensus round (every 2 s here): the
// node has the chain within 5 s, not the 15 s the slow announcer would
// take. (Issue 11, 2: an ETA of 13 minutes, with no consensus meanwhile.)
func TestAttackSlowAnnouncerDoesNotOwnTheSync(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	slow, last := local(10000), -time.Hour
	actor(t, sim, slow, func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			sendAs(t, sim, slow, from, protocol.StatsReply{Height: len(honest), Hash: honest[len(honest)-1].Hash})
		case protocol.GetBlock:
			if sim.Elapsed()-last < 50*time.Millisecond || m.Height < 0 || m.Height >= len(honest) {
				return // 20 a second at most
			}
			last = sim.Elapsed()
			sendAs(t, sim, slow, from, protocol.GetBlockReply{Block: honest[m.Height]})
		}
	})
	node := addNode(t, sim, "node", nil, nil, func(c *peer.Config) { c.Timings.ConsensusInterval = 2 * time.Second })
	sendAs(t, sim, slow, node.Addr(), protocol.Announce{Block: honest[len(honest)-1]})
	sim.RunFor(500 * time.Millisecond)
	addNode(t, sim, "src", []netip.AddrPort{node.Addr()}, honest)
	took := reaches(t, sim, node, honest, 5*time.Second, "the node to take the chain from the fast honest peer")
	t.Logf("chain held %v after the fast peer started", took)
}

// --- C: the fork-point search does not trust one answer.

// TestAttackWrongForkPoint: the node holds chain A (300 blocks); an
// honest peer serves B (301, forking at 100). Liars that claim B, asked
// first (their ports are lower), answer every probe with the node's own
// block of A at that height. The honest peer must not be blamed nor B
// refused: the node ends on B. (Issue 11, 3: two datagrams got the
// honest peer banned.)
func TestAttackWrongForkPoint(t *testing.T) {
	a := chain.Extend(nil, 300, testDifficulty, "shared", 1_700_000_000)
	b := chain.Extend(a[:100], 201, testDifficulty, "fork-b", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, b)
	liars := []netip.AddrPort{local(10000), local(10001)}
	for _, l := range liars {
		actor(t, sim, l, func(from netip.AddrPort, m protocol.Message) {
			switch m := m.(type) {
			case protocol.Stats:
				sendAs(t, sim, l, from, protocol.StatsReply{Height: len(b), Hash: b[len(b)-1].Hash})
			case protocol.GetBlock:
				if m.Height >= 0 && m.Height < len(a) {
					sendAs(t, sim, l, from, protocol.GetBlockReply{Height: m.Height, Block: a[m.Height]})
				}
			}
		})
	}
	node := addNode(t, sim, "node", append(liars, src.Addr()), a)
	reaches(t, sim, node, b, 8*time.Second, "the node to move to the honest taller fork")
	noOffenceAgainst(t, node, src.Addr(), "the honest peer")
	notMarkedBad(t, node, b[len(b)-1].Hash)
}

// --- D: no livelock.

// TestAttackStrangerGenesisThenSilent: a peer claiming the honest chain,
// asked first, answers GET_BLOCK 0 with a valid genesis of its own, then
// nothing. The sync must not stall: the node reaches the honest chain
// within 5 s, sends the honest backer a bounded number of GET_BLOCKs, and
// never holds (checked every 10 ms) or serves (asked every 100 ms) the
// stranger's genesis. (Issue 11, 4: 570,804 GET_BLOCKs in 60 s, stuck at
// 1 of 3000, the stranger's genesis served as our chain.)
func TestAttackStrangerGenesisThenSilent(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	genesis := chain.Extend(nil, 1, testDifficulty, "stranger", 1_700_000_000)[0]
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, honest)
	stranger := local(10000)
	actor(t, sim, stranger, func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			sendAs(t, sim, stranger, from, protocol.StatsReply{Height: len(honest), Hash: honest[len(honest)-1].Hash})
		case protocol.GetBlock:
			if m.Height == 0 {
				sendAs(t, sim, stranger, from, protocol.GetBlockReply{Height: 0, Block: genesis})
			}
		}
	})
	node := addNode(t, sim, "node", []netip.AddrPort{stranger, src.Addr()}, nil)
	asker, held, served := local(30000), false, false
	actor(t, sim, asker, func(_ netip.AddrPort, m protocol.Message) {
		if r, ok := m.(protocol.GetBlockReply); ok && r.Block != nil && r.Block.Hash == genesis.Hash {
			served = true
		}
	})
	every(sim, 100*time.Millisecond, func() { sendAs(t, sim, asker, node.Addr(), protocol.GetBlock{Height: 0}) })
	done := sim.RunUntil(5*time.Second, 10*time.Millisecond, func() bool {
		held = held || node.Tip() == genesis.Hash
		return held || served || node.Tip() == honest[len(honest)-1].Hash
	})
	switch {
	case held:
		t.Fatal("the node holds the stranger's genesis as its chain")
	case served:
		t.Fatal("the node serves the stranger's genesis")
	case !done:
		st := node.Status()
		t.Fatalf("not on the honest chain after 5s: height %d, sync %s, the honest backer served %d GET_BLOCKs",
			st.Height, jsonString(st.Sync), src.Status().Counters.GetBlocksServed)
	}
	holdsChain(t, node, honest)
	if n := src.Status().Counters.GetBlocksServed; n > 2000 {
		t.Fatalf("the honest backer was sent %d GET_BLOCKs for a chain of %d blocks", n, len(honest))
	}
	noOffenceAgainst(t, node, src.Addr(), "the honest backer")
}

// --- E: cheap claims cost a round trip, not seconds.

// TestAttackSilentHugeClaims: ten peers each claim a chain of its own, a
// million blocks tall (hashes ending in zeros), and never serve a block.
// The node must reach the honest seed's chain within 4 s, not one request
// timeout series per fake. (Issue 11, 5: 62.7 s against 1 s; at the test
// timings, 12.4 s before the fix.)
func TestAttackSilentHugeClaims(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	src := addNode(t, sim, "src", nil, honest)
	var seeds []netip.AddrPort
	for i := range 10 {
		f := local(uint16(30000 + i))
		actor(t, sim, f, func(from netip.AddrPort, m protocol.Message) {
			if _, ok := m.(protocol.Stats); ok {
				sendAs(t, sim, f, from, protocol.StatsReply{Height: 1_000_000 + i, Hash: zeroHash(1000 + i)})
			}
		})
		seeds = append(seeds, f)
	}
	node := addNode(t, sim, "node", append(seeds, src.Addr()), nil)
	took := reaches(t, sim, node, honest, 4*time.Second, "the node to reach the honest chain past ten silent claims")
	t.Logf("honest tip reached in %v past ten silent fakes", took)
}

// TestAttackFullTableAdmitsNewcomer: GOSSIPs (fresh ids, from one port)
// name as many addresses as the peer table holds, none of which ever
// answers. An honest newcomer with a taller chain must still be added
// within 3 s, and followed within 3 s more. (Issue 11, 5: "peer table
// full: not added".)
func TestAttackFullTableAdmitsNewcomer(t *testing.T) {
	const table = 100
	blocks := chain.Extend(nil, 10, testDifficulty, "chain", 1_700_000_000)
	taller := chain.Extend(blocks, 20, testDifficulty, "chain", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	node := addNode(t, sim, "node", nil, blocks, func(c *peer.Config) { c.Limits.MaxPeers = table })
	attacker := local(30000)
	for i := range table {
		ghost := local(uint16(40000 + i))
		actor(t, sim, ghost, func(netip.AddrPort, protocol.Message) {}) // silent
		sendAs(t, sim, attacker, node.Addr(), protocol.Gossip{Host: "127.0.0.1", Port: int(ghost.Port()), ID: fmt.Sprintf("fill-%d", i), Name: "ghost"})
	}
	sim.RunFor(50 * time.Millisecond)
	// (Whether members not yet heard from at their own address are listed
	// is the node's business: this is for the log only.)
	t.Logf("the status lists %d peers after %d GOSSIPs naming silent addresses", len(node.Status().Peers), table)
	newcomer := addNode(t, sim, "newcomer", []netip.AddrPort{node.Addr()}, taller)
	added := func() bool {
		return slices.ContainsFunc(node.Status().Peers, func(p peer.PeerStatus) bool { return p.Addr == newcomer.Addr().String() })
	}
	if !sim.RunUntil(3*time.Second, 10*time.Millisecond, added) {
		t.Fatalf("the newcomer was not added within 3 s: the node lists %d peers", len(node.Status().Peers))
	}
	reaches(t, sim, node, taller, 3*time.Second, "the node to follow the newcomer's taller chain")
}

// --- F: no amplification toward third parties.

// TestAttackGossipNamingVictimsIsNotAmplified: 10 GOSSIPs with fresh ids,
// each naming a victim's port, sent to one node of five once they all
// know each other. In the 3 s that follow (greetings, a re-greeting ~2 s
// later, and whatever else they bring), the victims, which never send a
// datagram, must receive at most 3x the bytes of the GOSSIPs naming them
// that the nodes received (the original and every copy forwarded).
// (Issue 11, 6: 17x what the attacker sent.)
func TestAttackGossipNamingVictimsIsNotAmplified(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	sim := attackSim(t, peer.TestTimings())
	var victims []netip.AddrPort
	got, types := 0, map[string]int{}
	for i := range 10 {
		v := local(uint16(40000 + i))
		sim.AddActor(v, func(_ netip.AddrPort, data []byte) {
			got += len(data)
			typ := "?"
			if m, err := protocol.Parse(data); err == nil {
				typ = m.Type()
			}
			types[typ]++
		})
		victims = append(victims, v)
	}
	var nodes []*peer.SimNode
	for i := range 5 {
		var seeds []netip.AddrPort
		if i > 0 {
			seeds = []netip.AddrPort{nodes[0].Addr()}
		}
		nodes = append(nodes, addNode(t, sim, fmt.Sprintf("n%d", i), seeds, blocks))
	}
	// What names a victim is every GOSSIP delivered to a node that names
	// it: what the attacker sent and every copy the nodes forwarded.
	isNode := func(a netip.AddrPort) bool {
		return slices.ContainsFunc(nodes, func(n *peer.SimNode) bool { return n.Addr() == a })
	}
	named := 0
	sim.Watch(func(_, to netip.AddrPort, data []byte) {
		if m, err := protocol.Parse(data); err == nil && isNode(to) {
			if g, ok := m.(protocol.Gossip); ok && slices.Contains(victims, local(uint16(g.Port))) && g.Host == "127.0.0.1" {
				named += len(data)
			}
		}
	})
	know := func() bool {
		return !slices.ContainsFunc(nodes, func(n *peer.SimNode) bool { return len(n.Status().Peers) < 4 })
	}
	if !sim.RunUntil(5*time.Second, 10*time.Millisecond, know) {
		t.Fatal("the five nodes do not all know the four others after 5 s")
	}
	attacker, sent := local(30000), 0
	for i, v := range victims {
		g := fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"victim-%d","name":"victim"}`, v.Port(), i)
		sim.SendAs(attacker, nodes[0].Addr(), []byte(g))
		sent += len(g)
	}
	sim.RunFor(3 * time.Second)
	t.Logf("attacker sent %d bytes; nodes received %d bytes naming the victims; victims received %d bytes (%.1fx what the attacker sent): %v",
		sent, named, got, float64(got)/float64(sent), types)
	if got > 3*named {
		t.Fatalf("the victims received %d bytes, over 3x the %d bytes naming them (%.1fx): %v", got, named, float64(got)/float64(named), types)
	}
}

// --- G: the late binder (issue 12, item 8).

// TestAttackLateBinderLearnsUs: a peer sends its join GOSSIP from one
// socket, naming a port it binds (an actor added there) a second later.
// The node's answers to that first contact are lost; it must greet the
// peer again about 2 s after first contact, so that the peer learns it
// within 4 s, not at the next gossip round (30 s on the course network,
// and here).
func TestAttackLateBinderLearnsUs(t *testing.T) {
	sim := attackSim(t, peer.TestTimings())
	node := addNode(t, sim, "node", nil, nil, func(c *peer.Config) {
		c.Timings.GossipInterval = 30 * time.Second
		c.Timings.PeerTimeout = time.Minute
		c.Timings.ConsensusInterval = time.Hour
	})
	sender, late := local(30000), local(30001)
	actor(t, sim, sender, func(netip.AddrPort, protocol.Message) {})
	// A GOSSIP of the usual size (a UUID id): the greetings it is worth
	// must fit in 3x its bytes.
	sendAs(t, sim, sender, node.Addr(), protocol.Gossip{Host: "127.0.0.1", Port: int(late.Port()), ID: "6f1c1b8e-7a43-4f0e-9a51-2d8f3c0b9e47", Name: "late-binder"})
	first := sim.Elapsed()
	sim.RunFor(time.Second)
	heard := ""
	actor(t, sim, late, func(from netip.AddrPort, m protocol.Message) {
		if heard == "" && from == node.Addr() && (m.Type() == protocol.TypeGossip || m.Type() == protocol.TypeGossipReply) {
			heard = fmt.Sprintf("%s %v after its join GOSSIP", m.Type(), sim.Elapsed()-first)
		}
	})
	if !sim.RunUntil(first+4*time.Second-sim.Elapsed(), 10*time.Millisecond, func() bool { return heard != "" }) {
		t.Fatal("the late binder heard no GOSSIP or GOSSIP_REPLY from the node within 4 s of its join GOSSIP")
	}
	t.Logf("the late binder learnt the node (%s): %s", node.Addr(), heard)
}
