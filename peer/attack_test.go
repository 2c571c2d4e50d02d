package peer_test

// The attacks of issue 11 over real UDP on 127.0.0.1, one or more per
// class of hole: blame on the wrong address (A), ANNOUNCE steering us
// before it is checked (B), a fork-point search that trusts one answer
// (C), a sync that livelocks (D), cheap claims that cost us seconds (E),
// amplification toward third parties (F), and the peer that binds after
// it gossips (G, issue 12 item 8). Each is scaled down from the figures of
// the issue to run in a few seconds at the test timings.

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// seam is a node's UDP transport with a way in for datagrams that did not
// come over the socket: forge hands the node a datagram "from" any
// address, as an off-path attacker forging the source would. watch, when
// set before the node starts, sees every datagram the node receives.
type seam struct {
	*peer.UDP
	in    chan peer.Packet
	watch func(p peer.Packet)
}

func newSeam(t *testing.T, watch func(p peer.Packet)) *seam {
	t.Helper()
	u, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &seam{UDP: u, in: make(chan peer.Packet, 4096), watch: watch}
	go func() {
		defer close(s.in)
		for p := range u.Packets() {
			if s.watch != nil {
				s.watch(p)
			}
			s.in <- p
		}
	}()
	return s
}

func (s *seam) Packets() <-chan peer.Packet { return s.in }

// Priority hides the socket's priority lane: every datagram goes through
// the seam, where the test sees it.
func (s *seam) Priority() <-chan peer.Packet { return nil }

// forge hands the node data as if it came from from.
func (s *seam) forge(t *testing.T, from netip.AddrPort, m protocol.Message) {
	t.Helper()
	data, err := protocol.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s.in <- peer.Packet{From: from, Data: data}
}

// noOffenceAgainst fails t when node holds an offence against addr.
func noOffenceAgainst(t *testing.T, node *testNode, addr netip.AddrPort, who string) {
	t.Helper()
	if o, ok := offender(t, node, addr); ok {
		t.Fatalf("%s (%s) has an offence: score %.2f, banned until %v", who, addr, o.Score, o.BannedUntil)
	}
}

// notMarkedBad fails t when node's last round shows the chain ending in
// hash as bad.
func notMarkedBad(t *testing.T, node *testNode, hash string) {
	t.Helper()
	for _, g := range node.status(t).Consensus {
		if g.Hash == hash && g.Bad {
			t.Fatalf("the honest chain %.12s was marked bad", hash)
		}
	}
}

// reaches waits up to within for node to hold the chain ending in want's
// top block, and checks that chain.
func reaches(t *testing.T, node *testNode, want []*chain.Block, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	top := want[len(want)-1].Hash
	for node.status(t).Tip != top {
		if time.Since(start) > within {
			st := node.status(t)
			t.Fatalf("timed out after %v waiting for %s: height %d (want %d), sync %s, last round %s, offenders %s",
				within, what, st.Height, len(want), jsonString(st.Sync), jsonString(st.Consensus), jsonString(st.Offenders))
		}
		time.Sleep(10 * time.Millisecond)
	}
	holdsValid(t, node, want)
	return time.Since(start)
}

// zeroHash returns a made-up hash ending in the test difficulty's zeros.
func zeroHash(i int) string {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint("fake ", i))))
	return h[:64-testDifficulty] + strings.Repeat("0", testDifficulty)
}

// sendFromFreshPort sends data to to from a new socket, closed at once:
// a sender that never answers (errors are ignored: callers may run on
// goroutines of their own).
func sendFromFreshPort(to netip.AddrPort, data []byte) {
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Write(data)
}

// rawBelow returns a raw socket whose port is below addr's (retrying a
// bounded number of times): the node goes through backers in address
// order, so it asks such a socket first.
func rawBelow(t *testing.T, addr netip.AddrPort) *raw {
	t.Helper()
	for range 200 {
		r := newRaw(t)
		if r.addr.Port() < addr.Port() && len(fmt.Sprint(r.addr.Port())) == len(fmt.Sprint(addr.Port())) {
			return r
		}
		r.conn.Close()
	}
	t.Fatalf("no free port below %s", addr)
	return nil
}

// startNodeAbove starts a node holding blocks on a port above floor's and
// of as many digits (retrying a bounded number of times).
func startNodeAbove(t *testing.T, name string, blocks []*chain.Block, floor netip.AddrPort, opts ...nodeOpt) *testNode {
	t.Helper()
	for range 200 {
		tr, err := peer.ListenUDP("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if p := tr.LocalAddr().Port(); p > floor.Port() && len(fmt.Sprint(p)) == len(fmt.Sprint(floor.Port())) {
			return runNode(t, name, tr, blocks, nil, opts...)
		}
		tr.Close()
	}
	t.Fatalf("no free port above %s", floor)
	return nil
}

// --- A: blame only the exact source, only for wrong answers to our requests.

// TestAttackForgedAnnounceBansNobody: ANNOUNCEs with a bad hash, forged
// to come "from" the honest seed, must not get the seed blamed or banned:
// the node still syncs from it. (Issue 11, 1: one such datagram banned
// the seed for 5 minutes.)
func TestAttackForgedAnnounceBansNobody(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	src := startNode(t, "src", blocks, nil)
	s := newSeam(t, nil)
	bad := blocks[0].Clone()
	bad.Hash = strings.Repeat("ab", 32) // misses the difficulty
	for range 3 {
		s.forge(t, src.addr, protocol.Announce{Block: bad})
	}
	node := runNode(t, "node", s, nil, []netip.AddrPort{src.addr})
	reaches(t, node, blocks, 5*time.Second, "the node to sync from the seed")
	noOffenceAgainst(t, node, src.addr, "the honest seed")
}

// TestAttackGossipNamingSeedBlamesNobody: GOSSIPs (one repeated id, from
// the attacker's own port) that name the honest seed, beyond the node's
// reply rate toward it. The replies over the rate are not the seed's
// offence, nor the attacker's, and the node still syncs from the seed.
// (Issue 11, 1: 25-30k of them got the seed banned.)
func TestAttackGossipNamingSeedBlamesNobody(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	src := startNode(t, "src", blocks, nil)
	node := startNode(t, "node", nil, []netip.AddrPort{src.addr}, withReplyRate(10, 10))
	r, probe := newRaw(t), newRaw(t)
	g := fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"same","name":"seed"}`, src.addr.Port())
	flood(t, r, probe, node, 1200, func(int) []byte { return []byte(g) })
	reaches(t, node, blocks, 5*time.Second, "the node to sync from the seed")
	noOffenceAgainst(t, node, src.addr, "the honest seed named in the GOSSIPs")
	noOffenceAgainst(t, node, r.addr, "the GOSSIP sender (over the reply rate of another address)")
}

// TestAttackOtherPortOfBackersHost: while the node syncs from an honest
// backer, invalid GET_BLOCK_REPLYs for every height arrive from other
// ports of the backer's host, each from a fresh one. They are not the backer's: it is not blamed,
// its chain is not marked bad, and the node adopts it. (Issue 11, 1: 192
// such replies got the backer banned and its chain marked bad.)
func TestAttackOtherPortOfBackersHost(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	// A slow honest backer (about 1 ms a block), so that the sync lasts.
	src := startBad(t, func(_ *badPeer, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			return []string{`{"type":"STATS_REPLY",` + statsOf(honest) + `}`}
		case protocol.GetBlock:
			time.Sleep(time.Millisecond)
			if m.Height >= 0 && m.Height < len(honest) {
				return []string{encode(t, protocol.GetBlockReply{Block: honest[m.Height]})}
			}
		}
		return nil
	})
	forged := make([][]byte, len(honest))
	for h := range honest {
		forged[h] = []byte(encode(t, protocol.GetBlockReply{Block: tamper(honest, h)[h]}))
	}
	node := startNode(t, "node", nil, []netip.AddrPort{src.addr})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the liar sprays every height, each from a fresh port, until the end
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sendFromFreshPort(node.addr, forged[i%len(forged)])
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	reaches(t, node, honest, 8*time.Second, "the node to adopt the honest backer's chain")
	noOffenceAgainst(t, node, src.addr, "the honest backer")
	notMarkedBad(t, node, honest[len(honest)-1].Hash)
}

// TestAttackStatsReplyFromOtherPortIsNotTheBackers: while the node runs
// its consensus rounds, STATS_REPLYs claiming a tall chain nobody holds
// arrive from another port of its one peer's host, ahead of the peer's
// own (slower) answer. They are not the peer's: it is not found lacking,
// blamed or banned. (Issue 11, 1: three CONSENSUS and a fake STATS_REPLY
// from another port got the honest peer banned.)
func TestAttackStatsReplyFromOtherPortIsNotTheBackers(t *testing.T) {
	blocks := chain.Extend(nil, 40, testDifficulty, "honest", 1_700_000_000)
	nulls := `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
	// An honest peer holding our chain that takes 30 ms to answer STATS.
	src := startBad(t, func(_ *badPeer, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			time.Sleep(30 * time.Millisecond)
			return []string{`{"type":"STATS_REPLY",` + statsOf(blocks) + `}`}
		case protocol.GetBlock:
			if m.Height >= 0 && m.Height < len(blocks) {
				return []string{encode(t, protocol.GetBlockReply{Block: blocks[m.Height]})}
			}
			return []string{nulls}
		}
		return nil
	})
	node := startNode(t, "node", blocks, []netip.AddrPort{src.addr}, func(c *peer.Config) {
		c.Timings.ConsensusInterval = 300 * time.Millisecond
	})
	fake := []byte(`{"type":"STATS_REPLY","height":1000,"hash":"` + zeroHash(1) + `"}`)
	other := newRaw(t)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		other.sendRaw(node.addr, fake)
		time.Sleep(5 * time.Millisecond)
	}
	noOffenceAgainst(t, node, src.addr, "the honest peer")
	holdsValid(t, node, blocks)
}

// TestAttackEphemeralPortPeerStillSynced: a course peer answers STATS from
// its listening socket but every other request from a fresh ephemeral
// port. Its blocks prove themselves: the node must still sync from it.
func TestAttackEphemeralPortPeerStillSynced(t *testing.T) {
	blocks := chain.Extend(nil, 60, testDifficulty, "course", 1_700_000_000)
	src := newRaw(t)
	src.serve(func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			src.send(from, protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash})
		case protocol.GetBlock:
			var b *chain.Block
			if m.Height >= 0 && m.Height < len(blocks) {
				b = blocks[m.Height]
			}
			data, _ := protocol.Encode(protocol.GetBlockReply{Height: m.Height, Block: b})
			sendFromFreshPort(from, data)
		}
	})
	node := startNode(t, "node", nil, []netip.AddrPort{src.addr})
	reaches(t, node, blocks, 10*time.Second, "a sync from the peer that answers from fresh ports")
	noOffenceAgainst(t, node, src.addr, "the course peer")
}

// --- B: an ANNOUNCE is checked first, and far above our tip it is only a hint.

// TestAttackAnnounceFarAboveIsOnlyAHint: an ANNOUNCE claiming the honest
// tip (its height and hash, no block behind it) from a stranger that then
// answers every GET_BLOCK with nulls must not have the honest chain marked
// bad: when the honest peer turns up, the node follows it at once.
// (Issue 11, 2: the node stayed at height 0 for a minute.)
func TestAttackAnnounceFarAboveIsOnlyAHint(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	top := honest[len(honest)-1]
	nulls := `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
	announcer := startBad(t, serving(statsOf(honest), func(int) []string { return []string{nulls} }))
	node := startNode(t, "node", nil, nil)
	fake := &chain.Block{Height: top.Height, MinedBy: "liar", Messages: []string{"x"}, Nonce: "0", Timestamp: top.Timestamp, Hash: top.Hash}
	for range 3 {
		announcer.send(node.addr, protocol.Announce{Block: fake})
	}
	time.Sleep(time.Second) // what the ANNOUNCE sets off runs its course
	src := startNode(t, "src", honest, []netip.AddrPort{node.addr})
	took := reaches(t, node, honest, 3*time.Second, "the node to follow the honest peer")
	notMarkedBad(t, node, top.Hash)
	noOffenceAgainst(t, node, src.addr, "the honest peer")
	t.Logf("honest tip reached %v after the honest peer started", took.Round(time.Millisecond))
}

// TestAttackFakeAnnounceFlood: ANNOUNCEs every 20 ms from fresh ports,
// each of a random height with a hash ending in zeros, none answered.
// The node must still reach the honest seed's chain within a few seconds.
// (Issue 11, 2: one every 0.5 s kept a node at height 0 for 90 s.)
func TestAttackFakeAnnounceFlood(t *testing.T) {
	honest := chain.Extend(nil, 100, testDifficulty, "honest", 1_700_000_000)
	src := startNode(t, "src", honest, nil)
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			b := &chain.Block{Height: 200 + (i*7919)%100_000, MinedBy: "fake", Messages: []string{"x"}, Nonce: "0",
				Timestamp: 1_700_000_000, Hash: zeroHash(i)}
			data, _ := protocol.Encode(protocol.Announce{Block: b})
			sendFromFreshPort(tr.LocalAddr(), data)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // the flood is on before the node starts
	node := runNode(t, "node", tr, nil, []netip.AddrPort{src.addr})
	took := reaches(t, node, honest, 3*time.Second, "the node to reach the honest chain under the flood")
	t.Logf("honest tip reached in %v under the flood", took.Round(time.Millisecond))
}

// TestAttackSlowAnnouncerDoesNotOwnTheSync: a valid ANNOUNCE of the tip of
// a 300-block chain from a peer that serves it at 20 blocks a second; a
// fast honest peer holding the same chain turns up. A running sync never
// puts off a due consensus round: the node has the chain within a few
// seconds, not the 15 s the slow announcer would take.
// (Issue 11, 2: an ETA of 13 minutes, with no consensus meanwhile.)
func TestAttackSlowAnnouncerDoesNotOwnTheSync(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	var last atomic.Int64
	slow := startBad(t, func(_ *badPeer, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			return []string{`{"type":"STATS_REPLY",` + statsOf(honest) + `}`}
		case protocol.GetBlock:
			now := time.Now().UnixNano()
			if now-last.Load() < int64(50*time.Millisecond) || m.Height < 0 || m.Height >= len(honest) {
				return nil // 20 a second at most
			}
			last.Store(now)
			return []string{encode(t, protocol.GetBlockReply{Block: honest[m.Height]})}
		}
		return nil
	})
	node := startNode(t, "node", nil, nil, func(c *peer.Config) { c.Timings.ConsensusInterval = 2 * time.Second })
	slow.send(node.addr, protocol.Announce{Block: honest[len(honest)-1]})
	time.Sleep(500 * time.Millisecond)
	startNode(t, "src", honest, []netip.AddrPort{node.addr})
	took := reaches(t, node, honest, 5*time.Second, "the node to take the chain from the fast honest peer")
	t.Logf("chain held %v after the fast peer started", took.Round(time.Millisecond))
}

// --- C: the fork-point search does not trust one answer.

// TestAttackWrongForkPoint: the node holds chain A (300 blocks); an
// honest peer serves B (301, forking at 100). Liars that claim B, asked
// first, answer every probe with the node's own block of A at that
// height. The honest peer must not be blamed nor B refused: the node ends
// on B. (Issue 11, 3: two datagrams got the honest peer banned.)
func TestAttackWrongForkPoint(t *testing.T) {
	a := chain.Extend(nil, 300, testDifficulty, "shared", 1_700_000_000)
	b := chain.Extend(a[:100], 201, testDifficulty, "fork-b", 1_700_000_000)
	var liars []*raw
	src := startNodeAbove(t, "src", b, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 40000))
	for range 2 {
		l := rawBelow(t, src.addr)
		l.serve(func(from netip.AddrPort, m protocol.Message) {
			switch m := m.(type) {
			case protocol.Stats:
				l.send(from, protocol.StatsReply{Height: len(b), Hash: b[len(b)-1].Hash})
			case protocol.GetBlock:
				if m.Height >= 0 && m.Height < len(a) {
					l.send(from, protocol.GetBlockReply{Height: m.Height, Block: a[m.Height]})
				}
			}
		})
		liars = append(liars, l)
	}
	node := startNode(t, "node", a, []netip.AddrPort{liars[0].addr, liars[1].addr, src.addr})
	reaches(t, node, b, 8*time.Second, "the node to move to the honest taller fork")
	noOffenceAgainst(t, node, src.addr, "the honest peer")
	notMarkedBad(t, node, b[len(b)-1].Hash)
}

// --- D: no livelock.

// TestAttackStrangerGenesisThenSilent: a peer claiming the honest chain
// answers GET_BLOCK 0 with a valid genesis of its own, then nothing. The
// sync must not stall: the node reaches the honest chain, sends the honest
// backer a bounded number of GET_BLOCKs, and never holds or serves the
// stranger's genesis. (Issue 11, 4: 570,804 GET_BLOCKs in 60 s, stuck at
// 1 of 3000, the stranger's genesis served as our chain.)
func TestAttackStrangerGenesisThenSilent(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	genesis := chain.Extend(nil, 1, testDifficulty, "stranger", 1_700_000_000)[0]
	src := startNodeAbove(t, "src", honest, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 40000))
	stranger := rawBelow(t, src.addr)
	stranger.serve(func(from netip.AddrPort, m protocol.Message) {
		switch m := m.(type) {
		case protocol.Stats:
			stranger.send(from, protocol.StatsReply{Height: len(honest), Hash: honest[len(honest)-1].Hash})
		case protocol.GetBlock:
			if m.Height == 0 {
				stranger.send(from, protocol.GetBlockReply{Height: 0, Block: genesis})
			}
		}
	})
	node := startNode(t, "node", nil, []netip.AddrPort{stranger.addr, src.addr})
	asker := newRaw(t)
	deadline := time.Now().Add(5 * time.Second)
	for node.status(t).Tip != honest[len(honest)-1].Hash {
		if time.Now().After(deadline) {
			st := node.status(t)
			t.Fatalf("not on the honest chain after 5s: height %d, sync %+v, the honest backer served %d GET_BLOCKs",
				st.Height, st.Sync, src.status(t).Counters.GetBlocksServed)
		}
		if tip := node.status(t).Tip; tip == genesis.Hash {
			t.Fatal("the node holds the stranger's genesis as its chain")
		}
		asker.send(node.addr, protocol.GetBlock{Height: 0})
		if m := asker.recvType(protocol.TypeGetBlockReply, 100*time.Millisecond); m != nil {
			if r := m.(protocol.GetBlockReply); r.Block != nil && r.Block.Hash == genesis.Hash {
				t.Fatal("the node serves the stranger's genesis")
			}
		}
	}
	holdsValid(t, node, honest)
	if n := src.status(t).Counters.GetBlocksServed; n > 2000 {
		t.Fatalf("the honest backer was sent %d GET_BLOCKs for a chain of %d blocks", n, len(honest))
	}
	noOffenceAgainst(t, node, src.addr, "the honest backer")
}

// --- E: cheap claims cost a round trip, not seconds.

// TestAttackSilentHugeClaims: ten peers each claim a chain of its own, a
// million blocks tall (hashes ending in zeros), and never serve a block.
// The node must reach the honest seed's chain within a few seconds, not
// one request timeout series per fake. (Issue 11, 5: 62.7 s against 1 s;
// here, at the test timings, 12.4 s before the fix.)
func TestAttackSilentHugeClaims(t *testing.T) {
	honest := chain.Extend(nil, 300, testDifficulty, "honest", 1_700_000_000)
	src := startNode(t, "src", honest, nil)
	var seeds []netip.AddrPort
	for i := range 10 {
		f := newRaw(t)
		f.serve(func(from netip.AddrPort, m protocol.Message) {
			if _, ok := m.(protocol.Stats); ok {
				f.send(from, protocol.StatsReply{Height: 1_000_000 + i, Hash: zeroHash(1000 + i)})
			}
		})
		seeds = append(seeds, f.addr)
	}
	node := startNode(t, "node", nil, append(seeds, src.addr))
	took := reaches(t, node, honest, 4*time.Second, "the node to reach the honest chain past ten silent claims")
	t.Logf("honest tip reached in %v past ten silent fakes", took.Round(time.Millisecond))
}

// TestAttackFullTableAdmitsNewcomer: GOSSIPs (fresh ids, from one port)
// name as many addresses as the peer table holds, none of which ever
// answers. An honest newcomer with a taller chain must still be added,
// and followed. (Issue 11, 5: "peer table full: not added".)
func TestAttackFullTableAdmitsNewcomer(t *testing.T) {
	const table = 100
	blocks := chain.Extend(nil, 10, testDifficulty, "chain", 1_700_000_000)
	taller := chain.Extend(blocks, 20, testDifficulty, "chain", 1_700_000_000)
	node := startNode(t, "node", blocks, nil, func(c *peer.Config) { c.Limits.MaxPeers = table })
	r, probe := newRaw(t), newRaw(t)
	var silent []*raw
	for range table {
		silent = append(silent, newRaw(t))
	}
	flood(t, r, probe, node, table, func(i int) []byte {
		return []byte(fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"fill-%d","name":"ghost"}`, silent[i].addr.Port(), i))
	})
	// (Whether members not yet heard from at their own address are listed
	// is the node's business: this is for the log only.)
	t.Logf("the status lists %d peers after %d GOSSIPs naming silent addresses", len(node.status(t).Peers), table)
	newcomer := startNode(t, "newcomer", taller, []netip.AddrPort{node.addr})
	eventually(t, 3*time.Second, "the newcomer to be added", func() bool {
		return slices.ContainsFunc(node.status(t).Peers, func(p peer.PeerStatus) bool { return p.Addr == newcomer.addr.String() })
	})
	reaches(t, node, taller, 3*time.Second, "the node to follow the newcomer's taller chain")
}

// --- F: no amplification toward third parties.

// victims are silent sockets that count what they receive, by type.
type victims struct {
	socks []*raw
	mu    sync.Mutex
	bytes map[netip.AddrPort]int
	types map[string]int
}

func newVictims(t *testing.T, n int) *victims {
	v := &victims{bytes: map[netip.AddrPort]int{}, types: map[string]int{}}
	for range n {
		r := newRaw(t)
		addr := r.addr
		go func() {
			buf := make([]byte, 65536)
			for {
				k, _, err := r.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				typ := "?"
				if m, err := protocol.Parse(buf[:k]); err == nil {
					typ = m.Type()
				}
				v.mu.Lock()
				v.bytes[addr] += k
				v.types[typ]++
				v.mu.Unlock()
			}
		}()
		v.socks = append(v.socks, r)
	}
	return v
}

func (v *victims) total() (bytes int, types map[string]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, b := range v.bytes {
		bytes += b
	}
	return bytes, maps.Clone(v.types)
}

// namedBytes counts the bytes of the GOSSIPs nodes received that name
// one of a set of addresses: what each node may answer 3x of.
type namedBytes struct {
	mu    sync.Mutex
	addrs map[netip.AddrPort]bool
	n     int
}

func (nb *namedBytes) watch(p peer.Packet) {
	m, err := protocol.Parse(p.Data)
	if err != nil {
		return
	}
	g, ok := m.(protocol.Gossip)
	if !ok {
		return
	}
	addr, err := netip.ParseAddrPort(fmt.Sprintf("%s:%d", g.Host, g.Port))
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if err == nil && nb.addrs[addr] {
		nb.n += len(p.Data)
	}
}

func (nb *namedBytes) get() int {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.n
}

// TestAttackGossipNamingVictimsIsNotAmplified: 10 GOSSIPs with fresh ids,
// each naming a victim's port, sent to one node of five. The victims,
// which never send a datagram, must receive at most 3x the bytes of the
// GOSSIPs naming them that the nodes received (the original and every
// copy forwarded). (Issue 11, 6: 17x what the attacker sent.)
func TestAttackGossipNamingVictimsIsNotAmplified(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	v := newVictims(t, 10)
	nb := &namedBytes{addrs: map[netip.AddrPort]bool{}}
	for _, s := range v.socks {
		nb.addrs[s.addr] = true
	}
	var nodes []*testNode
	for i := range 5 {
		var seeds []netip.AddrPort
		if i > 0 {
			seeds = []netip.AddrPort{nodes[0].addr}
		}
		nodes = append(nodes, runNode(t, fmt.Sprintf("n%d", i), newSeam(t, nb.watch), blocks, seeds))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, n.Name()+" to know the four others", func() bool { return len(n.status(t).Peers) >= 4 })
	}
	r := newRaw(t)
	sent := 0
	for i, s := range v.socks {
		g := fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"victim-%d","name":"victim"}`, s.addr.Port(), i)
		r.sendRaw(nodes[0].addr, []byte(g))
		sent += len(g)
	}
	time.Sleep(3 * time.Second) // greetings, a re-greeting ~2 s later, and whatever else they bring
	got, types := v.total()
	named := nb.get()
	t.Logf("attacker sent %d bytes; nodes received %d bytes naming the victims; victims received %d bytes (%.1fx what the attacker sent): %v",
		sent, named, got, float64(got)/float64(sent), types)
	if got > 3*named {
		t.Fatalf("the victims received %d bytes, over 3x the %d bytes naming them (%.1fx): %v", got, named, float64(got)/float64(named), types)
	}
}

// --- G: the late binder (issue 12, item 8).

// TestAttackLateBinderLearnsUs: a peer sends its join GOSSIP from one
// socket, naming a port it binds a second later. The node's answers to
// that first contact are lost; it must greet the peer again about 2 s
// after first contact, so that the peer learns it within a few seconds,
// not at the next gossip round (30 s on the course network).
func TestAttackLateBinderLearnsUs(t *testing.T) {
	node := startNode(t, "node", nil, nil, func(c *peer.Config) {
		c.Timings.GossipInterval = 30 * time.Second
		c.Timings.PeerTimeout = time.Minute
		c.Timings.ConsensusInterval = time.Hour
	})
	// Reserve a port, free it, and name it in the join GOSSIP.
	hold := newRaw(t)
	port := hold.addr.Port()
	hold.conn.Close()
	sender := newRaw(t)
	// A GOSSIP of the usual size (a UUID id): the greetings it is worth
	// must fit in 3x its bytes.
	sender.send(node.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(port), ID: "6f1c1b8e-7a43-4f0e-9a51-2d8f3c0b9e47", Name: "late-binder"})
	first := time.Now()
	time.Sleep(time.Second)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		t.Fatalf("rebinding port %d: %v", port, err)
	}
	t.Cleanup(func() { conn.Close() })
	late := &raw{t: t, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	deadline := first.Add(4 * time.Second)
	for time.Now().Before(deadline) {
		m, from := late.recv(time.Until(deadline))
		if m == nil {
			continue
		}
		if from == node.addr && (m.Type() == protocol.TypeGossip || m.Type() == protocol.TypeGossipReply) {
			t.Logf("the late binder learnt the node (%s) %v after its join GOSSIP", m.Type(), time.Since(first).Round(time.Millisecond))
			return
		}
	}
	t.Fatal("the late binder heard no GOSSIP or GOSSIP_REPLY from the node within 4 s of its join GOSSIP")
}
