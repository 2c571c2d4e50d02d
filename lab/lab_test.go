package lab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/lab"
	"blockpeer/peer"
)

// testDifficulty is the lab chain's difficulty in tests: one mining thread
// finds a block in a few milliseconds (under -race), and the seed then
// rests testBlockInterval, so a lab's mining costs little CPU and its
// blocks come at a steady pace.
//
// The pace matters: a node more than one block behind the seed (it joined
// after the seed's first blocks, as a hand-joined node always does, or its
// event loop was starved for a moment) gets back within one block only if
// a consensus round and its sync end before the seed's next block: an
// ANNOUNCE above our height only starts a round (and is ignored while one
// runs), the round waits its whole STATS window, and the sync's target is
// the height of the STATS replies. Mining flat out at difficulty 3 (a
// block every ~2 ms) or 4 (every ~25 ms, ~50 ms on a busy CPU), such a node
// trailed the seed by about (STATS window + sync) / block interval blocks
// for ever, and these tests failed a few times in a hundred runs; mining
// flat out at difficulty 5 (a block every few tenths of a second, at
// random) kept one core busy per lab.
const testDifficulty = 3

// testBlockInterval is the least time between two of a test lab seed's
// blocks: above the longest STATS window plus a sync (the 300 ms window of
// lab.Timings, which a hand-joined node uses).
const testBlockInterval = 400 * time.Millisecond

// testTimings are the lab's timings, shortened so tests move fast.
func testTimings() peer.Timings {
	t := lab.Timings()
	t.GossipInterval = time.Second
	t.JoinDelay = 100 * time.Millisecond
	t.StatsWindow = 150 * time.Millisecond
	t.RequestTimeout = 200 * time.Millisecond
	t.ConsensusInterval = 3 * time.Second
	t.Tick = 10 * time.Millisecond
	return t
}

// testConfig is a small, fast lab on ephemeral ports, logging to log.
func testConfig(nodes, difficulty int, log *testLog) lab.Config {
	return lab.Config{
		Nodes: nodes, BasePort: 0, Difficulty: difficulty, MineThreads: 1, BlockInterval: testBlockInterval,
		Prefix: "t-", Timings: testTimings(), Log: log.logger(),
	}
}

// testLog keeps a lab's info log in memory and prints its tail when the
// test fails.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newTestLog(t testing.TB) *testLog {
	l := &testLog{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			lines := strings.Split(strings.TrimSpace(l.buf.String()), "\n")
			t.Logf("last %d log lines:\n%s", min(len(lines), 60), strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) logger() zerolog.Logger {
	if l == nil {
		return zerolog.Nop()
	}
	return zerolog.New(l).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// runningLab is a lab whose Run is going on in a goroutine.
type runningLab struct {
	*lab.Lab
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startLab builds and runs a lab; it is stopped when the test ends.
func startLab(t testing.TB, cfg lab.Config) *runningLab {
	t.Helper()
	l, err := lab.New(cfg)
	if err != nil {
		t.Fatalf("lab.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningLab{Lab: l, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- l.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("stopping the lab: %v", err)
		}
	})
	return r
}

// stop cancels the lab and waits at most 2 s for Run to return.
func (r *runningLab) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.err = fmt.Errorf("Run returned %w", err)
			}
		case <-time.After(2 * time.Second):
			r.err = errors.New("Run did not return within 2s of the cancel")
		}
	})
	return r.err
}

// callCtx bounds one call on a node.
func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Second)
}

func status(n *peer.Node) (peer.Status, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return n.Status(ctx)
}

func height(n *peer.Node) (int, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return n.Height(ctx)
}

// blockAt returns n's block at height h (0-based index).
func blockAt(n *peer.Node, h int) (chain.Block, error) {
	ctx, cancel := callCtx()
	defer cancel()
	bs, err := n.Blocks(ctx, h, 1)
	if err != nil {
		return chain.Block{}, err
	}
	if len(bs) != 1 {
		return chain.Block{}, fmt.Errorf("%s has no block %d", n.Name(), h)
	}
	return bs[0], nil
}

// eventually polls cond every 10 ms until it holds or timeout passes; the
// failure message carries cond's last explanation.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// followsSeed reports whether n is within one block of the seed and its tip
// is a block of the seed's chain.
func followsSeed(seed, n *peer.Node) (bool, string) {
	st, err := status(n)
	if err != nil {
		return false, err.Error()
	}
	sh, err := height(seed)
	if err != nil {
		return false, err.Error()
	}
	if st.Height < sh-1 || st.Height > sh+1 {
		return false, fmt.Sprintf("%s at height %d, seed at %d", n.Name(), st.Height, sh)
	}
	if st.Height == 0 {
		return false, n.Name() + " has no chain"
	}
	b, err := blockAt(seed, st.Height-1)
	if err != nil {
		return false, err.Error()
	}
	if b.Hash != st.Tip {
		return false, fmt.Sprintf("%s's tip %.12s at height %d is not the seed's block %.12s", n.Name(), st.Tip, st.Height, b.Hash)
	}
	return true, ""
}

// converged reports whether the seed has mined more than minHeight blocks
// and every node follows it.
func converged(l *lab.Lab, minHeight int) (bool, string) {
	sh, err := height(l.Seed)
	if err != nil {
		return false, err.Error()
	}
	if sh <= minHeight {
		return false, fmt.Sprintf("seed at height %d", sh)
	}
	for _, n := range l.Nodes[1:] {
		if ok, why := followsSeed(l.Seed, n); !ok {
			return false, why
		}
	}
	return true, ""
}

func peerAddrs(st peer.Status) []string {
	var out []string
	for _, p := range st.Peers {
		out = append(out, p.Addr)
	}
	return out
}

// knowsPeers reports whether every ordinary node knows the seed and at
// least one other ordinary node.
func knowsPeers(l *lab.Lab) (bool, string) {
	for _, n := range l.Nodes[1:] {
		st, err := status(n)
		if err != nil {
			return false, err.Error()
		}
		addrs := peerAddrs(st)
		if !slices.Contains(addrs, l.Seed.Addr()) {
			return false, fmt.Sprintf("%s does not know the seed %s: %v", n.Name(), l.Seed.Addr(), addrs)
		}
		others := 0
		for _, o := range l.Nodes[1:] {
			if o != n && slices.Contains(addrs, o.Addr()) {
				others++
			}
		}
		if others == 0 {
			return false, fmt.Sprintf("%s knows no other peer: %v", n.Name(), addrs)
		}
	}
	return true, ""
}

func TestLabConverges(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	r := startLab(t, testConfig(3, testDifficulty, newTestLog(t)))
	if len(r.Nodes) != 4 || r.Seed != r.Nodes[0] {
		t.Fatalf("lab has %d nodes, seed first: %v; want 4", len(r.Nodes), r.Seed == r.Nodes[0])
	}
	ports := map[int]bool{}
	for _, n := range r.Nodes {
		a, err := netip.ParseAddrPort(n.Addr())
		if err != nil || a.Addr() != netip.MustParseAddr("127.0.0.1") || a.Port() == 0 || int(a.Port()) != n.Port() {
			t.Fatalf("%s advertises %q (port %d): want 127.0.0.1 and its ephemeral port", n.Name(), n.Addr(), n.Port())
		}
		ports[n.Port()] = true
	}
	if len(ports) != len(r.Nodes) {
		t.Fatalf("nodes share ports: %v", ports)
	}
	if r.Seed.Name() != "t-seed" || r.Nodes[1].Name() != "t-1" {
		t.Errorf("names %q, %q: want t-seed, t-1", r.Seed.Name(), r.Nodes[1].Name())
	}

	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 5) })
	eventually(t, 5*time.Second, "every node to know the seed and another peer", func() (bool, string) { return knowsPeers(r.Lab) })

	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Run returned %v after the cancel", time.Since(start).Round(time.Millisecond))
	if _, err := height(r.Seed); !errors.Is(err, peer.ErrStopped) {
		t.Errorf("Height on a stopped lab: %v, want ErrStopped", err)
	}
}

func TestAnnouncedBlockReachesEveryNode(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	r := startLab(t, testConfig(3, testDifficulty, newTestLog(t)))
	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 2) })

	// Watch the seed's next block: its height goes from h to h+1 (or more,
	// if it mined several between two looks; block h is its next one).
	h, err := height(r.Seed)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the seed's next block", func() (bool, string) {
		sh, err := height(r.Seed)
		return err == nil && sh > h, fmt.Sprintf("seed at %d (%v)", sh, err)
	})
	want, err := blockAt(r.Seed, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range r.Nodes[1:] {
		eventually(t, 10*time.Second, fmt.Sprintf("%s to hold block %d", n.Name(), h), func() (bool, string) {
			b, err := blockAt(n, h)
			if err != nil {
				return false, err.Error()
			}
			if b.Hash != want.Hash {
				return false, fmt.Sprintf("block %d is %.12s, the seed's is %.12s", h, b.Hash, want.Hash)
			}
			return true, ""
		})
	}
	for _, n := range r.Nodes[1:] {
		eventually(t, 30*time.Second, n.Name()+" to add an ANNOUNCEd block", func() (bool, string) {
			ctx, cancel := callCtx()
			defer cancel()
			c, err := n.Counters(ctx)
			if err != nil {
				return false, err.Error()
			}
			return c.BlocksAnnouncedAdded > 0, fmt.Sprintf("counters %+v: it only synced", c)
		})
	}
	if want.MinedBy != r.Seed.Name() {
		t.Errorf("block %d mined by %q, want the seed %q", h, want.MinedBy, r.Seed.Name())
	}
}

func TestHandJoinedNodeSyncs(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	r := startLab(t, testConfig(1, testDifficulty, newTestLog(t)))
	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 2) })

	// Join by hand, as a student's node would: its own socket and chain,
	// the seed's address as the only seed, the lab's ordinary timings.
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr, err := netip.ParseAddrPort(r.Seed.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.New(testDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	student, err := peer.New(peer.Config{
		Name: "student", Advertise: tr.LocalAddr(), Seeds: []netip.AddrPort{seedAddr},
		Difficulty: testDifficulty, Timings: lab.Timings(), Log: zerolog.Nop(),
	}, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- student.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("student: Run: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("student did not stop within 2s")
		}
		tr.Close()
	}()

	eventually(t, 30*time.Second, "the hand-joined node to reach the seed's height", func() (bool, string) {
		return followsSeed(r.Seed, student)
	})
	eventually(t, 5*time.Second, "the seed to list the hand-joined node", func() (bool, string) {
		st, err := status(r.Seed)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range st.Peers {
			if p.Addr == student.Addr() {
				return p.Name == "student", fmt.Sprintf("listed as %q", p.Name)
			}
		}
		return false, fmt.Sprintf("seed's peers: %v", peerAddrs(st))
	})
}

func TestSecondLabOnOtherPorts(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	cfgA, cfgB := testConfig(2, testDifficulty, newTestLog(t)), testConfig(2, testDifficulty, newTestLog(t))
	cfgA.Prefix, cfgB.Prefix = "a-", "b-"
	a, b := startLab(t, cfgA), startLab(t, cfgB)

	addrsA := map[string]bool{}
	for _, n := range a.Nodes {
		addrsA[n.Addr()] = true
	}
	for _, n := range b.Nodes {
		if addrsA[n.Addr()] {
			t.Fatalf("both labs use %s", n.Addr())
		}
	}
	eventually(t, 30*time.Second, "lab a to converge", func() (bool, string) { return converged(a.Lab, 2) })
	eventually(t, 30*time.Second, "lab b to converge", func() (bool, string) { return converged(b.Lab, 2) })

	// Two networks, two chains: neither lab's seed knows the other's nodes.
	ga, err := blockAt(a.Seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := blockAt(b.Seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ga.Hash == gb.Hash {
		t.Errorf("both labs have genesis %.12s", ga.Hash)
	}
	for _, pair := range [][2]*runningLab{{a, b}, {b, a}} {
		st, err := status(pair[0].Seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range pair[1].Nodes {
			if slices.Contains(peerAddrs(st), n.Addr()) {
				t.Errorf("%s knows %s of the other lab", pair[0].Seed.Name(), n.Name())
			}
		}
	}
}

func TestSameBasePortFails(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	if port+1 > 65535 {
		t.Fatalf("free port %d has no room for a peer", port)
	}

	cfg := testConfig(1, testDifficulty, nil)
	cfg.BasePort = port
	first, err := lab.New(cfg)
	if err != nil {
		t.Fatalf("first lab on base port %d: %v", port, err)
	}
	// A Lab releases its sockets when Run ends: run it already stopped.
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := first.Run(ctx); err != nil {
			t.Errorf("first lab: Run: %v", err)
		}
	}()
	if first.Seed.Port() != port || first.Nodes[1].Port() != port+1 {
		t.Errorf("ports %d, %d: want %d and %d", first.Seed.Port(), first.Nodes[1].Port(), port, port+1)
	}

	second, err := lab.New(cfg)
	if err == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		second.Run(ctx)
		t.Fatalf("a second lab on base port %d did not fail", port)
	}
	if !strings.Contains(err.Error(), "-base-port") {
		t.Errorf("error %q does not mention -base-port", err)
	}
	t.Logf("second lab: %v", err)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []lab.Config{
		{Nodes: -1, Difficulty: 3},
		{Nodes: 101, Difficulty: 3},
		{Nodes: 1, BasePort: -1, Difficulty: 3},
		{Nodes: 2, BasePort: 65534, Difficulty: 3},
	} {
		if l, err := lab.New(cfg); err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			l.Run(ctx)
			t.Errorf("lab.New(%+v) did not fail", cfg)
		}
	}
}

// BenchmarkAnnouncePropagation measures how long a block the seed mines
// takes to reach every node of a 4-node lab, in ms/block-to-all, and the
// seed's mean block interval, in s/block. "fast" is difficulty 4 with the
// seed mining flat out on one thread; "default" is what `go run . lab`
// runs (difficulty 6, all cores, a 3 s block interval: slow, ~4 s a block):
//
//	go test -run x -bench AnnouncePropagation/fast -benchtime 30x ./lab/
//	go test -run x -bench AnnouncePropagation/default -benchtime 10x ./lab/
func BenchmarkAnnouncePropagation(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		cfg := testConfig(4, 4, nil)
		// At difficulty 4 the seed mines a block every few milliseconds: a
		// short STATS window lets a node that missed the first blocks catch
		// up (see testDifficulty) before the measurement starts.
		cfg.Timings.StatsWindow, cfg.Timings.Tick = 20*time.Millisecond, 5*time.Millisecond
		cfg.BlockInterval = 0 // flat out
		benchPropagation(b, cfg)
	})
	b.Run("default", func(b *testing.B) {
		cfg := lab.Config{Nodes: 4, Difficulty: 6, BlockInterval: 3 * time.Second, Prefix: "bench-"}
		benchPropagation(b, cfg)
	})
}

func benchPropagation(b *testing.B, cfg lab.Config) {
	r := startLab(b, cfg)
	eventually(b, 60*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 2) })

	// waitMined polls the seed's height every 1 ms until it exceeds h.
	waitMined := func(h int) (int, time.Time) {
		deadline := time.Now().Add(time.Minute)
		for {
			sh, err := height(r.Seed)
			if err != nil {
				b.Fatal(err)
			}
			if sh > h {
				return sh, time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatalf("the seed mined nothing for a minute (height %d)", h)
			}
			time.Sleep(time.Millisecond)
		}
	}
	h, err := height(r.Seed)
	if err != nil {
		b.Fatal(err)
	}
	h, first := waitMined(h) // the reference for the block interval
	h0, last := h, first
	var spread time.Duration
	b.ResetTimer()
	for range b.N {
		h, last = waitMined(h)
		// Until every node has that height.
		for _, n := range r.Nodes[1:] {
			for {
				nh, err := height(n)
				if err != nil {
					b.Fatal(err)
				}
				if nh >= h {
					break
				}
				if time.Since(last) > 10*time.Second {
					b.Fatalf("%s still at %d, 10s after the seed reached %d", n.Name(), nh, h)
				}
				time.Sleep(time.Millisecond)
			}
		}
		spread += time.Since(last)
	}
	b.StopTimer()
	b.ReportMetric(float64(spread.Microseconds())/1000/float64(b.N), "ms/block-to-all")
	b.ReportMetric(last.Sub(first).Seconds()/float64(h-h0), "s/block")
}
