package peer_test

// The adversarial catalogue (issue 6): every kind of bad peer the course
// network had, each played from a raw UDP socket against real nodes on
// 127.0.0.1. For each: the node does not crash, adopts no invalid block,
// keeps answering STATS, and marks the liar (a bad chain, an offence
// score, a ban) with one warning line, not a flood.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// logBuf keeps a node's JSON log lines, to count its warnings.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the log lines at level, decoded.
func (l *logBuf) lines(t testing.TB, level string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["level"] == level {
			out = append(out, m)
		}
	}
	return out
}

// warningsAbout counts the warning lines about peer addr.
func (l *logBuf) warningsAbout(t testing.TB, addr netip.AddrPort) int {
	t.Helper()
	n := 0
	for _, m := range l.lines(t, "warn") {
		if m["peer"] == addr.String() || m["from"] == addr.String() {
			n++
		}
	}
	return n
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newLogs returns an empty log, shown when the test fails.
func newLogs(t *testing.T) *logBuf {
	l := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the node under test:\n%s", l)
		}
	})
	return l
}

// logTo makes the node log JSON at debug level into l.
func logTo(l *logBuf) nodeOpt {
	return func(c *peer.Config) { c.Log = zerolog.New(l).Level(zerolog.DebugLevel) }
}

// badPeer plays a peer from a raw socket: answer says what it sends back
// (raw datagrams) for each message it receives.
type badPeer struct {
	*raw
	getBlocks atomic.Int64 // GET_BLOCKs received
}

func startBad(t *testing.T, answer func(bp *badPeer, m protocol.Message) []string) *badPeer {
	bp := &badPeer{raw: newRaw(t)}
	bp.serve(func(from netip.AddrPort, m protocol.Message) {
		if _, ok := m.(protocol.GetBlock); ok {
			bp.getBlocks.Add(1)
		}
		for _, d := range answer(bp, m) {
			bp.conn.WriteToUDPAddrPort([]byte(d), from)
		}
	})
	return bp
}

// serving answers STATS with stats and GET_BLOCK with block(h) (nil: no
// answer).
func serving(stats string, block func(h int) []string) func(*badPeer, protocol.Message) []string {
	return func(_ *badPeer, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			return []string{`{"type":"STATS_REPLY",` + stats + `}`}
		case protocol.GetBlock:
			return block(m.Height)
		}
		return nil
	}
}

func encode(t testing.TB, m protocol.Message) string {
	t.Helper()
	d, err := protocol.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(d)
}

// blockJSON is a GET_BLOCK_REPLY carrying b, with fields overridden.
func blockJSON(t testing.TB, b *chain.Block, override map[string]any) string {
	t.Helper()
	m := map[string]any{"type": "GET_BLOCK_REPLY", "height": b.Height, "minedBy": b.MinedBy,
		"nonce": b.Nonce, "messages": b.Messages, "hash": b.Hash, "timestamp": b.Timestamp}
	for k, v := range override {
		m[k] = v
	}
	d, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(d)
}

func statsOf(blocks []*chain.Block) string {
	return fmt.Sprintf(`"height":%d,"hash":%q`, len(blocks), blocks[len(blocks)-1].Hash)
}

// answersStats checks that node answers STATS, from a socket of its own,
// with the height of blocks and its top hash.
func answersStats(t *testing.T, node *testNode, blocks []*chain.Block) {
	t.Helper()
	r := newRaw(t)
	for range 3 { // UDP: allow a loss
		r.send(node.addr, protocol.Stats{})
		if m := r.recvType(protocol.TypeStatsReply, time.Second); m != nil {
			want := protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash}
			if m.(protocol.StatsReply) != want {
				t.Fatalf("STATS_REPLY %+v, want %+v", m, want)
			}
			return
		}
	}
	t.Fatal("no STATS_REPLY")
}

// holdsValid checks that node's chain is valid and ends with want's top.
func holdsValid(t *testing.T, node *testNode, want []*chain.Block) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := node.Blocks(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ptrs := make([]*chain.Block, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if v := chain.ValidPrefix(ptrs, testDifficulty); v != len(got) {
		t.Fatalf("chain of %d blocks has only %d valid", len(got), v)
	}
	if len(got) != len(want) || got[len(got)-1].Hash != want[len(want)-1].Hash {
		t.Fatalf("chain of %d blocks, want %d ending %s", len(got), len(want), want[len(want)-1].Hash)
	}
}

// offender returns addr's entry in the node's offender list.
func offender(t *testing.T, node *testNode, addr netip.AddrPort) (peer.OffenderStatus, bool) {
	t.Helper()
	for _, o := range node.status(t).Offenders {
		if o.Addr == addr.String() {
			return o, true
		}
	}
	return peer.OffenderStatus{}, false
}

// exactlyOneWarning waits for the one warning about liar and checks that
// no second one follows, and that nobody else was warned about (other
// than chains marked bad, which name no peer).
func exactlyOneWarning(t *testing.T, logs *logBuf, liar netip.AddrPort) {
	t.Helper()
	eventually(t, 5*time.Second, "a warning about "+liar.String(), func() bool { return logs.warningsAbout(t, liar) > 0 })
	time.Sleep(300 * time.Millisecond) // more offences would have been logged by now
	if n := logs.warningsAbout(t, liar); n != 1 {
		t.Fatalf("%d warnings about %s, want 1:\n%s", n, liar, logs)
	}
	for _, w := range logs.lines(t, "warn") {
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
	nulls := `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
	noBlocks := func(int) []string { return []string{nulls} }
	silent := func(int) []string { return nil }
	honestBlocks := func(h int) []string {
		if h >= 0 && h < len(honest) {
			return []string{encode(t, protocol.GetBlockReply{Block: honest[h]})}
		}
		return []string{nulls}
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
			bad := startBad(t, serving(c.stats, c.serve))
			fresh, logs := syncBesideLiar(t, bad.addr, honest)
			time.Sleep(300 * time.Millisecond)
			if n := len(logs.lines(t, "warn")); n != 0 {
				t.Fatalf("%d warnings:\n%s", n, logs)
			}
			if o, ok := offender(t, fresh, bad.addr); ok {
				t.Fatalf("a claim alone scored: %+v", o)
			}
			// Its top blocks, asked a few times per round: no sync.
			if got := bad.getBlocks.Load(); c.liar && got > 12 {
				t.Fatalf("the liar got %d GET_BLOCKs: its unproven claim was fetched", got)
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
		{"nulls", func(h int) string {
			return `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
		}},
		{"the string None", func(h int) string {
			return `{"type":"GET_BLOCK_REPLY","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := startBad(t, serving(statsOf(lie), func(h int) []string {
				switch {
				case h < 0 || h >= len(lie):
					return nil
				case h < from || h >= len(lie)-2:
					return []string{blockJSON(t, lie[h], nil)}
				}
				return []string{c.reply(h)}
			}))
			fresh, logs := syncBesideLiar(t, bad.addr, honest)
			if bad.getBlocks.Load() <= 6 {
				t.Fatal("the liar's chain was never fetched")
			}
			// Refused: shown bad in the last round, or no longer asked
			// at all (banned).
			o, banned := offender(t, fresh, bad.addr)
			marked := banned && !o.BannedUntil.IsZero()
			for _, g := range fresh.status(t).Consensus {
				marked = marked || g.Hash == lie[len(lie)-1].Hash && g.Bad
			}
			if !marked {
				t.Fatalf("the liar's chain is not marked bad: %s", jsonString(fresh.status(t).Consensus))
			}
			exactlyOneWarning(t, logs, bad.addr)
			if o, ok := offender(t, fresh, bad.addr); !ok || o.Score < 4 {
				t.Fatalf("liar not scored: %+v", fresh.status(t).Offenders)
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
	quitter := startBad(t, func(bp *badPeer, m protocol.Message) []string {
		switch m := m.(type) {
		case protocol.Stats:
			return []string{`{"type":"STATS_REPLY",` + statsOf(taller) + `}`}
		case protocol.GetBlock:
			if bp.getBlocks.Load() > 60 || m.Height < 0 || m.Height >= len(taller) {
				return nil
			}
			return []string{encode(t, protocol.GetBlockReply{Block: taller[m.Height]})}
		}
		return nil
	})
	src := startNode(t, "src", blocks, nil)
	logs := newLogs(t)
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{quitter.addr, src.addr}, logTo(logs))
	eventually(t, 20*time.Second, "the fresh node to hold the honest chain", func() bool {
		return fresh.status(t).Tip == blocks[len(blocks)-1].Hash
	})
	holdsValid(t, fresh, blocks)
	answersStats(t, fresh, blocks)
	if quitter.getBlocks.Load() <= 60 {
		t.Fatalf("the quitter got only %d GET_BLOCKs: it never went silent mid-sync", quitter.getBlocks.Load())
	}
	exactlyOneWarning(t, logs, quitter.addr)
	o, ok := offender(t, fresh, quitter.addr)
	if !ok || o.Score <= 0 || !o.BannedUntil.IsZero() {
		t.Fatalf("quitter: %+v (want a score, no ban)", o)
	}
	for _, g := range fresh.status(t).Consensus {
		if g.Hash == taller[len(taller)-1].Hash && g.Bad {
			t.Fatal("the quitter's chain was marked bad: nothing showed it invalid")
		}
	}
}

// flood sends datagrams to node n times from r, in batches that each end
// with a STATS round trip from probe, so that the node has handled (or
// dropped) one batch before the next: the kernel's socket buffer never
// overflows and every datagram is counted.
func flood(t *testing.T, r, probe *raw, node *testNode, n int, datagram func(i int) []byte) {
	t.Helper()
	const batch, batchBytes = 1000, 64 << 10
	count, size := 0, 0
	for i := 0; i < n; i++ {
		d := datagram(i)
		r.sendRaw(node.addr, d)
		count, size = count+1, size+len(d)
		if count == batch || size >= batchBytes || i == n-1 {
			count, size = 0, 0
			got := false
			for range 3 {
				probe.send(node.addr, protocol.Stats{})
				if probe.recvType(protocol.TypeStatsReply, 2*time.Second) != nil {
					got = true
					break
				}
			}
			if !got {
				t.Fatalf("no STATS_REPLY after %d datagrams", i+1)
			}
		}
	}
}

// syncBesideLiar starts an honest source holding honest and a fresh node
// that joins it and liar, and waits until the fresh node has adopted the
// honest chain, holds it valid and answers STATS. It returns the fresh
// node and its log.
func syncBesideLiar(t *testing.T, liar netip.AddrPort, honest []*chain.Block) (*testNode, *logBuf) {
	t.Helper()
	src := startNode(t, "src", honest, nil)
	logs := newLogs(t)
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{liar, src.addr}, logTo(logs))
	eventually(t, 15*time.Second, "the fresh node to adopt the honest chain", func() bool {
		return fresh.status(t).Tip == honest[len(honest)-1].Hash
	})
	holdsValid(t, fresh, honest)
	answersStats(t, fresh, honest)
	return fresh, logs
}

// withReplyRate sets the node's reply rate limit.
func withReplyRate(rate float64, burst int) nodeOpt {
	return func(c *peer.Config) { c.Limits.ReplyRate, c.Limits.ReplyBurst = rate, burst }
}

// TestCatalogueGossip: GOSSIP floods (fresh ids; one id repeated), GOSSIP
// naming our own address, port 0 or a 300-character host. Floods are held
// to the reply and forward rates; malformed gossip is dropped; none of it
// is an offence (a GOSSIP names any address it likes, and its source may
// be forged); our own address is never a peer.
func TestCatalogueGossip(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	for _, c := range []struct {
		name     string
		count    int
		datagram func(r *raw, node *testNode, i int) string
		liar     bool // a flood from its own address: over the reply rate
	}{
		{"flood of fresh ids", 3000, func(r *raw, _ *testNode, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"fresh-%d","name":"flood"}`, r.addr.Port(), i)
		}, true},
		{"one id repeated", 3000, func(r *raw, _ *testNode, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"same","name":"flood"}`, r.addr.Port())
		}, true},
		{"our own address", 300, func(_ *raw, node *testNode, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"own-%d","name":"us"}`, node.addr.Port(), i)
		}, false},
		{"port 0", 300, func(_ *raw, _ *testNode, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":"127.0.0.1","port":0,"id":"zero-%d","name":"x"}`, i)
		}, false},
		{"300-character host", 300, func(_ *raw, _ *testNode, i int) string {
			return fmt.Sprintf(`{"type":"GOSSIP","host":%q,"port":9,"id":"long-%d","name":"x"}`, strings.Repeat("h", 300), i)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := newLogs(t)
			node := startNode(t, "node", blocks, nil, logTo(logs), withReplyRate(100, 100))
			r, probe := newRaw(t), newRaw(t)
			flood(t, r, probe, node, c.count, func(i int) []byte { return []byte(c.datagram(r, node, i)) })
			answersStats(t, node, blocks)
			st := node.status(t)
			for _, p := range st.Peers {
				if p.Addr == node.addr.String() {
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

// TestReplyRateLimitsAmplification: GET_BLOCKs from one address (which a
// spoofer would set to its victim's) get replies only at the reply rate.
func TestReplyRateLimitsAmplification(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	node := startNode(t, "node", blocks, nil, withReplyRate(100, 50))
	victim, probe := newRaw(t), newRaw(t)
	var replies atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			victim.conn.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := victim.conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			replies.Add(1)
		}
	}()
	start := time.Now()
	flood(t, victim, probe, node, 2000, func(i int) []byte { return []byte(fmt.Sprintf(`{"type":"GET_BLOCK","height":%d}`, i%5)) })
	elapsed := time.Since(start)
	<-done // a second without replies
	limit := 50 + int64(100*elapsed.Seconds()) + 1
	if got := replies.Load(); got > limit || got < 50 {
		t.Fatalf("%d replies to 2000 GET_BLOCKs in %v; the limit allows %d", got, elapsed, limit)
	}
	if c := node.status(t).Counters; c.RateLimited == 0 || c.GetBlocksServed != int(replies.Load()) {
		t.Fatalf("counters %+v, %d replies received", c, replies.Load())
	}
	answersStats(t, node, blocks) // other addresses are served all along
}

// TestReplyRateAllowsFastSync: with the default reply rate, a fresh node
// syncing 4,000 blocks from three sources as fast as it can (about 1,300
// GET_BLOCKs to each, in well under a second on loopback) is never held
// back. (The sync's size adds nothing past the default burst, 10,000: a
// bigger one only takes longer under -race.)
func TestReplyRateAllowsFastSync(t *testing.T) {
	blocks := chain.Extend(nil, 4_000, testDifficulty, "src", 1_700_000_000)
	var sources []*testNode
	var seeds []netip.AddrPort
	for _, name := range []string{"s1", "s2", "s3"} {
		s := startNode(t, name, blocks, nil)
		sources, seeds = append(sources, s), append(seeds, s.addr)
	}
	fresh := startNode(t, "fresh", nil, seeds)
	eventually(t, 60*time.Second, "the sync of 4,000 blocks", func() bool { return fresh.status(t).Height == len(blocks) })
	t.Logf("sync: %+v", *fresh.status(t).LastSync)
	for _, s := range sources {
		c := s.status(t).Counters
		t.Logf("%s served %d, %d over the rate", s.Name(), c.GetBlocksServed, c.RateLimited)
		if c.RateLimited != 0 {
			t.Fatalf("%s held back %d replies of a sync", s.Name(), c.RateLimited)
		}
	}
}

// TestReplyRateSlowsButNeverBansASync: a fresh node syncing from one
// source alone asks faster than the source's reply rate. The source drops
// what is over the rate, the sync slows down and completes, and the
// syncing node is neither warned about nor banned (it asks, it does not
// flood).
func TestReplyRateSlowsButNeverBansASync(t *testing.T) {
	blocks := chain.Extend(nil, 3_000, testDifficulty, "src", 1_700_000_000)
	logs := newLogs(t)
	src := startNode(t, "src", blocks, nil, logTo(logs), withReplyRate(2_000, 200))
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{src.addr})
	eventually(t, 60*time.Second, "the sync of 3,000 blocks", func() bool { return fresh.status(t).Height == len(blocks) })
	st := src.status(t)
	if st.Counters.RateLimited == 0 {
		t.Fatal("the sync never ran into the source's reply rate: the test tests nothing")
	}
	if o, ok := offender(t, src, fresh.addr); ok && !o.BannedUntil.IsZero() {
		t.Fatalf("the syncing node was banned: %+v", o)
	}
	if n := len(logs.lines(t, "warn")); n != 0 {
		t.Fatalf("%d warnings at the source:\n%s", n, logs)
	}
	t.Logf("%d replies over the rate; sync: %+v", st.Counters.RateLimited, *fresh.status(t).LastSync)
}
