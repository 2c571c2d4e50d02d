package peer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

const testDifficulty = 2

// testNode is a node running on a transport of its own (UDP on 127.0.0.1
// unless the test gives another) until the test ends, or stop.
type testNode struct {
	*peer.Node
	addr netip.AddrPort
	stop func() // stops the node and closes its transport; once
}

type nodeOpt func(*peer.Config)

// startNode starts a node over UDP on 127.0.0.1 holding blocks, joined
// through seeds, at the test timings.
func startNode(t testing.TB, name string, blocks []*chain.Block, seeds []netip.AddrPort, opts ...nodeOpt) *testNode {
	t.Helper()
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startNodeOn(t, tr, name, blocks, seeds, opts...)
}

// startNodeOn is startNode on the transport tr.
func startNodeOn(t testing.TB, tr peer.Transport, name string, blocks []*chain.Block, seeds []netip.AddrPort, opts ...nodeOpt) *testNode {
	t.Helper()
	cfg := peer.Config{
		Name: name, Advertise: tr.LocalAddr(), Seeds: seeds, Difficulty: testDifficulty,
		Timings: peer.TestTimings(), Log: testLogger(t), RandSeed: 1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ch, err := chain.New(cfg.Difficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 0 {
		if err := ch.Adopt(0, blocks); err != nil {
			t.Fatalf("%s: test chain: %v", name, err)
		}
	}
	n, err := peer.New(cfg, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := n.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			t.Errorf("%s: did not stop within 2s", name)
		}
		tr.Close()
	})
	t.Cleanup(stop)
	return &testNode{Node: n, addr: tr.LocalAddr(), stop: stop}
}

// testLogger logs to the test's log at debug level when -v is given.
func testLogger(t testing.TB) zerolog.Logger {
	if _, isBench := t.(*testing.B); isBench || !testing.Verbose() {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// eventually polls cond every 10ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *testNode) status(t testing.TB) peer.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raw is a bare UDP socket for playing a peer by hand, as nc -u would.
type raw struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort
}

func newRaw(t *testing.T) *raw {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &raw{t: t, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

func (r *raw) send(to netip.AddrPort, m protocol.Message) {
	r.t.Helper()
	data, err := protocol.Encode(m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendRaw(to, data)
}

func (r *raw) sendRaw(to netip.AddrPort, data []byte) {
	r.t.Helper()
	if _, err := r.conn.WriteToUDPAddrPort(data, to); err != nil {
		r.t.Fatal(err)
	}
}

// recv returns the next datagram's message, or nil after timeout.
func (r *raw) recv(timeout time.Duration) (protocol.Message, netip.AddrPort) {
	buf := make([]byte, 65536)
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := r.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}
	}
	m, err := protocol.Parse(buf[:n])
	if err != nil {
		r.t.Errorf("unparseable datagram from %s: %v: %q", from, err, buf[:n])
		return nil, from
	}
	return m, from
}

// recvType waits up to timeout for a message of type typ, skipping others.
func (r *raw) recvType(typ string, timeout time.Duration) protocol.Message {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, _ := r.recv(time.Until(deadline))
		if m != nil && m.Type() == typ {
			return m
		}
	}
	return nil
}

// fakePeer answers STATS and GET_BLOCK from a fixed block list, which need
// not be valid: the liar of the tests. It counts the GET_BLOCKs it serves.
type fakePeer struct {
	*raw
	mu     sync.Mutex
	blocks []*chain.Block
	served int
	silent bool // answers nothing
	stall  bool // answers STATS but not GET_BLOCK
	out    *raw // when set, replies go out from this other socket
}

// serve handles, on its own goroutine until the socket closes, every
// datagram r receives that parses as a message; the rest are skipped.
func (r *raw) serve(handle func(from netip.AddrPort, m protocol.Message)) {
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := r.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if m, err := protocol.Parse(buf[:n]); err == nil {
				handle(from, m)
			}
		}
	}()
}

func startFake(t *testing.T, blocks []*chain.Block) *fakePeer {
	f := &fakePeer{raw: newRaw(t), blocks: blocks}
	f.serve(func(from netip.AddrPort, m protocol.Message) {
		f.mu.Lock()
		silent, stall := f.silent, f.stall
		f.mu.Unlock()
		if silent {
			return
		}
		switch m := m.(type) {
		case protocol.Stats:
			top := blocks[len(blocks)-1]
			f.reply(from, protocol.StatsReply{Height: len(blocks), Hash: top.Hash})
		case protocol.GetBlock:
			if stall {
				return
			}
			f.mu.Lock()
			f.served++
			f.mu.Unlock()
			var b *chain.Block
			if m.Height >= 0 && m.Height < len(blocks) {
				b = blocks[m.Height]
			}
			f.reply(from, protocol.GetBlockReply{Block: b})
		}
	})
	return f
}

func (f *fakePeer) reply(to netip.AddrPort, m protocol.Message) {
	data, _ := protocol.Encode(m)
	conn := f.conn
	f.mu.Lock()
	if f.out != nil && m.Type() != "STATS_REPLY" { // as the course peer that answers from another socket
		conn = f.out.conn
	}
	f.mu.Unlock()
	conn.WriteToUDPAddrPort(data, to)
}

func (f *fakePeer) servedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

// tamper returns a copy of blocks whose block at height h has a changed
// message but its old hash: invalid, yet well-formed.
func tamper(blocks []*chain.Block, h int) []*chain.Block {
	out := append([]*chain.Block(nil), blocks...)
	b := out[h].Clone()
	b.Messages = []string{"forged"}
	out[h] = b
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

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

// count returns how many times s occurs in the log.
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
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

// withReplyRate sets the node's reply rate limit.
func withReplyRate(rate float64, burst int) nodeOpt {
	return func(c *peer.Config) { c.Limits.ReplyRate, c.Limits.ReplyBurst = rate, burst }
}
