package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// Options shape what the commands print.
type Options struct {
	JSON     bool // one JSON object per command, for scripts
	FullHash bool // full 64-digit hashes instead of 6b3f12ab..00000000
}

// ErrUsage is wrapped by errors in the command line itself.
var ErrUsage = errors.New("usage")

// ErrInvalid is wrapped when a fetched block or chain does not verify.
var ErrInvalid = errors.New("does not verify")

// Help lists the commands of ask and shell.
const Help = `commands:
  stats                 the peer's chain: its number of blocks, its top block's index and hash
  get N                 block N, its hash recomputed and checked at -difficulty
  chain [FROM [TO]]     fetch blocks FROM..TO (default: the whole chain) pipelined, verify them
  gossip                send a GOSSIP advertising this client, print the GOSSIP_REPLY
  consensus             send CONSENSUS (no reply expected)
  word TEXT             send NEW_WORD with TEXT (no reply expected)
  announce FILE         send ANNOUNCE of the block in FILE (a JSON block, as get -json prints)
  raw JSON              send JSON as it is, print every datagram that comes back within -timeout
  help                  this list
  quit                  leave the shell (so do exit, Ctrl-D and Ctrl-C)
`

// command is one command of Do: its argument counts (max -1: any) and
// what it runs with its arguments.
type command struct {
	min, max int
	run      func(c *Client, out io.Writer, opt Options, args []string) error
}

// commands are Do's commands by name.
var commands = map[string]command{
	"help": {0, -1, func(_ *Client, out io.Writer, _ Options, _ []string) error {
		_, err := io.WriteString(out, Help)
		return err
	}},
	"stats": {0, 0, func(c *Client, out io.Writer, opt Options, _ []string) error { return c.cmdStats(out, opt) }},
	"get": {1, 1, func(c *Client, out io.Writer, opt Options, args []string) error {
		h, err := strconv.Atoi(args[0])
		if err != nil || h < 0 {
			return fmt.Errorf("%w: get N: N is a height, 0 or more", ErrUsage)
		}
		return c.cmdGet(out, opt, h)
	}},
	"chain": {0, 2, func(c *Client, out io.Writer, opt Options, args []string) error {
		var bounds []int
		for _, a := range args {
			h, err := strconv.Atoi(a)
			if err != nil || h < 0 {
				return fmt.Errorf("%w: chain [FROM [TO]]: heights are 0 or more", ErrUsage)
			}
			bounds = append(bounds, h)
		}
		return c.cmdChain(out, opt, bounds)
	}},
	"gossip":    {0, 0, func(c *Client, out io.Writer, opt Options, _ []string) error { return c.cmdGossip(out, opt) }},
	"consensus": {0, 0, func(c *Client, out io.Writer, opt Options, _ []string) error { return c.cmdConsensus(out, opt) }},
	"word": {1, -1, func(c *Client, out io.Writer, opt Options, args []string) error {
		return c.fireAndForget(out, opt, protocol.NewWord{Word: strings.Join(args, " ")}, protocol.Encode)
	}},
	"announce": {1, 1, func(c *Client, out io.Writer, opt Options, args []string) error {
		b, err := readBlockFile(args[0])
		if err != nil {
			return err
		}
		// The block is passed on, not created: sent whole even over 1024
		// bytes, as the spec has a valid block sent.
		return c.fireAndForget(out, opt, protocol.Announce{Block: b}, protocol.EncodeRelay)
	}},
	"raw": {1, -1, func(c *Client, out io.Writer, opt Options, args []string) error {
		return c.cmdRaw(out, opt, strings.Join(args, " "))
	}},
}

// usageOf is the argument part of each command's usage line.
var usageOf = map[string]string{"get": "get N", "chain": "chain [FROM [TO]]", "word": "word TEXT", "announce": "announce FILE", "raw": "raw JSON"}

// Do runs one command line (e.g. ["get", "5"]) against the peer and prints
// the result to out.
func (c *Client) Do(args []string, out io.Writer, opt Options) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command (try help)", ErrUsage)
	}
	name, rest := strings.ToLower(args[0]), args[1:]
	if name == "?" {
		name = "help"
	}
	cmd, ok := commands[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown command %q (try help)", ErrUsage, args[0])
	case len(rest) < cmd.min || cmd.max >= 0 && len(rest) > cmd.max:
		if u, ok := usageOf[name]; ok {
			return fmt.Errorf("%w: %s", ErrUsage, u)
		}
		return fmt.Errorf("%w: wrong arguments for %s (try help)", ErrUsage, name)
	}
	return cmd.run(c, out, opt, rest)
}

func (c *Client) cmdStats(out io.Writer, opt Options) error {
	r, err := c.exchange(c.main, protocol.Stats{}, protocol.TypeStatsReply, nil)
	if err != nil {
		return err
	}
	s := r.Msg.(protocol.StatsReply)
	if opt.JSON {
		return writeJSON(out, map[string]any{
			"peer": c.cfg.Target, "from": r.packet.From.String(), "latency_ms": ms(r.Latency),
			"height": s.Height, "hash": s.Hash, "has_chain": s.HasChain(), "reply": rawJSON(r.packet.Data),
		})
	}
	fmt.Fprintf(out, "%s answered in %s\n", r.packet.From, fmtDur(r.Latency))
	tw := table(out)
	if s.HasChain() {
		fmt.Fprintf(tw, "  chain\t%d blocks, top #%d\n", s.Height, s.Height-1)
		fmt.Fprintf(tw, "  hash\t%s\n", opt.hash(s.Hash))
	} else {
		fmt.Fprintf(tw, "  chain\tno blocks\n")
		fmt.Fprintf(tw, "  reply\t%s\n", strings.TrimSpace(string(r.packet.Data)))
	}
	return tw.Flush()
}

// getBlock asks for block h and waits for its reply: the block, or nil
// for "no such block".
func (c *Client) getBlock(s *socket, h int) (reply, protocol.GetBlockReply, error) {
	r, err := c.exchange(s, protocol.GetBlock{Height: h}, protocol.TypeGetBlockReply, func(m protocol.Message) bool {
		g := m.(protocol.GetBlockReply)
		return g.Height == h || g.Height == -1
	})
	if err != nil {
		return r, protocol.GetBlockReply{}, err
	}
	return r, r.Msg.(protocol.GetBlockReply), nil
}

// cmdGet fetches block h, checks its hash on its predecessor's at the
// client's difficulty, and prints both.
func (c *Client) cmdGet(out io.Writer, opt Options, h int) error {
	r, g, err := c.getBlock(c.main, h)
	if err != nil {
		return err
	}
	if g.Block == nil {
		return c.printNoBlock(out, opt, r, g, h)
	}
	cb, err := c.checkBlock(opt, h, g.Block)
	if err != nil {
		return err
	}
	if opt.JSON {
		err = c.writeBlockJSON(out, r, cb)
	} else {
		err = c.printBlock(out, opt, r, cb)
	}
	if err != nil {
		return err
	}
	if cb.problem != nil {
		return fmt.Errorf("block %d %w: %v", h, ErrInvalid, cb.problem)
	}
	return nil
}

// printNoBlock prints the reply g to a GET_BLOCK of block h that holds no
// block: the peer has none, or what it sent is not one.
func (c *Client) printNoBlock(out io.Writer, opt Options, r reply, g protocol.GetBlockReply, h int) error {
	if opt.JSON {
		return writeJSON(out, map[string]any{"peer": c.cfg.Target, "latency_ms": ms(r.Latency), "height": h, "block": nil, "reply": rawJSON(r.packet.Data)})
	}
	why := "no such block"
	if g.Problem != nil {
		why = "not a block: " + g.Problem.Error()
	}
	fmt.Fprintf(out, "%s answered in %s: %s\n  reply  %s\n", r.packet.From, fmtDur(r.Latency), why, strings.TrimSpace(string(r.packet.Data)))
	return nil
}

// checkedBlock is a block get fetched and what checking it found.
type checkedBlock struct {
	height   int
	block    *chain.Block
	computed string // its hash recomputed
	prevNote string // the previous hash it was computed on, for a person
	problem  error  // why it does not verify; nil when it does
}

// checkBlock recomputes the hash of b, block h, on the hash of its
// predecessor fetched from the peer (the hash rule needs it), and
// validates b. A predecessor not received is b's problem; the error is
// an interruption.
func (c *Client) checkBlock(opt Options, h int, b *chain.Block) (checkedBlock, error) {
	cb := checkedBlock{height: h, block: b, prevNote: "genesis: no previous hash"}
	prev := ""
	if h > 0 {
		_, pg, err := c.getBlock(c.main, h-1)
		switch {
		case errors.Is(err, ErrInterrupted):
			return cb, err
		case err != nil:
			cb.problem = fmt.Errorf("block %d (its predecessor) not received: %w", h-1, err)
		case pg.Block == nil:
			cb.problem = fmt.Errorf("the peer has no block %d (its predecessor)", h-1)
		default:
			prev = pg.Block.Hash
			cb.prevNote = fmt.Sprintf("on top of block %d, %s", h-1, opt.hash(prev))
		}
	}
	cb.computed = chain.ComputeHash(prev, b)
	if cb.problem == nil {
		cb.problem = chain.Validate(b, prev, h, c.cfg.Difficulty)
	}
	return cb, nil
}

// writeBlockJSON writes the checked block cb, from the reply r, as one
// JSON object.
func (c *Client) writeBlockJSON(out io.Writer, r reply, cb checkedBlock) error {
	res := map[string]any{"peer": c.cfg.Target, "latency_ms": ms(r.Latency), "height": cb.height, "block": cb.block,
		"computed_hash": cb.computed, "difficulty": c.cfg.Difficulty, "valid": cb.problem == nil}
	if cb.problem != nil {
		res["problem"] = cb.problem.Error()
	}
	return writeJSON(out, res)
}

// printBlock prints the checked block cb, from the reply r, as a table
// of its fields and what checking it found.
func (c *Client) printBlock(out io.Writer, opt Options, r reply, cb checkedBlock) error {
	b := cb.block
	fmt.Fprintf(out, "block %d from %s (%s)\n", cb.height, r.packet.From, fmtDur(r.Latency))
	tw := table(out)
	fmt.Fprintf(tw, "  height\t%d\n", b.Height)
	fmt.Fprintf(tw, "  minedBy\t%q\n", b.MinedBy)
	fmt.Fprintf(tw, "  messages\t%s\n", quoteAll(b.Messages))
	fmt.Fprintf(tw, "  nonce\t%q\n", b.Nonce)
	fmt.Fprintf(tw, "  timestamp\t%d (%s)\n", b.Timestamp, time.Unix(b.Timestamp, 0).UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(tw, "  hash\t%s\n", opt.hash(b.Hash))
	fmt.Fprintf(tw, "  computed\t%s (%s)\n", opt.hash(cb.computed), cb.prevNote)
	if cb.problem == nil {
		fmt.Fprintf(tw, "  valid\tyes, at difficulty %d\n", c.cfg.Difficulty)
	} else {
		fmt.Fprintf(tw, "  valid\tNO: %s\n", opt.shorten(cb.problem.Error()))
	}
	return tw.Flush()
}

func (c *Client) cmdChain(out io.Writer, opt Options, bounds []int) error {
	from, to, err := c.chainRange(out, opt, bounds)
	if err != nil {
		return err
	}
	var progress func(int, int, time.Duration)
	if !opt.JSON {
		progress = func(got, total int, el time.Duration) {
			fmt.Fprintf(out, "  ... %d/%d blocks, %.0f blocks/s\n", got, total, float64(got)/el.Seconds())
		}
	}
	f := c.fetchRange(max(from-1, 0), to, progress) // block from-1 gives the hash block from links to
	if c.interrupted() {
		return ErrInterrupted
	}
	blocks, prev := f.Blocks, ""
	if from > 0 {
		if blocks[0] == nil {
			return fmt.Errorf("block %d (the predecessor of %d) not received", from-1, from)
		}
		prev, blocks = blocks[0].Hash, blocks[1:]
	}
	problems := verifyRange(blocks, from, prev, c.cfg.Difficulty)
	if opt.JSON {
		err = writeJSON(out, map[string]any{
			"peer": c.cfg.Target, "from": from, "to": to, "difficulty": c.cfg.Difficulty,
			"valid": len(problems) == 0, "problems": problems, "requests": f.Requests, "resent": f.Resent, "not_sent": f.SendErrors,
			"took_s": f.Took.Seconds(), "blocks": blocks,
		})
	} else {
		err = c.printChain(out, opt, f, from, to, prev, blocks, problems)
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("chain %d..%d %w: %d bad blocks, first %d: %s", from, to, ErrInvalid, len(problems), problems[0].Height, problems[0].Error)
	}
	return nil
}

// chainRange returns the heights chain fetches: from bounds, within the
// peer's top (asking past it would only cost resends); without a STATS
// answer, an explicit TO is taken as given.
func (c *Client) chainRange(out io.Writer, opt Options, bounds []int) (from, to int, err error) {
	if len(bounds) > 0 {
		from = bounds[0]
	}
	r, err := c.exchange(c.main, protocol.Stats{}, protocol.TypeStatsReply, nil)
	top := -1
	if err == nil {
		top = r.Msg.(protocol.StatsReply).Height - 1
	}
	switch {
	case len(bounds) > 1 && (err != nil || bounds[1] <= top):
		to = bounds[1]
	case err != nil:
		return 0, 0, err
	case len(bounds) > 1:
		to = top
		if !opt.JSON {
			fmt.Fprintf(out, "(the peer's top is block %d: fetching up to it)\n", top)
		}
	default:
		to = top
	}
	if to < from {
		return 0, 0, fmt.Errorf("%w: chain %d..%d is empty (the peer's top is %d)", ErrUsage, from, to, to)
	}
	return from, to, nil
}

// printChain prints chain's report as text.
func (c *Client) printChain(out io.Writer, opt Options, f *fetched, from, to int, prev string, blocks []*chain.Block, problems []rangeProblem) error {
	verdict := fmt.Sprintf("all valid at difficulty %d and linked", c.cfg.Difficulty)
	if from > 0 {
		verdict += fmt.Sprintf(" (to block %d, %s)", from-1, opt.hash(prev))
	}
	if len(problems) > 0 {
		verdict = fmt.Sprintf("INVALID: %d of %d blocks do not verify", len(problems), len(blocks))
	}
	fmt.Fprintf(out, "blocks %d..%d (%d) from %s: %s\n", from, to, len(blocks), c.cfg.Target, verdict)
	tw := table(out)
	if top := blocks[len(blocks)-1]; top != nil {
		fmt.Fprintf(tw, "  top\tblock %d, %s, mined by %q\n", to, opt.hash(top.Hash), top.MinedBy)
	}
	got := len(f.Blocks) - len(f.missing())
	fmt.Fprintf(tw, "  fetched\t%d blocks in %s (%.0f blocks/s), %d requests (%d resent), up to %d in flight\n",
		got, fmtDur(f.Took), float64(got)/f.Took.Seconds(), f.Requests, f.Resent, fetchWindow)
	if f.NoBlock > 0 || f.Bad > 0 {
		fmt.Fprintf(tw, "  odd replies\t%d \"no such block\", %d malformed blocks\n", f.NoBlock, f.Bad)
	}
	if f.SendErrors > 0 {
		fmt.Fprintf(tw, "  not sent\t%d GET_BLOCKs, the last: %v\n", f.SendErrors, f.LastSendError)
	}
	for i, p := range problems {
		if i == 10 {
			fmt.Fprintf(tw, "  ...\t%d more\n", len(problems)-10)
			break
		}
		fmt.Fprintf(tw, "  block %d\t%s\n", p.Height, opt.shorten(p.Error))
	}
	return tw.Flush()
}

func (c *Client) cmdGossip(out io.Writer, opt Options) error {
	adv := c.main.Addr()
	g := protocol.Gossip{Host: adv.Addr().String(), Port: int(adv.Port()), ID: uuid.NewString(), Name: c.cfg.Name}
	r, err := c.exchange(c.main, g, protocol.TypeGossipReply, nil)
	if err != nil {
		return err
	}
	gr := r.Msg.(protocol.GossipReply)
	if opt.JSON {
		return writeJSON(out, map[string]any{"peer": c.cfg.Target, "from": r.packet.From.String(), "latency_ms": ms(r.Latency),
			"host": gr.Host, "port": gr.Port, "name": gr.Name, "sent": rawJSON(r.Sent)})
	}
	fmt.Fprintf(out, "GOSSIP_REPLY from %s in %s\n", r.packet.From, fmtDur(r.Latency))
	tw := table(out)
	fmt.Fprintf(tw, "  name\t%q\n", gr.Name)
	fmt.Fprintf(tw, "  host:port\t%s:%d\n", gr.Host, gr.Port)
	fmt.Fprintf(tw, "  we sent\t%s\n", strings.TrimSpace(string(r.Sent)))
	return tw.Flush()
}

// cmdConsensus joins the peer first, by a GOSSIP from our socket naming
// it: peers that take CONSENSUS only from members they have heard from
// (blockpeer among them: a CONSENSUS costs nothing to send and makes a
// round of STATS to every member) then run the round.
func (c *Client) cmdConsensus(out io.Writer, opt Options) error {
	adv := c.main.Addr()
	g := protocol.Gossip{Host: adv.Addr().String(), Port: int(adv.Port()), ID: uuid.NewString(), Name: c.cfg.Name}
	if _, err := c.exchange(c.main, g, protocol.TypeGossipReply, nil); err != nil && !opt.JSON {
		fmt.Fprintf(out, "note: no GOSSIP_REPLY to our join (%v); a peer that takes CONSENSUS only from members may ignore it\n", err)
	}
	return c.fireAndForget(out, opt, protocol.Consensus{}, protocol.Encode)
}

// fireAndForget sends m, encoded with encode (protocol.Encode for what we
// create, protocol.EncodeRelay for a block we pass on), and says what it
// sent.
func (c *Client) fireAndForget(out io.Writer, opt Options, m protocol.Message, encode func(protocol.Message) ([]byte, error)) error {
	data, err := encode(m)
	if err != nil {
		return err
	}
	if err := c.sendRaw(c.main, data); err != nil {
		return err
	}
	if opt.JSON {
		return writeJSON(out, map[string]any{"peer": c.cfg.Target, "sent": rawJSON(data), "bytes": len(data)})
	}
	fmt.Fprintf(out, "sent to %s: %s (no reply expected)\n", c.cfg.Target, strings.TrimSpace(string(data)))
	if len(data) > protocol.MaxDatagram {
		fmt.Fprintf(out, "note: %d bytes, over the %d most peers read: sent whole, as the spec has a valid block sent\n", len(data), protocol.MaxDatagram)
	}
	return nil
}

func (c *Client) cmdRaw(out io.Writer, opt Options, text string) error {
	from := c.mark()
	start := time.Now()
	if err := c.sendRaw(c.main, []byte(text)); err != nil {
		return err
	}
	var got []map[string]any
	deadline := start.Add(c.cfg.Timeout)
	tw := table(out)
	if !opt.JSON {
		fmt.Fprintf(out, "sent %d bytes to %s; replies within %v:\n", len(text), c.cfg.Target, c.cfg.Timeout)
	}
	for {
		p, ok := c.await(from, deadline, func(packet) bool { return true })
		if !ok {
			break
		}
		from++
		got = append(got, map[string]any{"from": p.From.String(), "after_ms": ms(p.At.Sub(start)), "bytes": len(p.Data), "data": string(p.Data)})
		if !opt.JSON {
			fmt.Fprintf(tw, "  +%s\t%s\t%dB\t%s\n", fmtDur(p.At.Sub(start)), p.From, len(p.Data), strings.TrimSpace(string(p.Data)))
		}
	}
	if c.interrupted() {
		return ErrInterrupted
	}
	if opt.JSON {
		return writeJSON(out, map[string]any{"peer": c.cfg.Target, "sent": text, "replies": got})
	}
	if len(got) == 0 {
		fmt.Fprintf(tw, "  (none)\n")
	}
	return tw.Flush()
}

// readBlockFile reads a block from a JSON file: the six block fields, as a
// bare object or inside a message (get -json's "block", or a
// GET_BLOCK_REPLY or ANNOUNCE as seen on the wire).
func readBlockFile(path string) (*chain.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	var wrapped struct {
		Block *json.RawMessage `json:"block"`
	}
	if json.Unmarshal(data, &wrapped) == nil && wrapped.Block != nil {
		data = *wrapped.Block
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("announce: %s: not a JSON object: %w", path, err)
	}
	fields["type"] = json.RawMessage(`"ANNOUNCE"`)
	msg, _ := json.Marshal(fields)
	m, err := protocol.Parse(msg)
	if err != nil {
		return nil, fmt.Errorf("announce: %s: not a block: %w", path, err)
	}
	return m.(protocol.Announce).Block, nil
}

// Formatting.

func (o Options) hash(h string) string {
	if o.FullHash {
		return h
	}
	return shortHash(h)
}

// shorten shortens every hash in s, unless full hashes were asked for.
func (o Options) shorten(s string) string {
	if o.FullHash {
		return s
	}
	return hashRE.ReplaceAllStringFunc(s, shortHash)
}

// shortHash keeps the first and last 8 hex digits (the last ones show the
// difficulty's zeros).
func shortHash(h string) string {
	if len(h) <= 20 {
		return h
	}
	return h[:8] + ".." + h[len(h)-8:]
}

func table(out io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(out, 0, 0, 2, ' ', 0) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", ms(d))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, " ")
}

// rawJSON embeds a datagram in JSON output: as JSON when it is, else as a
// string.
func rawJSON(data []byte) any {
	d := []byte(strings.TrimSpace(string(data)))
	if json.Valid(d) {
		return json.RawMessage(d)
	}
	return string(d)
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
