package bench

import (
	"bytes"
	"context"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

func TestFormatTable(t *testing.T) {
	rows := []Row{
		{Name: "sync x", Value: 0.3, Unit: "s", Limit: 0.1, LowerIsBetter: true, LimitName: "bare", Target: "<= 0.5 s", Met: "ok"},
		{Name: "serve y", Value: 50_000, Unit: "replies/s", Limit: 80_000, LimitName: "echo", Target: ">= 70%", Met: "MISS"},
		{Name: "heap", Value: 1.5, Unit: "MB", Note: "a note"},
	}
	var b bytes.Buffer
	if err := Format(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header and 3 rows:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"row", "blockpeer", "limit", "ratio", "target"},
		{"sync x", "300 ms", "100 ms", "3.00x", "<= 0.5 s", "ok", "bare"},
		{"serve y", "50,000 replies/s", "80,000 replies/s", "62%", ">= 70%", "MISS", "echo"},
		{"heap", "1.50 MB", "-", "-", "a note"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	// Aligned: every row's "blockpeer" column starts where the header's does.
	col := strings.Index(lines[0], "blockpeer")
	for _, l := range lines[1:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("column not aligned at %d in %q", col, l)
		}
	}
	b.Reset()
	if err := FormatMarkdown(&b, rows); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "\n"); got != 5 {
		t.Errorf("markdown: %d lines, want 5:\n%s", got, b.String())
	}
	if !strings.Contains(b.String(), "| sync x | 300 ms | 100 ms | 3.00x | <= 0.5 s | ok | bare |") {
		t.Errorf("markdown row missing:\n%s", b.String())
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.0042, "s", "4.20 ms"}, {0.25, "s", "250 ms"}, {2.5, "s", "2.50 s"},
		{1234567, "blocks/s", "1,234,567 blocks/s"}, {24_600_000, "tries/s", "24.6 Mtries/s"},
		{12, "/min", "12 /min"}, {0.5, "MB", "0.50 MB"}, {math.NaN(), "s", "n/a"},
	} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := percentile(xs, c.q); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(percentile(nil, 0.5)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestRequestHeight(t *testing.T) {
	for _, h := range []int{0, 7, 12345} {
		data, err := protocol.Encode(protocol.GetBlock{Height: h})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := requestHeight(data); !ok || got != h {
			t.Errorf("requestHeight(%q) = %d, %v", data, got, ok)
		}
	}
	if _, ok := requestHeight([]byte(`{"type":"STATS"}`)); ok {
		t.Error("a STATS has no height")
	}
}

// recorder is a transport that records what is sent through it.
type recorder struct {
	peer.Transport
	mu   sync.Mutex
	sent [][]byte
}

func (r *recorder) Send(_ netip.AddrPort, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, data)
	return nil
}

func TestLossy(t *testing.T) {
	to := netip.MustParseAddrPort("127.0.0.1:9")
	reply, _ := protocol.Encode(protocol.GetBlockReply{Block: nil})
	stats, _ := protocol.Encode(protocol.StatsReply{Height: 1, Hash: strings.Repeat("0", 64)})

	rec := &recorder{}
	silent := newLossy(rec, 0, true, 1)
	silent.Send(to, reply)
	silent.Send(to, stats)
	if len(rec.sent) != 1 || !bytes.Equal(rec.sent[0], stats) {
		t.Errorf("silent source sent %q, want only the STATS_REPLY", rec.sent)
	}

	rec = &recorder{}
	l := newLossy(rec, 0.3, false, 1)
	for range 10_000 {
		l.Send(to, stats)
	}
	if got := float64(len(rec.sent)) / 10_000; got < 0.67 || got > 0.73 {
		t.Errorf("30%% loss let %.3f through", got)
	}
}

func TestLoadChainCache(t *testing.T) {
	dir := t.TempDir()
	bs, err := loadChain(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.blocks) != 50 || chain.ValidPrefix(bs.blocks, Difficulty) != 50 {
		t.Fatalf("%d blocks, not a valid 50-block chain", len(bs.blocks))
	}
	if len(bs.replies) != 50 || len(bs.requests) != 50 {
		t.Fatalf("%d replies and %d requests for 50 blocks", len(bs.replies), len(bs.requests))
	}
	m, err := protocol.Parse(bs.replies[49])
	if r, ok := m.(protocol.GetBlockReply); err != nil || !ok || r.Block.Hash != bs.blocks[49].Hash {
		t.Fatalf("reply 49 parses to %v, %v", m, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "blockpeer-bench-*"))
	if len(files) != 1 {
		t.Fatalf("cache files %v, want one", files)
	}
	// A damaged cache is mined again, not trusted.
	if err := os.WriteFile(files[0], []byte(`[{"height":0}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := loadChain(dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	if again.blocks[49].Hash != bs.blocks[49].Hash {
		t.Error("the chain mined again differs: mining the test chain is not deterministic")
	}
	if _, err := readChain(files[0], 50); err != nil {
		t.Errorf("cache not rewritten: %v", err)
	}
}

func TestUnknownRow(t *testing.T) {
	_, err := Run(context.Background(), Options{Rows: []string{"nope"}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v, want an unknown row error", err)
	}
}

// TestQuickRun runs every row on small sizes and checks the table is
// whole and sane: every figure positive and finite, every limit there
// where a row has one. It asserts no timing.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real nodes for about 20 s")
	}
	o := Quick()
	o.Blocks, o.Nodes, o.Duration, o.Steady, o.Announces = 300, 6, 50*time.Millisecond, time.Second, 1
	o.CacheDir = t.TempDir()
	o.GossipTimings = ShortTimings()
	o.GossipTimings.GossipInterval = 500 * time.Millisecond
	rows, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Format(&b, rows)
	t.Logf("\n%s", b.String())
	want := []struct {
		prefix   string
		hasLimit bool
	}{
		{"verify 300 blocks", true}, {"verify bytes", true}, {"mine, 1 core", true}, {"mine, ", true},
		{"serve GET_BLOCK", true}, {"STATS reply p99, 5 clients syncing", true}, {"bare pair: 300 round trips", false},
		{"sync 300 blocks, no loss", true}, {"sync 300 blocks, 10% loss", true},
		{"sync 300 blocks, 30% loss", true}, {"sync 300 blocks, 1 of 3 sources silent", true},
		{"6 nodes: new node's GOSSIP known by all", false}, {"6 nodes: ANNOUNCEd block at all", false},
		{"6 nodes: datagrams sent per node", false}, {"6 nodes: heap per node", false},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if !strings.HasPrefix(r.Name, w.prefix) {
			t.Errorf("row %d is %q, want %q...", i, r.Name, w.prefix)
		}
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("%s: figure %v", r.Name, r.Value)
		}
		if w.hasLimit != (r.Limit > 0) || math.IsInf(r.Limit, 0) || math.IsNaN(r.Limit) {
			t.Errorf("%s: limit %v", r.Name, r.Limit)
		}
		if r.Target != "" && r.Met != "ok" && r.Met != "MISS" {
			t.Errorf("%s: target %q but met %q", r.Name, r.Target, r.Met)
		}
	}
}
