package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/client"
	"blockpeer/internal/vectors"
	"blockpeer/peer"
	"blockpeer/protocol"
)

const testDifficulty = 2

// testChain is a valid chain of n blocks at testDifficulty.
func testChain(n int) []*chain.Block {
	return chain.Extend(nil, n, testDifficulty, "test", 1_700_000_000)
}

// startNode runs a real blockpeer node holding blocks on 127.0.0.1 (an
// ephemeral port, no seeds, short timings) until the test ends.
func startNode(t testing.TB, blocks []*chain.Block) netip.AddrPort {
	t.Helper()
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.New(testDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 0 {
		if err := ch.Adopt(0, blocks); err != nil {
			t.Fatal(err)
		}
	}
	n, err := peer.New(peer.Config{
		Name: "real", Advertise: tr.LocalAddr(), Difficulty: testDifficulty, Log: zerolog.Nop(), RandSeed: 1,
		Timings: peer.Timings{
			GossipInterval: time.Second, PeerTimeout: 10 * time.Second, ConsensusInterval: 5 * time.Second,
			JoinDelay: 100 * time.Millisecond, StatsWindow: 150 * time.Millisecond, RequestTimeout: 200 * time.Millisecond,
			SeenIDTTL: time.Minute, Tick: 10 * time.Millisecond,
		},
	}, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("node did not stop within 2s")
		}
		tr.Close()
	})
	return tr.LocalAddr()
}

// checkConfig is a check of addr at the test difficulty, with the default
// timeout: far above a loopback reply, even on a loaded machine.
func checkConfig(addr netip.AddrPort) client.CheckConfig {
	return client.CheckConfig{Config: client.Config{Target: addr.String(), Timeout: time.Second, Difficulty: testDifficulty}}
}

// slowMachine reports a latency WARN: the median reply took over 50 ms,
// which on loopback only a machine too busy to schedule the peer causes.
// The tests tolerate it (and log it); every other check is strict.
func slowMachine(t *testing.T, res client.Result) bool {
	if res.Name == "latency" && res.Status == client.Warn {
		t.Logf("tolerated on a busy machine: %s %s [%s]", res.Status, res.Detail, res.Evidence)
		return true
	}
	return false
}

func runCheck(t *testing.T, cfg client.CheckConfig) (*client.Report, string) {
	t.Helper()
	var out bytes.Buffer
	r, err := client.Check(context.Background(), cfg, &out, client.Options{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("check %s:\n%s", cfg.Target, out.String())
	return r, out.String()
}

// lines returns the report lines starting with status.
func lines(out, status string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, status+" ") {
			got = append(got, l)
		}
	}
	return got
}

var allChecks = []string{"stats", "stats-height", "genesis", "top-block", "last-50", "past-top", "reply-to-source",
	"gossip-reply", "gossip-forward", "junk", "reply-source", "latency", "datagram-size"}

func TestCheckRealNodeAllPass(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	addr := startNode(t, testChain(30))
	r, out := runCheck(t, checkConfig(addr))
	if !r.Passed {
		t.Errorf("report not passed")
	}
	var names []string
	for _, res := range r.Results {
		names = append(names, res.Name)
		if res.Status != client.Pass && !slowMachine(t, res) {
			t.Errorf("%s: %s %s [%s]", res.Name, res.Status, res.Detail, res.Evidence)
		}
	}
	if strings.Join(names, " ") != strings.Join(allChecks, " ") {
		t.Errorf("checks run: %v, want %v", names, allChecks)
	}
	if n := len(lines(out, "PASS")) + len(lines(out, "WARN  latency")); n != len(allChecks) {
		t.Errorf("%d PASS lines, want %d", n, len(allChecks))
	}
	// Bounded: the datagrams a check sends do not depend on the peer
	// (the last 50 blocks at most, one resend each at worst, is 100).
	if r.Sent > 140 {
		t.Errorf("check sent %d datagrams", r.Sent)
	}
}

func TestCheckFullChain(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	addr := startNode(t, testChain(300))
	cfg := checkConfig(addr)
	cfg.Full = true
	r, out := runCheck(t, cfg)
	if !r.Passed {
		t.Fatalf("report not passed")
	}
	if !strings.Contains(out, "PASS  full-chain      blocks 0..299 (300) validate and link") {
		t.Errorf("no full-chain line for 300 blocks")
	}
}

func TestCheckNothingListening(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	conn.Close() // nothing listens there now
	cfg := checkConfig(addr)
	cfg.Timeout = 200 * time.Millisecond // waited out whole: nothing answers
	r, out := runCheck(t, cfg)
	if r.Passed || len(r.Results) != 1 {
		t.Fatalf("passed %v with %d results, want one FAIL", r.Passed, len(r.Results))
	}
	want := fmt.Sprintf("FAIL  stats           no reply from %s within 200ms: is it running, is the port right?", addr)
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q", want)
	}
}

// flaw is what a broken test peer gets wrong.
type flaw int

const (
	correct         flaw = iota
	offByOne             // STATS height is the top's index
	noneStrings          // "None" in every field for a missing block
	silentUnknown        // no reply for a height it lacks
	replyFromOther       // replies go out from a second socket
	replyToFirst         // replies go to the first address it heard from, not the source
	tampered             // block 10 has a changed message under its old hash
	forwardTwice         // forwards a gossip id every time it comes
	deafAfterJunk        // stops answering after a datagram over 1024 bytes
	forwardToSender      // forwards gossip back to whoever sent it
	oversizeReply        // pads STATS_REPLY over 1024 bytes
	dropFirstAsk         // ignores the first GET_BLOCK for each height
	paddedBlock          // pads its GET_BLOCK_REPLYs over 1024 bytes
)

// brokenPeer is a small peer written from the spec, correct but for one
// flaw. It keeps the gossip members it hears of and forwards new gossip
// ids to all of them but the originator and the sender.
type brokenPeer struct {
	t      *testing.T
	conn   *net.UDPConn
	out    *net.UDPConn // the second socket of replyFromOther
	blocks []*chain.Block
	flaw   flaw

	mu      sync.Mutex
	members []netip.AddrPort
	seen    map[string]bool
	first   netip.AddrPort
	deaf    bool
	asked   map[int]int // GET_BLOCKs per height
	wave    int         // heights asked before the first resend came
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func startBroken(t *testing.T, f flaw, blocks []*chain.Block) *brokenPeer {
	p := &brokenPeer{t: t, conn: listen(t), blocks: blocks, flaw: f, seen: map[string]bool{}, asked: map[int]int{}}
	p.out = p.conn
	if f == replyFromOther {
		p.out = listen(t)
	}
	if f == tampered {
		p.blocks = append([]*chain.Block(nil), blocks...)
		b := p.blocks[10].Clone()
		b.Messages = []string{"forged"}
		p.blocks[10] = b
	}
	go p.serve()
	return p
}

func (p *brokenPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *brokenPeer) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p.handle(from, buf[:n])
	}
}

func (p *brokenPeer) handle(from netip.AddrPort, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.first.IsValid() {
		p.first = from
	}
	if p.flaw == deafAfterJunk && len(data) > protocol.MaxDatagram {
		p.deaf = true
	}
	if p.deaf {
		return
	}
	m, err := protocol.Parse(data)
	if err != nil {
		return
	}
	to := from
	if p.flaw == replyToFirst {
		to = p.first
	}
	top := p.blocks[len(p.blocks)-1]
	switch m := m.(type) {
	case protocol.Stats:
		h := len(p.blocks)
		if p.flaw == offByOne {
			h--
		}
		if p.flaw == oversizeReply {
			p.sendRaw(to, []byte(fmt.Sprintf(`{"type":"STATS_REPLY","height":%d,"hash":"%s","pad":"%s"}`, h, top.Hash, strings.Repeat(" ", 1100))))
			return
		}
		p.send(to, protocol.StatsReply{Height: h, Hash: top.Hash})
	case protocol.GetBlock:
		p.asked[m.Height]++
		if p.asked[m.Height] == 2 && p.wave == 0 {
			p.wave = len(p.asked)
		}
		if p.flaw == dropFirstAsk && p.asked[m.Height] == 1 {
			return
		}
		if m.Height >= 0 && m.Height < len(p.blocks) && p.flaw == paddedBlock {
			data, _ := protocol.Encode(protocol.GetBlockReply{Block: p.blocks[m.Height]})
			p.sendRaw(to, append(data[:len(data)-2], []byte(`,"pad":"`+strings.Repeat(" ", 1000)+`"}`)...))
			return
		}
		if m.Height >= 0 && m.Height < len(p.blocks) {
			p.send(to, protocol.GetBlockReply{Block: p.blocks[m.Height]})
			return
		}
		switch p.flaw {
		case silentUnknown:
		case noneStrings:
			p.sendRaw(to, []byte(`{"type":"GET_BLOCK_REPLY","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`))
		default:
			p.send(to, protocol.GetBlockReply{})
		}
	case protocol.Gossip:
		origin := netip.MustParseAddrPort(fmt.Sprintf("%s:%d", m.Host, m.Port))
		self := p.addr()
		p.send(origin, protocol.GossipReply{Host: self.Addr().String(), Port: int(self.Port()), Name: "broken"})
		if !contains(p.members, origin) {
			p.members = append(p.members, origin)
		}
		if p.seen[m.ID] && p.flaw != forwardTwice {
			return
		}
		p.seen[m.ID] = true
		for _, to := range p.members {
			if to != origin && (to != from || p.flaw == forwardToSender) {
				p.send(to, m)
			}
		}
		if p.flaw == forwardToSender && !contains(p.members, from) {
			p.send(from, m)
		}
	}
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func (p *brokenPeer) send(to netip.AddrPort, m protocol.Message) {
	data, err := protocol.Encode(m)
	if err != nil {
		p.t.Errorf("broken peer: %v", err)
		return
	}
	p.sendRaw(to, data)
}

func (p *brokenPeer) sendRaw(to netip.AddrPort, data []byte) {
	p.out.WriteToUDPAddrPort(data, to)
}

// TestCheckBrokenPeers: each broken peer gives exactly one FAIL line, the
// one its flaw deserves, and every other check passes.
func TestCheckBrokenPeers(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward), on its own ports
	blocks := testChain(20)
	cases := []struct {
		name  string
		flaw  flaw
		check string // the one FAIL expected ("" for none)
		says  string
	}{
		{"correct", correct, "", ""},
		{"STATS off by one", offByOne, "stats-height", "STATS says height 19 but block 19 carries the STATS hash: height is the top's index, not the number of blocks (off by one)"},
		{`"None" for a missing block`, noneStrings, "past-top", `GET_BLOCK 20 (past the top): 6 fields are the string "None", the spec's answer is null`},
		{"silent on unknown heights", silentUnknown, "past-top", "no reply to GET_BLOCK 20 (past the top): the spec's answer is six nulls, not silence  [sent {\"type\":\"GET_BLOCK\",\"height\":20}; got nothing in 1s]"},
		{"replies from another port", replyFromOther, "reply-source", "replies come from another port than"},
		{"replies to the first address, not the source", replyToFirst, "reply-to-source", "was answered at our port"},
		{"a tampered block", tampered, "last-50", "block 10: hash does not match the block's contents"},
		{"a gossip id forwarded twice", forwardTwice, "gossip-forward", "gossip id forwarded 3 times to"},
		{"gossip forwarded back to its sender", forwardToSender, "gossip-forward", "the gossip was forwarded back to its sender"},
		{"stops answering after junk", deafAfterJunk, "junk", "stopped answering STATS after a 65000-byte datagram"},
		{"an oversize reply", oversizeReply, "datagram-size", "datagrams over 1024 bytes"},
		{"padded block replies", paddedBlock, "datagram-size", "datagrams over 1024 bytes (peers read with a 1024-byte buffer): 11"},
	}
	// The checks mostly wait (1 s for gossip-forward alone): they run all
	// at once, each on its own broken peer, and the subtests read their
	// reports. The context bounds them all.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type checked struct {
		r   *client.Report
		out string
		err error
	}
	results := make([]checked, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		cfg := checkConfig(startBroken(t, tc.flaw, blocks).addr())
		wg.Go(func() {
			var out bytes.Buffer
			r, err := client.Check(ctx, cfg, &out, client.Options{})
			results[i] = checked{r, out.String(), err}
		})
	}
	wg.Wait()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, out, err := results[i].r, results[i].out, results[i].err
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			t.Logf("check:\n%s", out)
			fails := lines(out, "FAIL")
			if tc.check == "" {
				if len(fails) > 0 || !r.Passed {
					t.Fatalf("FAIL lines for a correct peer: %q", fails)
				}
				for _, res := range r.Results {
					if res.Status != client.Pass && !slowMachine(t, res) {
						t.Errorf("%s: %s %s", res.Name, res.Status, res.Detail)
					}
				}
				return
			}
			if r.Passed {
				t.Errorf("report passed")
			}
			if len(fails) != 1 {
				t.Fatalf("%d FAIL lines, want exactly one (%s): %q", len(fails), tc.check, fails)
			}
			prefix := fmt.Sprintf("FAIL  %-15s ", tc.check)
			if !strings.HasPrefix(fails[0], prefix) || !strings.Contains(fails[0], tc.says) {
				t.Errorf("FAIL line\n  %s\nwant it to start %q and say %q", fails[0], prefix, tc.says)
			}
			for _, res := range r.Results {
				if res.Name != tc.check && res.Status != client.Pass && !slowMachine(t, res) {
					t.Errorf("%s: %s %s", res.Name, res.Status, res.Detail)
				}
			}
		})
	}
}

// TestChainPipelined: chain keeps many GET_BLOCKs in flight and resends
// what gets no answer, here the first request for every height.
func TestChainPipelined(t *testing.T) {
	blocks := testChain(100)
	p := startBroken(t, dropFirstAsk, blocks)
	c, err := client.Dial(context.Background(), client.Config{Target: p.addr().String(), Timeout: 200 * time.Millisecond, Difficulty: testDifficulty})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	if err := c.Do([]string{"chain"}, &out, client.Options{}); err != nil {
		t.Fatalf("chain: %v\n%s", err, out.String())
	}
	t.Logf("%s", out.String())
	for _, w := range []string{"blocks 0..99 (100) from " + p.addr().String() + ": all valid at difficulty 2 and linked", "200 requests (100 resent)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q", w)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wave < 16 {
		t.Errorf("only %d heights were asked before the first resend: not pipelined", p.wave)
	}
	t.Logf("%d GET_BLOCKs in flight before the first resend", p.wave)
}

func TestCheckEmptyChain(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	addr := startNode(t, nil)
	r, out := runCheck(t, checkConfig(addr))
	for _, res := range r.Results {
		if res.Status != client.Pass && !slowMachine(t, res) {
			t.Errorf("%s: %s %s", res.Name, res.Status, res.Detail)
		}
	}
	if !strings.Contains(out, "PASS  stats           height 0: the peer has no chain yet") || !strings.Contains(out, "PASS  past-top        GET_BLOCK 0 gives the six-null reply") {
		t.Errorf("empty chain lines missing")
	}
}

// TestCheckRealBlocks: a peer serving the first two real blocks of the
// Fall 2024 chain (the spec's vectors) passes at the course's
// difficulty 8, and get marks the real block 1 valid.
func TestCheckRealBlocks(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	v := vectors.Load(t)
	blocks := []*chain.Block{v.Find(t, "fall2024-main", 0).Copy(), v.Find(t, "fall2024-main", 1).Copy()}
	p := startBroken(t, correct, blocks)
	cfg := checkConfig(p.addr())
	cfg.Difficulty = 8
	r, _ := runCheck(t, cfg)
	for _, res := range r.Results {
		if res.Status != client.Pass && !slowMachine(t, res) {
			t.Errorf("%s: %s %s", res.Name, res.Status, res.Detail)
		}
	}
	c, err := client.Dial(context.Background(), cfg.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	if err := c.Do([]string{"get", "1"}, &out, client.Options{}); err != nil {
		t.Fatalf("get 1: %v\n%s", err, out.String())
	}
	for _, w := range []string{`messages   "test"`, "hash       5c25ae99..00000000", "computed   5c25ae99..00000000 (on top of block 0, 75977fa0..00000000)", "valid      yes, at difficulty 8"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("get 1 output lacks %q:\n%s", w, out.String())
		}
	}
}

// TestCheckOversizeBlock: a valid block that encodes over 1024 bytes even
// raw (minedBy of 20 emoji, 10 messages of 20 emoji) is sent whole, as the
// spec says; check passes it, and chain fetches it.
func TestCheckOversizeBlock(t *testing.T) {
	t.Parallel() // waits out 1 s timeouts (gossip-forward) on its own ports
	blocks := testChain(1)
	b := &chain.Block{Height: 1, MinedBy: strings.Repeat("😀", 20), Timestamp: 1_700_000_001}
	for range chain.MaxMessages {
		b.Messages = append(b.Messages, strings.Repeat("🧱", chain.MaxMessageRunes))
	}
	if !chain.Mine(blocks[0].Hash, b, testDifficulty, 1<<30) {
		t.Fatal("could not mine the oversize block")
	}
	blocks = append(blocks, b)
	addr := startNode(t, blocks)
	r, out := runCheck(t, checkConfig(addr))
	for _, res := range r.Results {
		if res.Status != client.Pass && !slowMachine(t, res) {
			t.Errorf("%s: %s %s", res.Name, res.Status, res.Detail)
		}
	}
	if !strings.Contains(out, "carrying a block too big for it even raw (sent whole, as the spec says)") {
		t.Errorf("datagram-size does not say the oversize block was sent whole")
	}

	c, err := client.Dial(context.Background(), client.Config{Target: addr.String(), Difficulty: testDifficulty})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var chainOut bytes.Buffer
	if err := c.Do([]string{"chain"}, &chainOut, client.Options{}); err != nil || !strings.Contains(chainOut.String(), "all valid") {
		t.Errorf("chain: %v\n%s", err, chainOut.String())
	}
}

// TestChainWhenSendsFail: GET_BLOCKs that cannot be sent count as tries:
// chain gives up on them and says why, rather than resending forever.
func TestChainWhenSendsFail(t *testing.T) {
	conn := listen(t)
	c, err := client.Dial(context.Background(), client.Config{Target: conn.LocalAddr().String(), Timeout: 50 * time.Millisecond, Difficulty: testDifficulty})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // every send fails from now on
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- c.Do([]string{"chain", "0", "3"}, &out, client.Options{}) }()
	select {
	case err := <-done:
		t.Logf("%s(err %v)", out.String(), err)
		if err == nil || !strings.Contains(out.String(), "not sent  16 GET_BLOCKs, the last: send to") {
			t.Errorf("chain with every send failing: err %v, output lacks the 16 sends that failed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chain never returned: it resends what it cannot send forever")
	}
}
