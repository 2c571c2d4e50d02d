package peer_test

// The adversarial catalogue (issue 6): every kind of bad peer the course
// network had, each played against real nodes on virtual time: an actor
// of the Sim when the node under test syncs beside an honest one, the
// Harness when it is alone. For each: the node adopts no invalid block,
// keeps answering STATS, and marks the liar (refused, scored, banned)
// with one warning line, not a flood; or, for what costs the sender
// nothing, holds it against nobody.

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// simLiar is a bad peer played by an actor of a Sim: answer says what it
// sends back (raw datagrams) to each message, given how many GET_BLOCKs
// it had before this one.
type simLiar struct {
	addr      netip.AddrPort
	getBlocks int
}

func addLiar(t *testing.T, sim *peer.Sim, answer func(getBlocks int, m protocol.Message) []string) *simLiar {
	t.Helper()
	l := &simLiar{addr: local(10001)}
	actor(t, sim, l.addr, func(from netip.AddrPort, m protocol.Message) {
		n := l.getBlocks
		if _, ok := m.(protocol.GetBlock); ok {
			l.getBlocks++
		}
		for _, d := range answer(n, m) {
			sim.SendAs(l.addr, from, []byte(d))
		}
	})
	return l
}

// answering answers STATS with stats and GET_BLOCK with block(h) (nil: no
// answer).
func answering(stats string, block func(h int) []string) func(int, protocol.Message) []string {
	return func(_ int, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			return []string{`{"type":"STATS_REPLY",` + stats + `}`}
		case protocol.GetBlock:
			return block(m.Height)
		}
		return nil
	}
}

// nodeLog keeps the log lines of one node of a Sim.
type nodeLog struct {
	name string
	logs *logBuf
}

func (l nodeLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"node":"`+l.name+`"`)) {
		return l.logs.Write(p)
	}
	return len(p), nil
}

// besideLiar is a Sim with an honest node, src, holding honest, and a
// fresh node that joins the liar and src, with the fresh node's log.
type besideLiar struct {
	sim        *peer.Sim
	src, fresh *peer.SimNode
	logs       *logBuf
}

// syncBesideLiar runs the fresh node until it holds the honest chain (for
// at most 20 s of virtual time), and checks that chain and its STATS.
func syncBesideLiar(t *testing.T, liar func(*peer.Sim) netip.AddrPort, honest []*chain.Block) besideLiar {
	t.Helper()
	logs := newLogs(t)
	sim := peer.NewSim(peer.SimConfig{Seed: 1, Timings: peer.TestTimings(), Difficulty: testDifficulty,
		MinDelay: 100 * time.Microsecond, MaxDelay: 300 * time.Microsecond,
		Log: zerolog.New(nodeLog{"fresh", logs}).Level(zerolog.DebugLevel)})
	bad := liar(sim)
	src := addNode(t, sim, "src", nil, honest)
	fresh := addNode(t, sim, "fresh", []netip.AddrPort{bad, src.Addr()}, nil)
	reaches(t, sim, fresh, honest, 20*time.Second, "the fresh node to hold the honest chain")
	simAnswersStats(t, sim, fresh, honest)
	return besideLiar{sim: sim, src: src, fresh: fresh, logs: logs}
}

// simAnswersStats checks that node answers a STATS with blocks' height and
// top hash.
func simAnswersStats(t *testing.T, sim *peer.Sim, node *peer.SimNode, blocks []*chain.Block) {
	t.Helper()
	probe := local(19999)
	var got protocol.Message
	actor(t, sim, probe, func(_ netip.AddrPort, m protocol.Message) {
		if m.Type() == protocol.TypeStatsReply {
			got = m
		}
	})
	defer sim.AddActor(probe, nil)
	sendAs(t, sim, probe, node.Addr(), protocol.Stats{})
	sim.RunFor(50 * time.Millisecond)
	want := protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash}
	if got != want {
		t.Fatalf("STATS_REPLY %+v, want %+v", got, want)
	}
}

// simOffender returns addr's entry in node's offenders.
func simOffender(node *peer.SimNode, addr netip.AddrPort) (peer.OffenderStatus, bool) {
	for _, o := range node.Offenders() {
		if o.Addr == addr.String() {
			return o, true
		}
	}
	return peer.OffenderStatus{}, false
}

// oneWarningAbout checks, a second of virtual time on, that the log has
// exactly one warning about liar and none about another peer.
func oneWarningAbout(t *testing.T, b besideLiar, liar netip.AddrPort) {
	t.Helper()
	b.sim.RunFor(time.Second)
	if n := b.logs.warningsAbout(t, liar); n != 1 {
		t.Fatalf("%d warnings about %s, want 1:\n%s", n, liar, b.logs)
	}
	for _, w := range b.logs.lines(t, "warn") {
		if p, ok := w["peer"]; ok && p != liar.String() {
			t.Fatalf("warning about another peer: %v", w)
		}
	}
}

// TestCatalogueStatsReplies: peers whose STATS_REPLY lies (a tall chain
// with a made-up hash that they cannot serve) or is one of the oddities
// of peers without a chain (spec section 2: tolerated, never followed).
// A fresh node joins through the bad peer and an honest one and must end
// on the honest chain. A made-up claim costs the liar nothing and us one
// short wait: its top block never comes, so it is never fetched, and
// nobody is warned about or scored (a claim is no offence).
func TestCatalogueStatsReplies(t *testing.T) {
	honest := chain.Extend(nil, 30, testDifficulty, "honest", 1_700_000_000)
	garbage := strings.Repeat("ab", 28) + "00000000"
	noBlocks := func(int) []string { return []string{noBlockReply} }
	silent := func(int) []string { return nil }
	honestBlocks := func(h int) []string {
		if h >= 0 && h < len(honest) {
			return []string{encode(t, protocol.GetBlockReply{Block: honest[h]})}
		}
		return []string{noBlockReply}
	}
	for _, c := range []struct {
		name  string
		stats string
		serve func(int) []string
		liar  bool // claims a tall chain it cannot show: asked only for its top blocks
	}{
		{"tall chain with a garbage hash, no such blocks", `"height":100000,"hash":"` + garbage + `"`, noBlocks, true},
		{"tall chain with a garbage hash, never answers GET_BLOCK", `"height":100000,"hash":"` + garbage + `"`, silent, true},
		{"tall height, hash not hex", `"height":100000,"hash":"zzzz"`, noBlocks, false},
		{"height as a string", `"height":"100000","hash":"` + garbage + `"`, noBlocks, false},
		{"negative height", `"height":-1,"hash":"` + garbage + `"`, noBlocks, false},
		{"null height and hash", `"height":null,"hash":null`, noBlocks, false},
		{"float height", `"height":100000.5,"hash":"` + garbage + `"`, noBlocks, false},
		{"height 2^63", `"height":9223372036854775808,"hash":"` + garbage + `"`, noBlocks, false},
		{"None everywhere", `"height":"None","hash":"None"`, noBlocks, false},
		{"height off by one", fmt.Sprintf(`"height":%d,"hash":%q`, len(honest)-1, honest[len(honest)-1].Hash), honestBlocks, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var bad *simLiar
			b := syncBesideLiar(t, func(sim *peer.Sim) netip.AddrPort {
				bad = addLiar(t, sim, answering(c.stats, c.serve))
				return bad.addr
			}, honest)
			b.sim.RunFor(time.Second)
			if n := len(b.logs.lines(t, "warn")); n != 0 {
				t.Fatalf("%d warnings:\n%s", n, b.logs)
			}
			if o, ok := simOffender(b.fresh, bad.addr); ok {
				t.Fatalf("a claim alone scored: %+v", o)
			}
			// Its top blocks, asked a few times per round: no sync.
			if c.liar && bad.getBlocks > 12 {
				t.Fatalf("the liar got %d GET_BLOCKs: its unproven claim was fetched", bad.getBlocks)
			}
		})
	}
}

// TestCatalogueBadBlocks: a peer claims a chain taller than the honest
// one (its own fork, valid up to height 25 and at its top two blocks, so
// that its claim is proven) and answers GET_BLOCK in between with one kind
// of broken block. It must be refused as a backer of that chain (the
// chain shows as bad: nobody else backs it), scored and warned about
// once, and the fresh node must end on the honest chain.
func TestCatalogueBadBlocks(t *testing.T) {
	honest := chain.Extend(nil, 30, testDifficulty, "honest", 1_700_000_000)
	lie := chain.Extend(honest[:20], 20, testDifficulty, "liar", 1_700_000_000) // 40 blocks
	other := chain.Extend(nil, 40, testDifficulty, "other", 1_600_000_000)
	const from = 25 // the liar's blocks from here on are broken
	offLink := func(h int) *chain.Block {
		b := &chain.Block{Height: h, MinedBy: "liar", Messages: []string{"off link"}, Timestamp: 1_700_000_000}
		if !chain.Mine(strings.Repeat("1", 64), b, testDifficulty, 1<<40) {
			t.Fatal("mining failed")
		}
		return b
	}
	elevenMsgs := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
	for _, c := range []struct {
		name  string
		reply func(h int) string
	}{
		{"invalid proof of work", func(h int) string {
			return blockJSON(t, lie[h], map[string]any{"hash": lie[h].Hash[:61] + "100"})
		}},
		{"wrong height", func(h int) string { return blockJSON(t, lie[h-1], map[string]any{"height": h}) }},
		{"a block from another chain", func(h int) string { return blockJSON(t, other[h], nil) }},
		{"a broken link", func(h int) string { return blockJSON(t, offLink(h), nil) }},
		{"valid up to the middle, then invalid", func(h int) string { return blockJSON(t, tamper(lie, h)[h], nil) }},
		{"oversize fields", func(h int) string {
			return blockJSON(t, lie[h], map[string]any{"minedBy": strings.Repeat("m", 300), "messages": []string{strings.Repeat("é", 21)}})
		}},
		{"11 messages", func(h int) string { return blockJSON(t, lie[h], map[string]any{"messages": elevenMsgs}) }},
		{"41-character nonce", func(h int) string {
			return blockJSON(t, lie[h], map[string]any{"nonce": strings.Repeat("7", 41)})
		}},
		{"nulls", func(int) string { return noBlockReply }},
		{"the string None", func(int) string {
			return `{"type":"GET_BLOCK_REPLY","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var bad *simLiar
			b := syncBesideLiar(t, func(sim *peer.Sim) netip.AddrPort {
				bad = addLiar(t, sim, answering(statsOf(lie), func(h int) []string {
					switch {
					case h < 0 || h >= len(lie):
						return nil
					case h < from || h >= len(lie)-2:
						return []string{blockJSON(t, lie[h], nil)}
					}
					return []string{c.reply(h)}
				}))
				return bad.addr
			}, honest)
			if bad.getBlocks <= 6 {
				t.Fatal("the liar's chain was never fetched")
			}
			oneWarningAbout(t, b, bad.addr)
			// Refused: shown bad in the last round, or no longer asked
			// at all (banned).
			o, scored := simOffender(b.fresh, bad.addr)
			marked := scored && !o.BannedUntil.IsZero()
			for _, g := range b.fresh.Status().Consensus {
				marked = marked || g.Hash == lie[len(lie)-1].Hash && g.Bad
			}
			if !marked {
				t.Fatalf("the liar's chain is not marked bad: %s", jsonString(b.fresh.Status().Consensus))
			}
			if !scored || o.Score < 4 {
				t.Fatalf("liar not scored: %+v", b.fresh.Offenders())
			}
		})
	}
}

// TestCatalogueSilentMidSync: the only backer of a taller chain answers
// 60 GET_BLOCKs, then goes silent in the middle of the sync. The node
// gives that chain up for the round (not marked bad: it may be valid) and
// syncs the honest one; the quitter gets one warning and a score, but no
// ban (silence may be a network fault).
func TestCatalogueSilentMidSync(t *testing.T) {
	blocks := chain.Extend(nil, 300, testDifficulty, "chain", 1_700_000_000)
	taller := chain.Extend(blocks, 200, testDifficulty, "taller", 1_700_000_000)
	var quitter *simLiar
	b := syncBesideLiar(t, func(sim *peer.Sim) netip.AddrPort {
		quitter = addLiar(t, sim, func(getBlocks int, m protocol.Message) []string {
			switch m := m.(type) {
			case protocol.Stats:
				return []string{`{"type":"STATS_REPLY",` + statsOf(taller) + `}`}
			case protocol.GetBlock:
				if getBlocks >= 60 || m.Height < 0 || m.Height >= len(taller) {
					return nil
				}
				return []string{encode(t, protocol.GetBlockReply{Block: taller[m.Height]})}
			}
			return nil
		})
		return quitter.addr
	}, blocks)
	if quitter.getBlocks <= 60 {
		t.Fatalf("the quitter got only %d GET_BLOCKs: it never went silent mid-sync", quitter.getBlocks)
	}
	oneWarningAbout(t, b, quitter.addr)
	o, ok := simOffender(b.fresh, quitter.addr)
	if !ok || o.Score <= 0 || !o.BannedUntil.IsZero() {
		t.Fatalf("quitter: %+v (want a score, no ban)", o)
	}
	for _, g := range b.fresh.Status().Consensus {
		if g.Hash == taller[len(taller)-1].Hash && g.Bad {
			t.Fatal("the quitter's chain was marked bad: nothing showed it invalid")
		}
	}
}

// TestCatalogueGossip: GOSSIP floods (fresh ids; one id repeated), GOSSIP
// naming our own address, port 0 or a 300-character host, one a
// millisecond. Floods are held to the reply and forward rates; malformed
// gossip is dropped; none of it is an offence (a GOSSIP names any address
// it likes, and its source may be forged); our own address is never a
// peer.
func TestCatalogueGossip(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	sender := netip.MustParseAddrPort("127.0.0.1:9001")
	for _, c := range []struct {
		name     string
		count    int
		datagram func(node netip.AddrPort, i int) string
		liar     bool // a flood from its own address: over the reply rate
	}{
		{"flood of fresh ids", 3000, func(_ netip.AddrPort, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"fresh-%d","name":"flood"}`, sender.Port(), i)
		}, true},
		{"one id repeated", 3000, func(netip.AddrPort, int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"same","name":"flood"}`, sender.Port())
		}, true},
		{"our own address", 300, func(node netip.AddrPort, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"own-%d","name":"us"}`, node.Port(), i)
		}, false},
		{"port 0", 300, func(_ netip.AddrPort, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":0,"id":"zero-%d","name":"x"}`, i)
		}, false},
		{"300-character host", 300, func(_ netip.AddrPort, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":%q,"port":9,"id":"long-%d","name":"x"}`, strings.Repeat("h", 300), i)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := newLogs(t)
			cfg := peer.Config{Difficulty: testDifficulty}
			logTo(logs)(&cfg)
			withReplyRate(100, 100)(&cfg)
			h := peer.NewHarness(t, blocks, cfg)
			for i := range c.count {
				h.InRaw(sender, []byte(c.datagram(h.Addr(), i)))
				h.Advance(time.Millisecond)
			}
			answersStatsTo(t, h, netip.MustParseAddrPort("127.0.0.1:9002"), blocks)
			st := h.Status()
			for _, p := range st.Peers {
				if p.Addr == h.Addr().String() {
					t.Fatalf("the node lists itself as a peer: %s", jsonString(st.Peers))
				}
			}
			if len(st.Peers) > 1 {
				t.Fatalf("%d peers from one socket: %s", len(st.Peers), jsonString(st.Peers))
			}
			if n := len(logs.lines(t, "warn")); n != 0 {
				t.Fatalf("%d warnings:\n%s", n, logs)
			}
			if len(st.Offenders) != 0 {
				t.Fatalf("offenders %+v", st.Offenders)
			}
			// Replies go out at the reply rate at most (100/s, 100 at once).
			if c.liar && st.Counters.RateLimited == 0 {
				t.Fatalf("counters %+v: the flood never met the reply rate", st.Counters)
			}
		})
	}
}

// TestReplyRateLimitsAmplification: 2,000 GET_BLOCKs from one address
// (which a spoofer would set to its victim's), one every 0.5 ms, get
// replies only at the reply rate (100 a second, 50 at once), while other
// addresses are served all along.
func TestReplyRateLimitsAmplification(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	cfg := peer.Config{Difficulty: testDifficulty}
	withReplyRate(100, 50)(&cfg)
	h := peer.NewHarness(t, blocks, cfg)
	victim, other := netip.MustParseAddrPort("127.0.0.1:9001"), netip.MustParseAddrPort("127.0.0.1:9002")
	const n, every = 2000, 500 * time.Microsecond
	for i := range n {
		h.InRaw(victim, fmt.Appendf(nil, `{"type":"GET_BLOCK","height":%d}`, i%5))
		h.Advance(every)
		if i%500 == 0 {
			answersStatsTo(t, h, other, blocks)
		}
	}
	replies, _ := h.SentTo(protocol.TypeGetBlockReply, func(a netip.AddrPort) bool { return a == victim })
	limit := 50 + int(100*(n*every).Seconds()) + 1
	if replies > limit || replies < 50 {
		t.Fatalf("%d replies to %d GET_BLOCKs in %v; the limit allows %d", replies, n, n*every, limit)
	}
	if c := h.Status().Counters; c.RateLimited == 0 || c.GetBlocksServed != replies {
		t.Fatalf("counters %+v, %d replies sent", c, replies)
	}
}
