package peer_test

// Bad peers over real UDP: the raw-socket peers and log checks the UDP
// tests share, and the reply rate met by real syncs. The catalogue of bad
// peers itself runs on virtual time (catalogue_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
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

// withReplyRate sets the node's reply rate limit.
func withReplyRate(rate float64, burst int) nodeOpt {
	return func(c *peer.Config) { c.Limits.ReplyRate, c.Limits.ReplyBurst = rate, burst }
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
