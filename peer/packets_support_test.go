package peer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// Harness drives one node without sockets or goroutines, in the style of
// go-ethereum's p2p/discover tests: datagrams go in with In (handled at
// once, on the harness's fake clock), what the node sends is recorded,
// and Advance moves the clock tick by tick. Tests of one node's behaviour
// use it; real UDP is kept for the transport and end-to-end cases.
type Harness struct {
	t    testing.TB
	node *Node
	now  time.Time
	addr netip.AddrPort
	out  []Sent
	// peers answer what the node sends to their address (see Answer);
	// answered is how much of out they have seen.
	peers    map[netip.AddrPort]func(protocol.Message) []protocol.Message
	answered int
}

// Sent is a datagram the node sent.
type Sent struct {
	To   netip.AddrPort
	Type string
	Data []byte
}

// harnessTransport records what the node sends.
type harnessTransport struct{ h *Harness }

func (tr harnessTransport) Send(to netip.AddrPort, data []byte) error {
	tr.h.out = append(tr.h.out, Sent{To: to, Type: gjson.GetBytes(data, "type").String(), Data: append([]byte(nil), data...)})
	return nil
}
func (tr harnessTransport) Packets() <-chan Packet    { return nil }
func (tr harnessTransport) LocalAddr() netip.AddrPort { return tr.h.addr }
func (tr harnessTransport) Close() error              { return nil }

// HarnessEpoch is the fake clock's start.
var HarnessEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewHarness starts a node holding blocks at 127.0.0.1:7000 with cfg
// (Name, Advertise, Now and the timings are filled in when zero).
func NewHarness(t testing.TB, blocks []*chain.Block, cfg Config) *Harness {
	t.Helper()
	h := &Harness{t: t, now: HarnessEpoch, addr: netip.MustParseAddrPort("127.0.0.1:7000"),
		peers: map[netip.AddrPort]func(protocol.Message) []protocol.Message{}}
	if cfg.Name == "" {
		cfg.Name = "node"
	}
	cfg.Advertise = h.addr
	cfg.Now = func() time.Time { return h.now }
	if cfg.Timings == (Timings{}) {
		cfg.Timings = TestTimings()
	}
	if cfg.RandSeed == 0 {
		cfg.RandSeed = 1
	}
	ch, err := chain.New(cfg.Difficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 0 {
		if err := ch.Adopt(0, blocks); err != nil {
			t.Fatal(err)
		}
	}
	n, err := New(cfg, harnessTransport{h}, ch)
	if err != nil {
		t.Fatal(err)
	}
	h.node = n
	n.start(h.now)
	t.Cleanup(n.stopMining)
	return h
}

// Addr returns the node's address.
func (h *Harness) Addr() netip.AddrPort { return h.addr }

// In hands the node one message from the address from.
func (h *Harness) In(from netip.AddrPort, m protocol.Message) {
	h.t.Helper()
	data, err := protocol.Encode(m)
	if err != nil {
		data, err = protocol.EncodeRelay(m) // a block or a GOSSIP over 1024 bytes
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.InRaw(from, data)
}

// InRaw hands the node one datagram from the address from.
func (h *Harness) InRaw(from netip.AddrPort, data []byte) {
	h.node.handle(Packet{From: from, Data: data}, h.now)
}

// Answer plays a peer at addr: from the next step of the clock on, each
// datagram the node sends there is answered, from addr, with the messages
// answer returns (none: silence), handed to the node at once.
func (h *Harness) Answer(addr netip.AddrPort, answer func(m protocol.Message) []protocol.Message) {
	h.peers[addr] = answer
}

// Advance moves the clock by d, a tick at a time; after each tick the
// peers of Answer answer.
func (h *Harness) Advance(d time.Duration) {
	end := h.now.Add(d)
	tick := h.node.cfg.Timings.Tick
	for h.now.Before(end) {
		h.now = minTime(h.now.Add(tick), end)
		h.node.tick(h.now)
		h.answer()
	}
}

// answer has the peers of Answer answer what the node sent them since the
// last call, and what it sends in turn (at most 100,000 datagrams a call).
func (h *Harness) answer() {
	for n := 0; h.answered < len(h.out) && n < 100_000; n++ {
		s := h.out[h.answered]
		h.answered++
		answer := h.peers[s.To]
		if answer == nil {
			continue
		}
		m, err := protocol.Parse(s.Data)
		if err != nil {
			h.t.Fatalf("the node sent %s an unparseable datagram: %v", s.To, err)
		}
		for _, r := range answer(m) {
			h.In(s.To, r)
		}
	}
}

// Now returns the fake clock's time.
func (h *Harness) Now() time.Time { return h.now }

// Reset forgets what the node sent so far (marks taken before are void),
// for tests that send more than is worth keeping.
func (h *Harness) Reset() { h.answer(); h.out, h.answered = h.out[:0], 0 }

// Out returns what the node sent so far, oldest first.
func (h *Harness) Out() []Sent { return h.out }

// SentTo counts the datagrams of type typ (any type: "") sent to the
// addresses for which to holds, and their bytes.
func (h *Harness) SentTo(typ string, to func(netip.AddrPort) bool) (datagrams, bytes int) {
	for _, s := range h.out {
		if (typ == "" || s.Type == typ) && to(s.To) {
			datagrams, bytes = datagrams+1, bytes+len(s.Data)
		}
	}
	return datagrams, bytes
}

// Mark returns how many datagrams the node sent so far: WaitOut looks at
// those sent after a mark.
func (h *Harness) Mark() int { return len(h.out) }

// WaitOut advances the clock until the node has sent, after the mark
// since, a datagram for which match holds, for at most d of fake time; it
// reports the datagram and whether one came.
func (h *Harness) WaitOut(since int, d time.Duration, match func(Sent) bool) (Sent, bool) {
	seen := since
	end := h.now.Add(d)
	for {
		for ; seen < len(h.out); seen++ {
			if match(h.out[seen]) {
				return h.out[seen], true
			}
		}
		if !h.now.Before(end) {
			return Sent{}, false
		}
		h.Advance(h.node.cfg.Timings.Tick)
	}
}

// Status returns the node's status.
func (h *Harness) Status() Status { return h.node.status() }
