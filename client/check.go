package client

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// CheckConfig configures a conformance check.
type CheckConfig struct {
	Config
	Last int  // how many of the top blocks to fetch and verify (default 50)
	Full bool // fetch and verify the whole chain instead
}

// Statuses of a check.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Warn = "WARN" // not a failure: something the checker could not see, or a peer that is slow
)

// Result is the outcome of one check, with its evidence.
type Result struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
	Evidence string `json:"evidence,omitempty"`
}

// Report is a whole check run.
type Report struct {
	Target  string   `json:"target"`
	Results []Result `json:"checks"`
	Sent    int      `json:"datagrams_sent"`
	TookS   float64  `json:"took_s"`
	Passed  bool     `json:"passed"` // no FAIL (WARNs allowed)
}

// slowReply is the latency above which a reply is late for the peers that
// ask from a fresh port and wait only 20 to 50 ms (spec section 1).
const slowReply = 50 * time.Millisecond

// Check runs every conformance check against the peer at cfg.Target,
// printing one line per check to out as it goes (or the whole report as
// JSON at the end with opt.JSON). It sends only to the target, a bounded
// number of datagrams (-full aside). The report's Passed is false when a
// check failed; the error is for a run that could not start, or
// ErrInterrupted when ctx was cancelled (the checks done so far are
// printed and in the report; the one cut short is not).
func Check(ctx context.Context, cfg CheckConfig, out io.Writer, opt Options) (*Report, error) {
	if cfg.Last <= 0 {
		cfg.Last = 50
	}
	if cfg.Name == "" {
		cfg.Name = "blockpeer-check"
	}
	c, err := Dial(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	k := &checker{c: c, cfg: cfg, out: out, opt: opt, blocks: map[int]*chain.Block{},
		report: &Report{Target: cfg.Target}}
	start := time.Now()
	if !opt.JSON {
		what := fmt.Sprintf("the last %d blocks", cfg.Last)
		if cfg.Full {
			what = "the whole chain"
		}
		fmt.Fprintf(out, "checking %s from %s: difficulty %d, timeout %v, %s\n", cfg.Target, c.main.Addr(), cfg.Difficulty, c.cfg.Timeout, what)
	}
	k.run()
	r := k.report
	if c.interrupted() {
		if !opt.JSON {
			fmt.Fprintf(out, "interrupted after %d checks\n", len(r.Results))
		}
		return r, ErrInterrupted
	}
	r.Sent, r.TookS = c.Sent(), time.Since(start).Seconds()
	r.Passed = !slices.ContainsFunc(r.Results, func(x Result) bool { return x.Status == Fail })
	if opt.JSON {
		return r, writeJSON(out, r)
	}
	counts := map[string]int{}
	for _, x := range r.Results {
		counts[x.Status]++
	}
	fmt.Fprintf(out, "%d checks: %d PASS, %d WARN, %d FAIL; %d datagrams sent in %.1fs\n",
		len(r.Results), counts[Pass], counts[Warn], counts[Fail], r.Sent, r.TookS)
	return r, nil
}

// checker holds what the checks learn about the peer as they go.
type checker struct {
	c      *Client
	cfg    CheckConfig
	out    io.Writer
	opt    Options
	report *Report

	statsHeight int                  // the height STATS reported
	statsHash   string               // the hash STATS reported
	height      int                  // number of blocks the peer really holds (-1: unknown)
	blocks      map[int]*chain.Block // blocks received, by height
	rtts        []time.Duration      // latency of every answered request
	gossipSock  *socket              // our second address, advertised by GOSSIP
}

func (k *checker) add(name, status, evidence, format string, args ...any) {
	if k.c.interrupted() {
		return // the check was cut short: its result would be a false FAIL
	}
	r := Result{Name: name, Status: status, Detail: k.opt.shorten(fmt.Sprintf(format, args...)), Evidence: evidence}
	k.report.Results = append(k.report.Results, r)
	if k.opt.JSON {
		return
	}
	line := fmt.Sprintf("%s  %-15s %s", r.Status, r.Name, r.Detail)
	if r.Evidence != "" {
		line += "  [" + r.Evidence + "]"
	}
	fmt.Fprintln(k.out, line)
}

func (k *checker) run() {
	if !k.checkStats() {
		return // nothing answers: the other checks would only repeat it
	}
	for _, check := range []func(){
		k.checkHeight, k.checkGenesis, k.checkTop, k.checkRange, k.checkPastTop, k.checkReplyToSource,
		k.checkGossipReply, k.checkGossipForward, k.checkJunk, k.checkReplySource, k.checkLatency, k.checkSizes,
	} {
		if k.c.interrupted() {
			return
		}
		check()
	}
}

// exchange is Client.exchange, keeping the latency.
func (k *checker) exchange(s *socket, m protocol.Message, typ string, ok func(protocol.Message) bool) (reply, error) {
	r, err := k.c.exchange(s, m, typ, ok)
	if err == nil {
		k.rtts = append(k.rtts, r.Latency)
	}
	return r, err
}

// getBlock asks for block h from the main socket; the block is kept.
func (k *checker) getBlock(h int) (reply, protocol.GetBlockReply, error) {
	r, g, err := k.c.getBlock(k.c.main, h)
	if err == nil {
		k.rtts = append(k.rtts, r.Latency)
		if g.Block != nil {
			k.blocks[h] = g.Block
		}
	}
	return r, g, err
}

// block returns block h, from what was received or by asking.
func (k *checker) block(h int) (*chain.Block, reply, error) {
	if b := k.blocks[h]; b != nil {
		return b, reply{}, nil
	}
	r, g, err := k.getBlock(h)
	if err != nil {
		return nil, r, err
	}
	if g.Block == nil {
		return nil, r, fmt.Errorf("no block %d in the reply", h)
	}
	return g.Block, r, nil
}

var (
	hashRE    = regexp.MustCompile(`[0-9a-f]{64}`)
	integerRE = regexp.MustCompile(`^-?[0-9]+$`)
)

// show renders a datagram for evidence: one line, hashes shortened, cut.
func (k *checker) show(data []byte) string {
	s := k.opt.shorten(strings.TrimSpace(string(data)))
	if len(s) > 150 {
		s = fmt.Sprintf("%s... (%d bytes)", s[:150], len(data))
	}
	return s
}

// ev is the evidence of one exchange: what was sent, what came back, when.
func (k *checker) ev(r reply, err error) string {
	if r.Sent == nil {
		return ""
	}
	if err != nil || r.packet.Data == nil {
		return fmt.Sprintf("sent %s; got nothing in %v", k.show(r.Sent), k.c.cfg.Timeout)
	}
	return fmt.Sprintf("sent %s; got %s in %s", k.show(r.Sent), k.show(r.packet.Data), fmtDur(r.Latency))
}

func (k *checker) checkStats() bool {
	const name = "stats"
	k.height = -1
	r, err := k.exchange(k.c.main, protocol.Stats{}, protocol.TypeStatsReply, nil)
	if err != nil {
		k.add(name, Fail, k.ev(r, err), "%v", err)
		return false
	}
	root := gjson.ParseBytes(r.packet.Data)
	height, hash := root.Get("height"), root.Get("hash")
	d := k.cfg.Difficulty
	if height.Type != gjson.Number || !integerRE.MatchString(height.Raw) {
		k.add(name, Fail, k.ev(r, nil), "height %s is not an integer", height.Raw)
		return true
	}
	k.statsHeight = int(height.Int())
	switch {
	case k.statsHeight < 0:
		k.add(name, Fail, k.ev(r, nil), "height %d: an empty chain is height 0 (hash null)", k.statsHeight)
	case k.statsHeight == 0:
		k.height = 0
		if hash.Type != gjson.Null {
			k.add(name, Warn, k.ev(r, nil), "height 0 (no chain) with hash %s: the spec says null", hash.Raw)
		} else {
			k.add(name, Pass, k.ev(r, nil), "height 0: the peer has no chain yet (block checks have nothing to check)")
		}
	case hash.Type != gjson.String || !chain.IsHash(hash.Str):
		k.add(name, Fail, k.ev(r, nil), "hash %s is not 64 lower-case hex digits", hash.Raw)
	case !chain.MeetsDifficulty(hash.Str, d):
		k.add(name, Fail, k.ev(r, nil), "hash %s does not end with %d zeros (wrong -difficulty?)", k.opt.hash(hash.Str), d)
	default:
		k.statsHash = hash.Str
		k.add(name, Pass, k.ev(r, nil), "height %d, hash %s ends with %d zeros", k.statsHeight, k.opt.hash(hash.Str), d)
	}
	return true
}

// checkHeight finds the peer's real number of blocks: the block at
// height-1 must carry the STATS hash.
func (k *checker) checkHeight() {
	const name = "stats-height"
	h := k.statsHeight
	if k.statsHash == "" {
		if k.height != 0 {
			k.add(name, Fail, "", "no usable STATS reply to compare with")
		}
		return
	}
	b, r, err := k.block(h - 1)
	if err == nil && b.Hash == k.statsHash {
		k.height = h
		k.add(name, Pass, k.ev(r, nil), "block %d carries the STATS hash: height counts the blocks", h-1)
		return
	}
	if err != nil && h >= 2 { // is the top one lower? (height one too many)
		if pb, _, perr := k.block(h - 2); perr == nil && pb.Hash == k.statsHash {
			k.height = h - 1
			k.add(name, Fail, k.ev(r, err), "STATS says %d blocks but the top (hash %s) is block %d: height is one too many", h, k.opt.hash(k.statsHash), h-2)
			return
		}
	}
	if nb, nr, nerr := k.block(h); nerr == nil && nb.Hash == k.statsHash {
		k.height = h + 1
		k.add(name, Fail, k.ev(nr, nil), "STATS says height %d but block %d carries the STATS hash: height is the top's index, not the number of blocks (off by one)", h, h)
		return
	}
	if err != nil {
		k.add(name, Fail, k.ev(r, err), "STATS says %d blocks but block %d is not there: %v", h, h-1, err)
		return
	}
	k.height = h
	k.add(name, Fail, k.ev(r, nil), "block %d has hash %s, not the STATS hash %s", h-1, k.opt.hash(b.Hash), k.opt.hash(k.statsHash))
}

func (k *checker) checkGenesis() {
	const name = "genesis"
	if k.height <= 0 {
		return
	}
	b, r, err := k.block(0)
	if err != nil {
		k.add(name, Fail, k.ev(r, err), "GET_BLOCK 0: %v", err)
		return
	}
	if err := chain.Validate(b, "", 0, k.cfg.Difficulty); err != nil {
		k.add(name, Fail, k.ev(r, nil), "block 0 does not validate: %v", err)
		return
	}
	k.add(name, Pass, k.ev(r, nil), "block 0 validates: hash %s recomputed, %d zeros", k.opt.hash(b.Hash), k.cfg.Difficulty)
}

func (k *checker) checkTop() {
	const name = "top-block"
	top := k.height - 1
	if top < 1 {
		if top == 0 {
			k.add(name, Pass, "", "the top is block 0 (checked above)")
		}
		return
	}
	b, r, err := k.block(top)
	if err != nil {
		k.add(name, Fail, k.ev(r, err), "GET_BLOCK %d (the top): %v", top, err)
		return
	}
	prev, pr, err := k.block(top - 1)
	if err != nil {
		k.add(name, Fail, k.ev(pr, err), "GET_BLOCK %d (below the top): %v", top-1, err)
		return
	}
	if err := chain.Validate(b, prev.Hash, top, k.cfg.Difficulty); err != nil {
		k.add(name, Fail, k.ev(r, nil), "block %d (the top) does not validate on block %d: %v", top, top-1, err)
		return
	}
	k.add(name, Pass, k.ev(r, nil), "block %d validates on block %d: hash %s recomputed", top, top-1, k.opt.hash(b.Hash))
}

// checkRange fetches the last K blocks (or all with -full), pipelined, and
// verifies that they validate and link.
func (k *checker) checkRange() {
	name := fmt.Sprintf("last-%d", k.cfg.Last)
	if k.cfg.Full {
		name = "full-chain"
	}
	if k.height <= 0 {
		return
	}
	top := k.height - 1
	first := max(0, top-k.cfg.Last) // one below the range: its hash links the first
	if k.cfg.Full {
		first = 0
	}
	var progress func(int, int, time.Duration)
	if k.cfg.Full && !k.opt.JSON {
		progress = func(got, total int, el time.Duration) {
			fmt.Fprintf(k.out, "      ... %d/%d blocks, %.0f blocks/s\n", got, total, float64(got)/el.Seconds())
		}
	}
	f := k.c.fetchRange(first, top, progress)
	blocks, from, prev := f.Blocks, first, ""
	if first > 0 && !k.cfg.Full {
		if blocks[0] == nil {
			k.add(name, Fail, "", "block %d not received (%d requests)", first, f.Requests)
			return
		}
		prev, blocks, from = blocks[0].Hash, blocks[1:], first+1
	}
	evidence := fmt.Sprintf("GET_BLOCK %d..%d pipelined: %d requests, %d resent, %s", first, top, f.Requests, f.Resent, fmtDur(f.Took))
	if f.SendErrors > 0 {
		evidence += fmt.Sprintf("; %d not sent (%v)", f.SendErrors, f.LastSendError)
	}
	problems := verifyRange(blocks, from, prev, k.cfg.Difficulty)
	if len(problems) > 0 {
		p := problems[0]
		more := ""
		if len(problems) > 1 {
			more = fmt.Sprintf(" (and %d more: %s)", len(problems)-1, heightList(problemHeights(problems[1:])))
		}
		k.add(name, Fail, evidence, "block %d: %s%s", p.Height, p.Error, more)
		return
	}
	k.add(name, Pass, evidence, "blocks %d..%d (%d) validate and link", from, top, len(blocks))
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func problemHeights(ps []rangeProblem) []int {
	hs := make([]int, len(ps))
	for i, p := range ps {
		hs[i] = p.Height
	}
	return hs
}

// checkPastTop asks for the first height the peer does not hold: the
// answer must be the six-null reply.
func (k *checker) checkPastTop() {
	const name = "past-top"
	if k.height < 0 {
		return
	}
	h := k.height
	for grew := 0; ; grew++ {
		from := k.c.mark()
		start := time.Now()
		sent, err := k.c.send(k.c.main, protocol.GetBlock{Height: h})
		if err != nil {
			k.add(name, Fail, "", "%v", err)
			return
		}
		// Any GET_BLOCK_REPLY-typed datagram counts, even one Parse would
		// call nothing ("None") or malformed: that is what is checked.
		p, ok := k.c.await(from, start.Add(k.c.cfg.Timeout), func(p packet) bool {
			return k.c.fromTarget(p) && gjson.GetBytes(p.Data, "type").Str == protocol.TypeGetBlockReply
		})
		r := reply{Sent: sent, packet: p, Latency: p.At.Sub(start)}
		if !ok {
			k.add(name, Fail, k.ev(r, k.c.noReply()), "no reply to GET_BLOCK %d (past the top): the spec's answer is six nulls, not silence", h)
			return
		}
		k.rtts = append(k.rtts, r.Latency)
		root := gjson.ParseBytes(p.Data)
		fields := []string{"height", "minedBy", "nonce", "messages", "hash", "timestamp"}
		allNull, none := true, 0
		for _, f := range fields {
			v := root.Get(f)
			allNull = allNull && v.Exists() && v.Type == gjson.Null
			if v.Type == gjson.String && v.Str == "None" {
				none++
			}
		}
		switch {
		case allNull:
			k.add(name, Pass, k.ev(r, nil), "GET_BLOCK %d gives the six-null reply", h)
			return
		case none > 0:
			k.add(name, Fail, k.ev(r, nil), "GET_BLOCK %d (past the top): %d fields are the string \"None\", the spec's answer is null", h, none)
			return
		}
		m, _ := protocol.Parse(p.Data)
		g, _ := m.(protocol.GetBlockReply)
		if g.Block != nil && grew < 3 && g.Block.Height == h && k.blocks[h-1] != nil &&
			chain.Validate(g.Block, k.blocks[h-1].Hash, h, k.cfg.Difficulty) == nil {
			// A real next block: the chain grew since STATS. Ask past it.
			k.blocks[h] = g.Block
			h++
			continue
		}
		what := "not the six-null reply"
		if g.Block != nil {
			what = "a block that the peer does not hold (made up)"
		}
		k.add(name, Fail, k.ev(r, nil), "GET_BLOCK %d (past the top) gives %s", h, what)
		return
	}
}

// checkReplyToSource asks from fresh ports: the answers must come to them
// (peers ask from a new ephemeral port and wait there).
func (k *checker) checkReplyToSource() {
	const name = "reply-to-source"
	var evs []string
	for _, q := range []struct {
		m   protocol.Message
		typ string
	}{{protocol.Stats{}, protocol.TypeStatsReply}, {protocol.GetBlock{Height: 0}, protocol.TypeGetBlockReply}} {
		s, err := k.c.newSocket()
		if err != nil {
			k.add(name, Fail, "", "%v", err)
			return
		}
		r, err := k.exchange(s, q.m, q.typ, nil)
		ev := fmt.Sprintf("from port %d: %s", s.Addr().Port(), k.ev(r, err))
		if err != nil {
			k.add(name, Fail, ev, "%s from a fresh port: no reply at all", q.m.Type())
			return
		}
		if r.packet.Sock != s {
			k.add(name, Fail, ev+fmt.Sprintf(", at our port %d", r.packet.Sock.Addr().Port()),
				"%s sent from our fresh port %d was answered at our port %d: reply to the datagram's source address", q.m.Type(), s.Addr().Port(), r.packet.Sock.Addr().Port())
			return
		}
		evs = append(evs, fmt.Sprintf("%s from port %d answered there in %s", q.m.Type(), s.Addr().Port(), fmtDur(r.Latency)))
	}
	k.add(name, Pass, strings.Join(evs, "; "), "STATS and GET_BLOCK from fresh ports are answered at those ports")
}

// checkGossipReply advertises a second socket of ours in a GOSSIP sent
// from the main one: the GOSSIP_REPLY must go to the advertised address.
func (k *checker) checkGossipReply() {
	const name = "gossip-reply"
	g, err := k.c.newSocket()
	if err != nil {
		k.add(name, Fail, "", "%v", err)
		return
	}
	k.gossipSock = g
	msg := protocol.Gossip{Host: g.Addr().Addr().String(), Port: int(g.Addr().Port()), ID: uuid.NewString(), Name: k.cfg.Name}
	r, err := k.exchange(k.c.main, msg, protocol.TypeGossipReply, nil)
	if err != nil {
		k.add(name, Fail, k.ev(r, err), "no GOSSIP_REPLY at %s (advertised) nor anywhere else", g.Addr())
		return
	}
	ev := k.ev(r, nil) + fmt.Sprintf(", at port %d", r.packet.Sock.Addr().Port())
	if r.packet.Sock != g {
		k.add(name, Fail, ev, "GOSSIP_REPLY went to the GOSSIP's UDP source (port %d), not to the advertised %s", r.packet.Sock.Addr().Port(), g.Addr())
		return
	}
	gr := r.Msg.(protocol.GossipReply)
	tp := k.c.target
	switch ip, perr := netip.ParseAddr(gr.Host); {
	case gr.Port != int(tp.Port()):
		k.add(name, Fail, ev, "GOSSIP_REPLY carries port %d, but the peer is at port %d", gr.Port, tp.Port())
	case perr != nil || ip.Unmap() != tp.Addr():
		k.add(name, Warn, ev, "GOSSIP_REPLY (name %q) carries host %q, but we reached the peer at %s (fine if that is its other address)", gr.Name, gr.Host, tp.Addr())
	default:
		k.add(name, Pass, ev, "GOSSIP_REPLY (name %q) at the advertised %s, carrying the peer's own %s:%d", gr.Name, g.Addr(), gr.Host, gr.Port)
	}
	// Speak from the advertised address, as a real peer would: a peer
	// that forwards only to addresses it has heard from (an address
	// named in a GOSSIP may be anyone's) may then forward to it.
	k.c.send(g, protocol.GossipReply{Host: g.Addr().Addr().String(), Port: int(g.Addr().Port()), Name: k.cfg.Name})
}

// gossipRepeats is how many times the forward check sends its gossip id.
const gossipRepeats = 3

// checkGossipForward sends one GOSSIP id several times, for an originator
// that is a third socket of ours: the peer must forward it at most once,
// and our second socket, advertised in checkGossipReply, is a peer it may
// forward to.
func (k *checker) checkGossipForward() {
	const name = "gossip-forward"
	if k.gossipSock == nil {
		return
	}
	origin, err := k.c.newSocket()
	if err != nil {
		k.add(name, Fail, "", "%v", err)
		return
	}
	id := uuid.NewString()
	msg := protocol.Gossip{Host: origin.Addr().Addr().String(), Port: int(origin.Addr().Port()), ID: id, Name: k.cfg.Name + "-origin"}
	from := k.c.mark()
	peer := k.peerSources()
	isOurs := func(p packet) bool {
		return peer[p.From] && gjson.GetBytes(p.Data, "type").Str == protocol.TypeGossip && gjson.GetBytes(p.Data, "id").Str == id
	}
	start := time.Now()
	if _, err := k.c.send(k.c.main, msg); err != nil {
		k.add(name, Fail, "", "%v", err)
		return
	}
	first, forwarded := k.c.await(from, start.Add(k.c.cfg.Timeout), func(p packet) bool { return isOurs(p) && p.Sock == k.gossipSock })
	for range gossipRepeats - 1 {
		if _, err := k.c.send(k.c.main, msg); err != nil {
			k.add(name, Fail, "", "%v", err)
			return
		}
	}
	k.c.await(len(k.c.received), time.Now().Add(k.c.cfg.Timeout), func(packet) bool { return false })
	perSock := map[*socket]int{}
	for _, p := range k.c.received[from:] {
		if isOurs(p) {
			perSock[p.Sock]++
		}
	}
	ev := fmt.Sprintf("sent GOSSIP id %s (originator %s) %d times from port %d; our port %d got it %s",
		id[:8], origin.Addr(), gossipRepeats, k.c.main.Addr().Port(), k.gossipSock.Addr().Port(), times(perSock[k.gossipSock]))
	if forwarded {
		ev += fmt.Sprintf(", first after %s", fmtDur(first.At.Sub(start)))
	}
	switch {
	case perSock[origin] > 0:
		k.add(name, Fail, ev, "the gossip was forwarded back to its originator %s", origin.Addr())
	case perSock[k.gossipSock] > 1:
		k.add(name, Fail, ev, "gossip id forwarded %d times to %s: never forward an id twice", perSock[k.gossipSock], k.gossipSock.Addr())
	case perSock[k.c.main] > 0:
		k.add(name, Fail, ev, "the gossip was forwarded back to its sender (port %d)", k.c.main.Addr().Port())
	case perSock[k.gossipSock] == 1:
		k.add(name, Pass, ev, "forwarded once to our other address %s, not again when repeated", k.gossipSock.Addr())
	default:
		k.add(name, Warn, ev, "never forwarded to our address %s: a peer forwards to 3 random peers, so it may know others, or it does not forward", k.gossipSock.Addr())
	}
}

// junk is what the junk check sends, each followed by a STATS.
func junk() []struct{ name, data string } {
	big := `{"type":"JUNK","data":"` + strings.Repeat("x", 65000-len(`{"type":"JUNK","data":""}`)) + `"}`
	return []struct{ name, data string }{
		{"non-JSON", "hello, is this JSON?"},
		{"a JSON array", `[1,2,3]`},
		{"type not a string", `{"type":42}`},
		{"GET_BLOCK height a word", `{"type":"GET_BLOCK","height":"top"}`},
		{"GOSSIP with wrong types", `{"type":"GOSSIP","host":5,"port":"x","id":null,"name":[]}`},
		{"ANNOUNCE with wrong types", `{"type":"ANNOUNCE","height":"1","minedBy":7,"nonce":{},"messages":"hi","hash":"None","timestamp":"now"}`},
		{"a 65000-byte datagram", big},
	}
}

func (k *checker) checkJunk() {
	const name = "junk"
	var names []string
	for _, j := range junk() {
		if err := k.c.sendRaw(k.c.main, []byte(j.data)); err != nil {
			k.add(name, Fail, "", "sending %s: %v", j.name, err)
			return
		}
		names = append(names, j.name)
		r, err := k.exchange(k.c.main, protocol.Stats{}, protocol.TypeStatsReply, nil)
		if err != nil {
			k.add(name, Fail, fmt.Sprintf("sent %s; %s", j.name, k.ev(r, err)), "stopped answering STATS after %s", j.name)
			return
		}
	}
	k.add(name, Pass, "sent "+strings.Join(names, ", "), "STATS answered after each of %d junk datagrams", len(names))
}

// peerSources returns the addresses the peer speaks from: its own, and any
// other port of its host that answered our requests (other peers on the
// same host are not the peer).
func (k *checker) peerSources() map[netip.AddrPort]bool {
	k.c.mark()
	out := map[netip.AddrPort]bool{k.c.target: true}
	for _, p := range k.c.received {
		if k.c.fromTarget(p) && isReply(p) {
			out[p.From] = true
		}
	}
	return out
}

func isReply(p packet) bool {
	t := gjson.GetBytes(p.Data, "type").Str
	return t == protocol.TypeStatsReply || t == protocol.TypeGetBlockReply
}

// checkReplySource looks at every reply so far: each must come from the
// address the requests went to.
func (k *checker) checkReplySource() {
	const name = "reply-source"
	k.c.mark()
	n, others := 0, map[netip.AddrPort]int{}
	for _, p := range k.c.received {
		if k.c.fromTarget(p) && isReply(p) { // answers to our requests
			n++
			if p.From != k.c.target {
				others[p.From]++
			}
		}
	}
	if len(others) > 0 {
		var list []string
		for a, c := range others {
			list = append(list, fmt.Sprintf("%d from %s", c, a))
		}
		slices.Sort(list)
		k.add(name, Fail, fmt.Sprintf("%d replies: %s", n, strings.Join(list, ", ")),
			"replies come from another port than %s, where we sent: nc -u and connected sockets never see them", k.c.target)
		return
	}
	k.add(name, Pass, fmt.Sprintf("%d STATS_REPLY and GET_BLOCK_REPLY datagrams", n), "every reply came from %s", k.c.target)
}

func (k *checker) checkLatency() {
	const name = "latency"
	if len(k.rtts) == 0 {
		return
	}
	s := slices.Clone(k.rtts)
	slices.Sort(s)
	med, worst := s[len(s)/2], s[len(s)-1]
	ev := fmt.Sprintf("%d replies: median %s, slowest %s", len(s), fmtDur(med), fmtDur(worst))
	if med > slowReply {
		k.add(name, Warn, ev, "replies take %s (median): some peers wait only 20 to 50 ms", fmtDur(med))
		return
	}
	k.add(name, Pass, ev, "replies within %s (median)", fmtDur(med))
}

func (k *checker) checkSizes() {
	const name = "datagram-size"
	peer := k.peerSources()
	n, biggest, whole := 0, 0, 0
	var over []string
	for _, p := range k.c.received {
		if !peer[p.From] {
			continue
		}
		n++
		biggest = max(biggest, len(p.Data))
		switch {
		case len(p.Data) <= protocol.MaxDatagram:
		case oversizeBlock(p.Data):
			whole++
		default:
			over = append(over, fmt.Sprintf("%d-byte %s", len(p.Data), gjson.GetBytes(p.Data, "type").Str))
		}
	}
	ev := fmt.Sprintf("%d datagrams from the peer, largest %d bytes", n, biggest)
	if len(over) > 0 {
		k.add(name, Fail, ev, "%d datagrams over %d bytes (peers read with a 1024-byte buffer): %s", len(over), protocol.MaxDatagram, strings.Join(over[:min(3, len(over))], ", "))
		return
	}
	if whole > 0 {
		k.add(name, Pass, ev, "every datagram is at most %d bytes, but for %d carrying a block too big for it even raw (sent whole, as the spec says)", protocol.MaxDatagram, whole)
		return
	}
	k.add(name, Pass, ev, "every datagram is at most %d bytes", protocol.MaxDatagram)
}

// oversizeBlock reports whether data is a GET_BLOCK_REPLY or ANNOUNCE of a
// block that encodes over protocol.MaxDatagram bytes even compact and raw
// (no escapes but those JSON needs): the spec has such a block sent whole.
// Padding or needless escapes do not count.
func oversizeBlock(data []byte) bool {
	m, err := protocol.Parse(data)
	if err != nil {
		return false
	}
	switch m := m.(type) {
	case protocol.GetBlockReply:
		if m.Block == nil {
			return false
		}
	case protocol.Announce:
	default:
		return false
	}
	enc, err := protocol.EncodeRelay(m)
	return err == nil && len(enc) > protocol.MaxDatagram
}
