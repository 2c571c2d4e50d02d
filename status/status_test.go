package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// fakeNode is a Source with canned answers.
type fakeNode struct {
	st       peer.Status
	blocks   []chain.Block
	err      error // from Status
	blockErr error // from Blocks
	hang     bool  // Status waits for its context

	mu        sync.Mutex
	lastFrom  int
	lastLimit int
}

func (f *fakeNode) Status(ctx context.Context) (peer.Status, error) {
	if f.hang {
		<-ctx.Done()
		return peer.Status{}, ctx.Err()
	}
	return f.st, f.err
}

func (f *fakeNode) Blocks(ctx context.Context, from, limit int) ([]chain.Block, error) {
	f.mu.Lock()
	f.lastFrom, f.lastLimit = from, limit
	f.mu.Unlock()
	if f.blockErr != nil {
		return nil, f.blockErr
	}
	var out []chain.Block
	for h := max(from, 0); h < len(f.blocks) && len(out) < limit; h++ {
		out = append(out, f.blocks[h])
	}
	return out, nil
}

func (f *fakeNode) last() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastFrom, f.lastLimit
}

// namedNode is a failing fakeNode that knows its name and address, as
// *peer.Node does.
type namedNode struct{ fakeNode }

func (*namedNode) Name() string { return "broken" }
func (*namedNode) Addr() string { return "127.0.0.1:9003" }

func makeBlocks(n int) []chain.Block {
	bs := make([]chain.Block, n)
	for i := range bs {
		bs[i] = chain.Block{Height: i, MinedBy: "miner", Nonce: fmt.Sprint(i * 7), Messages: []string{fmt.Sprintf("msg %d", i)},
			Hash: fmt.Sprintf("%061x000", i+1), Timestamp: 1730974785 + int64(i)}
	}
	return bs
}

func sampleStatus() peer.Status {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return peer.Status{
		Name: "alice <b>", Addr: "127.0.0.1:9001", Difficulty: 3, Height: 50, Tip: fmt.Sprintf("%061x000", 50),
		Sync: &peer.SyncStatus{Phase: "fetching", Height: 60, Hash: "abc000", Verified: 10, Total: 60, InFlight: 8, Backers: []string{"bob"}},
		Consensus: []peer.GroupStatus{
			{Height: 60, Hash: "abc000", Backers: []string{"bob"}},
			{Height: 99, Hash: "bad000", Backers: []string{"mallory"}, Bad: true},
		},
		Peers:  []peer.PeerStatus{{Name: "bob", Addr: "127.0.0.1:9002", LastSeen: now.Add(-3 * time.Second), Height: 60, Hash: "abc000"}},
		Mining: peer.MiningStatus{Enabled: true, Active: true, Hashes: 12345, HashRate: 1.5e6, Queued: 2},
		Time:   now,
	}
}

func get(t *testing.T, h http.Handler, method, target string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestStatusJSON(t *testing.T) {
	good := &fakeNode{st: sampleStatus()}
	bad := &namedNode{fakeNode{err: errors.New("node stopped")}}
	anon := &fakeNode{err: errors.New("boom")}
	h := Handler([]Source{good, bad, anon})

	res, body := get(t, h, "GET", "/api/status")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	// The raw shape, as the page's JavaScript sees it.
	var raw struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(raw.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3: %s", len(raw.Nodes), body)
	}
	n0 := raw.Nodes[0]
	for _, k := range []string{"name", "addr", "difficulty", "height", "tip", "sync", "consensus", "peers", "mining", "counters", "time", "index"} {
		if _, ok := n0[k]; !ok {
			t.Errorf("node 0 has no %q: %v", k, n0)
		}
	}
	if _, ok := n0["error"]; ok {
		t.Errorf("a good node has an error field: %v", n0)
	}
	if n0["name"] != "alice <b>" || n0["height"] != 50.0 {
		t.Errorf("node 0 = %v", n0)
	}
	sy := n0["sync"].(map[string]any)
	if sy["verified"] != 10.0 || sy["total"] != 60.0 || sy["in_flight"] != 8.0 {
		t.Errorf("sync = %v", sy)
	}
	if m := n0["mining"].(map[string]any); m["hash_rate"] != 1.5e6 || m["queued_words"] != 2.0 {
		t.Errorf("mining = %v", m)
	}

	// Typed decoding round-trips the status.
	var typed StatusResponse
	if err := json.Unmarshal(body, &typed); err != nil {
		t.Fatal(err)
	}
	if got := typed.Nodes[0]; got.Peers[0].Name != "bob" || !got.Consensus[1].Bad || got.Index != 0 {
		t.Errorf("typed node 0 = %+v", got)
	}

	// The failing nodes: shown, with an error, not failing the response.
	n1 := raw.Nodes[1]
	if n1["error"] != "node stopped" || n1["name"] != "broken" || n1["addr"] != "127.0.0.1:9003" || n1["index"] != 1.0 {
		t.Errorf("node 1 = %v", n1)
	}
	if n1["sync"] != nil {
		t.Errorf("node 1 sync = %v", n1["sync"])
	}
	if p, ok := n1["peers"].([]any); !ok || len(p) != 0 {
		t.Errorf("node 1 peers = %#v, want []", n1["peers"])
	}
	if c, ok := n1["consensus"].([]any); !ok || len(c) != 0 {
		t.Errorf("node 1 consensus = %#v, want []", n1["consensus"])
	}
	if n2 := raw.Nodes[2]; n2["error"] != "boom" || n2["index"] != 2.0 {
		t.Errorf("node 2 = %v", n2)
	}
}

func TestStatusSlowNode(t *testing.T) {
	old := callTimeout
	callTimeout = 100 * time.Millisecond
	t.Cleanup(func() { callTimeout = old })

	h := Handler([]Source{&fakeNode{hang: true}, &fakeNode{st: sampleStatus()}})
	start := time.Now()
	res, body := get(t, h, "GET", "/api/status")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a hanging node", d)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var resp StatusResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Nodes[0].Error, "no answer") {
		t.Errorf("hanging node error %q", resp.Nodes[0].Error)
	}
	if resp.Nodes[1].Error != "" || resp.Nodes[1].Height != 50 {
		t.Errorf("good node = %+v", resp.Nodes[1])
	}
}

func TestStatusNoNodes(t *testing.T) {
	res, body := get(t, Handler(nil), "GET", "/api/status")
	if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"nodes":[]}` {
		t.Errorf("%d %s", res.StatusCode, body)
	}
	res, body = get(t, Handler(nil), "GET", "/api/blocks")
	if res.StatusCode != 400 {
		t.Errorf("blocks with no nodes: %d %s", res.StatusCode, body)
	}
}

func decodeBlocks(t *testing.T, body []byte) []chain.Block {
	t.Helper()
	var bs []chain.Block
	if err := json.Unmarshal(body, &bs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return bs
}

func heights(bs []chain.Block) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = b.Height
	}
	return out
}

func TestBlocks(t *testing.T) {
	n0 := &fakeNode{st: sampleStatus(), blocks: makeBlocks(50)}
	n1 := &fakeNode{st: peer.Status{Height: 5}, blocks: makeBlocks(5)}
	empty := &fakeNode{}
	h := Handler([]Source{n0, n1, empty})

	cases := []struct {
		target    string
		wantFirst int
		wantLen   int
	}{
		{"/api/blocks", 30, 20},               // the latest 20 of node 0
		{"/api/blocks?node=0&limit=5", 45, 5}, // the latest 5
		{"/api/blocks?from=5&limit=3", 5, 3},  // a range
		{"/api/blocks?from=0", 0, 20},
		{"/api/blocks?from=&limit=", 30, 20},            // empty is absent                   // from genesis, default limit
		{"/api/blocks?from=48&limit=10", 48, 2},         // past the tip: what there is
		{"/api/blocks?from=100", 0, 0},                  // nothing there
		{"/api/blocks?node=1", 0, 5},                    // fewer blocks than the limit
		{"/api/blocks?node=2", 0, 0},                    // an empty chain
		{"/api/blocks?node=0&from=0&limit=1000", 0, 50}, // capped (see below)
	}
	for _, c := range cases {
		res, body := get(t, h, "GET", c.target)
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d: %s", c.target, res.StatusCode, body)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: content type %q", c.target, ct)
		}
		if strings.TrimSpace(string(body)) == "null" {
			t.Errorf("%s: null, want an array", c.target)
		}
		bs := decodeBlocks(t, body)
		if len(bs) != c.wantLen || (len(bs) > 0 && bs[0].Height != c.wantFirst) {
			t.Errorf("%s: heights %v, want %d from %d", c.target, heights(bs), c.wantLen, c.wantFirst)
		}
		for i := 1; i < len(bs); i++ {
			if bs[i].Height != bs[i-1].Height+1 {
				t.Errorf("%s: not ascending: %v", c.target, heights(bs))
				break
			}
		}
	}
	if _, limit := n0.last(); limit != MaxBlocks {
		t.Errorf("limit=1000 reached the node as %d, want %d", limit, MaxBlocks)
	}

	// The fields as the page reads them.
	_, body := get(t, h, "GET", "/api/blocks?from=1&limit=1")
	var raw []map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"height", "minedBy", "nonce", "messages", "hash", "timestamp"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("block has no %q: %v", k, raw[0])
		}
	}
}

func TestBlocksBadParams(t *testing.T) {
	h := Handler([]Source{&fakeNode{blocks: makeBlocks(3)}, &fakeNode{}})
	for _, target := range []string{
		"/api/blocks?node=x",
		"/api/blocks?node=2",
		"/api/blocks?node=-1",
		"/api/blocks?node=1.5",
		"/api/blocks?from=-1",
		"/api/blocks?from=abc",
		"/api/blocks?limit=0",
		"/api/blocks?limit=-5",
		"/api/blocks?limit=ten",
		"/api/blocks?limit=99999999999999999999999",
	} {
		res, body := get(t, h, "GET", target)
		if res.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400: %s", target, res.StatusCode, body)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: content type %q", target, ct)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf("%s: want a JSON error, got %s", target, body)
		}
	}
}

func TestBlocksNodeError(t *testing.T) {
	old := callTimeout
	callTimeout = 100 * time.Millisecond
	t.Cleanup(func() { callTimeout = old })

	h := Handler([]Source{
		&fakeNode{blocks: makeBlocks(3), blockErr: errors.New("node stopped")},
		&fakeNode{hang: true}, // the latest blocks need its height
	})
	for _, target := range []string{"/api/blocks?from=0", "/api/blocks?node=1"} {
		res, body := get(t, h, "GET", target)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d: %s", target, res.StatusCode, body)
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf("%s: want a JSON error, got %s", target, body)
		}
	}
}

var external = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|\bsrc\s*=\s*["']?https?:|@import`)

func TestPage(t *testing.T) {
	h := Handler([]Source{&fakeNode{st: sampleStatus()}})
	res, body := get(t, h, "GET", "/")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	page := string(body)
	for _, want := range []string{`<script src="app.js"`, `href="style.css"`, `id="panels"`, `id="tabs"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	assets := map[string]string{"/": page}
	for path, ct := range map[string]string{"/app.js": "javascript", "/net.js": "javascript", "/style.css": "text/css"} {
		res, body := get(t, h, "GET", path)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		assets[path] = string(body)
	}
	for path, text := range assets {
		text = strings.ReplaceAll(text, `"http://www.w3.org/2000/svg"`, "") // the SVG namespace: a name, fetched by nobody
		if strings.Contains(text, "http://") || strings.Contains(text, "https://") {
			t.Errorf("%s refers to an external http(s) address", path)
		}
		if m := external.FindString(text); m != "" {
			t.Errorf("%s has an external reference: %q", path, m)
		}
	}
	// Untrusted strings only ever reach the DOM as text.
	js := assets["/app.js"]
	for _, file := range []string{"/app.js", "/net.js"} {
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(assets[file], bad) {
				t.Errorf("%s uses %s", file, bad)
			}
		}
	}
	for _, id := range []string{`"graph"`, `"strip"`, `"heights"`, `"feed"`, `"controls"`} {
		if !strings.Contains(assets["/net.js"], id) {
			t.Errorf("net.js builds no %s element", id)
		}
	}
	// The ids the browser test and people's scripts rely on.
	for _, id := range []string{`"height-"`, `"peers-"`, `"blocks-"`, `"groups-"`, `"sync-"`, `"hashrate-"`, `"queued-"`, `"tip-"`} {
		if !strings.Contains(js, id) {
			t.Errorf("app.js builds no %s element", id)
		}
	}
}

// /api/chains gives every node's latest blocks, ascending, and a node that
// fails its error, beside the others.
func TestChains(t *testing.T) {
	a := &fakeNode{st: peer.Status{Height: 30}, blocks: makeBlocks(30)}
	b := &fakeNode{st: peer.Status{Height: 3}, blocks: makeBlocks(3)}
	broken := &fakeNode{blockErr: errors.New("boom")}
	h := Handler([]Source{a, b, broken})
	res, body := get(t, h, "GET", "/api/chains?limit=5")
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var resp struct {
		Nodes []NodeChain `json:"nodes"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(resp.Nodes))
	}
	var got [][]int
	for _, nc := range resp.Nodes {
		var hs []int
		for _, bl := range nc.Blocks {
			hs = append(hs, bl.Height)
		}
		got = append(got, hs)
	}
	if fmt.Sprint(got[0]) != "[25 26 27 28 29]" || fmt.Sprint(got[1]) != "[0 1 2]" || len(got[2]) != 0 {
		t.Errorf("heights %v: want the last 5 of 30, all 3, none", got)
	}
	if resp.Nodes[0].Blocks[4].Hash != a.blocks[29].Hash || resp.Nodes[2].Error == "" || resp.Nodes[0].Error != "" {
		t.Errorf("chains %+v", resp.Nodes)
	}
	for _, bad := range []string{"?limit=0", "?limit=x"} {
		if res, _ := get(t, h, "GET", "/api/chains"+bad); res.StatusCode != 400 {
			t.Errorf("/api/chains%s: %d, want 400", bad, res.StatusCode)
		}
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := Handler([]Source{&fakeNode{st: sampleStatus(), blocks: makeBlocks(2)}})
	for _, path := range []string{"/", "/api/status", "/api/blocks", "/app.js"} {
		res, body := get(t, h, "HEAD", path)
		if res.StatusCode != 200 || len(body) != 0 {
			t.Errorf("HEAD %s: %d, %d bytes", path, res.StatusCode, len(body))
		}
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			if res, _ := get(t, h, m, path); res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, path, res.StatusCode)
			}
		}
	}
	for _, path := range []string{"/nope", "/index.html/x", "/api", "/api/status/x", "/assets/app.js"} {
		if res, _ := get(t, h, "GET", path); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// TestOverHTTP runs the handler behind a real server, as the page reaches it.
func TestOverHTTP(t *testing.T) {
	st := sampleStatus()
	st.Height = 30
	srv := httptest.NewServer(Handler([]Source{&fakeNode{st: st, blocks: makeBlocks(30)}}))
	defer srv.Close()
	c := srv.Client()
	c.Timeout = 5 * time.Second
	res, err := c.Get(srv.URL + "/api/blocks?limit=3")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var bs []chain.Block
	if err := json.NewDecoder(res.Body).Decode(&bs); err != nil {
		t.Fatal(err)
	}
	if got := heights(bs); len(got) != 3 || got[0] != 27 {
		t.Errorf("heights %v, want 27..29", got)
	}
}
