package consensus

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/chain"
)

const testDifficulty = 2

// t0 is the fake clock's start; tests advance a time.Time by hand.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// mainChain is a 500-block chain at testDifficulty, mined once.
var mainChain = sync.OnceValue(func() []*chain.Block {
	return chain.Extend(nil, 500, testDifficulty, "main", 1_700_000_000)
})

// localChain returns a verified chain holding blocks.
func localChain(t *testing.T, blocks []*chain.Block) *chain.Chain {
	t.Helper()
	c, err := chain.New(testDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 0 {
		if err := c.Adopt(0, blocks); err != nil {
			t.Fatalf("building the local chain: %v", err)
		}
	}
	return c
}

// ap parses a test address.
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func groupOf(blocks []*chain.Block, backers ...netip.AddrPort) Group {
	return Group{Key: Key{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash}, Backers: backers}
}

// tamperMessage changes a message but keeps the hash: only recomputing the
// hash can tell.
func tamperMessage(b *chain.Block) *chain.Block {
	b.Messages = []string{"tampered"}
	return b
}

// sent is one GET_BLOCK a Sync asked for, with the state it was asked in.
type sent struct {
	Request
	phase    Phase
	prefix   int            // from + verified when it was asked
	resendOf netip.AddrPort // peer asked last time for this height (zero if first)
	at       time.Time      // when it was asked
}

// sim runs a Sync against in-process backers and records what happened.
type sim struct {
	t   *testing.T
	s   *Sync
	cfg SyncConfig
	now time.Time

	serve  map[netip.AddrPort][]*chain.Block          // the chain each backer serves
	silent map[netip.AddrPort]bool                    // never answers
	tamper map[netip.AddrPort]func(*chain.Block) bool // modifies a served block; true if it did
	lose   func(Request) bool                         // the request or its reply is lost
	hook   func(sim *sim)                             // called once per round, before Poll

	log         []sent
	lastAsked   map[int]netip.AddrPort
	asked       map[netip.AddrPort]int // requests per peer
	served      map[netip.AddrPort]int // replies delivered per peer
	tampered    map[netip.AddrPort]int // tampered blocks delivered per peer
	verdicts    map[netip.AddrPort][]Verdict
	notes       []Note
	maxBatch    int                          // most requests returned by one Poll
	maxFlight   int                          // most InFlight() seen
	timeouts    int                          // times the clock was advanced for lack of replies
	droppedAt   map[netip.AddrPort]int       // peer -> len(log) when its first note was seen
	droppedWhen map[netip.AddrPort]time.Time // peer -> the clock then
}

func newSim(t *testing.T, s *Sync, cfg SyncConfig) *sim {
	return &sim{
		t: t, s: s, cfg: cfg.withDefaults(), now: t0,
		serve:     make(map[netip.AddrPort][]*chain.Block),
		silent:    make(map[netip.AddrPort]bool),
		tamper:    make(map[netip.AddrPort]func(*chain.Block) bool),
		lastAsked: make(map[int]netip.AddrPort),
		asked:     make(map[netip.AddrPort]int),
		served:    make(map[netip.AddrPort]int),
		tampered:  make(map[netip.AddrPort]int),
		verdicts:  make(map[netip.AddrPort][]Verdict),
		droppedAt: make(map[netip.AddrPort]int), droppedWhen: make(map[netip.AddrPort]time.Time),
	}
}

// poll calls Poll and records its requests.
func (m *sim) poll() []Request {
	reqs := m.s.Poll(m.now)
	// Poll verifies nothing, so this is the prefix the requests were planned on.
	from, verified := m.s.Result()
	prefix := from + len(verified)
	for _, n := range m.s.TakeNotes() {
		m.notes = append(m.notes, n)
		if _, ok := m.droppedAt[n.Peer]; !ok {
			m.droppedAt[n.Peer] = len(m.log)
			m.droppedWhen[n.Peer] = m.now
		}
	}
	phase := m.s.Phase()
	m.maxBatch = max(m.maxBatch, len(reqs))
	m.maxFlight = max(m.maxFlight, m.s.InFlight())
	for _, r := range reqs {
		m.log = append(m.log, sent{Request: r, phase: phase, prefix: prefix, resendOf: m.lastAsked[r.Height], at: m.now})
		m.lastAsked[r.Height] = r.Peer
		m.asked[r.Peer]++
	}
	return reqs
}

// answer plays the backer's part for one request.
func (m *sim) answer(r Request) {
	if m.silent[r.Peer] || (m.lose != nil && m.lose(r)) {
		return
	}
	blocks, ok := m.serve[r.Peer]
	if !ok {
		m.t.Fatalf("request to %q, which is not a backer", r.Peer)
	}
	var v Verdict
	if r.Height >= 0 && r.Height < len(blocks) {
		b := blocks[r.Height].Clone()
		if f := m.tamper[r.Peer]; f != nil && f(b) {
			m.tampered[r.Peer]++
		}
		v = m.s.OnBlock(r.Peer, b, m.now)
	} else {
		v = m.s.OnMissing(r.Peer, r.Height, m.now)
	}
	m.served[r.Peer]++
	m.verdicts[r.Peer] = append(m.verdicts[r.Peer], v)
}

// run drives the sync until it is Done or Failed: each round polls, lets a
// millisecond pass and delivers the replies. When a Poll asks nothing and no
// reply is on its way, the clock jumps by RequestTimeout so that every
// request in flight expires.
func (m *sim) run() {
	m.t.Helper()
	for range 5_000 {
		if m.hook != nil {
			m.hook(m)
		}
		reqs := m.poll()
		if p := m.s.Phase(); p == Done || p == Failed {
			m.checkDropped()
			return
		}
		if len(reqs) == 0 {
			if m.s.InFlight() == 0 {
				m.t.Fatalf("sync stalled in phase %v: nothing in flight and nothing to ask (progress %v); notes %v",
					m.s.Phase(), fmt.Sprint(m.s.Progress()), m.notes)
			}
			m.now = m.now.Add(m.cfg.RequestTimeout)
			m.timeouts++
			continue
		}
		// Replies take a millisecond to come back.
		m.now = m.now.Add(time.Millisecond)
		for _, r := range reqs {
			m.answer(r)
		}
	}
	last := m.log[max(0, len(m.log)-6):]
	tail := make([]string, len(last))
	for i, r := range last {
		tail[i] = fmt.Sprintf("%s@%d", r.Peer, r.Height)
	}
	m.t.Fatalf("sync did not finish after %d requests: phase %v, progress %v, notes %v, last requests %v",
		len(m.log), m.s.Phase(), fmt.Sprint(m.s.Progress()), m.notes, tail)
}

// checkDropped asserts that no backer was asked anything once dropped.
func (m *sim) checkDropped() {
	m.t.Helper()
	for i, r := range m.log {
		if at, ok := m.droppedAt[r.Peer]; ok && i >= at {
			m.t.Errorf("request %d: asked %s for %d after it was dropped", i, r.Peer, r.Height)
		}
	}
}

func (m *sim) notedPeers() []netip.AddrPort {
	var out []netip.AddrPort
	for _, n := range m.notes {
		out = append(out, n.Peer)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return slices.Compact(out)
}

func (m *sim) noteFor(peer netip.AddrPort) (Note, bool) {
	for _, n := range m.notes {
		if n.Peer == peer {
			return n, true
		}
	}
	return Note{}, false
}

func (m *sim) requestsIn(phase Phase) []sent {
	var out []sent
	for _, r := range m.log {
		if r.phase == phase {
			out = append(out, r)
		}
	}
	return out
}

// checkDone asserts a Done sync whose candidate, adopted on top of local,
// gives exactly want.
func checkDone(t *testing.T, s *Sync, local *chain.Chain, wantFrom int, want []*chain.Block) {
	t.Helper()
	if s.Phase() != Done {
		t.Fatalf("phase = %v (err %v), want done", s.Phase(), s.Err())
	}
	from, blocks := s.Result()
	if from != wantFrom {
		t.Fatalf("Result from = %d, want %d", from, wantFrom)
	}
	if len(blocks) != len(want)-wantFrom {
		t.Fatalf("Result has %d blocks, want %d", len(blocks), len(want)-wantFrom)
	}
	for i, b := range blocks {
		if !reflect.DeepEqual(b, want[from+i]) {
			t.Fatalf("block %d = %+v, want %+v", from+i, b, want[from+i])
		}
	}
	if v, total := s.Progress(); v != len(blocks) || total != len(blocks) {
		t.Fatalf("Progress = %d/%d, want %d/%d", v, total, len(blocks), len(blocks))
	}
	// The candidate must be adoptable as it is.
	c := localChain(t, nil)
	if local != nil && from > 0 {
		prefix := make([]*chain.Block, from)
		for h := range from {
			b, _ := local.Block(h)
			prefix[h] = b
		}
		c = localChain(t, prefix)
	}
	if err := c.Adopt(from, blocks); err != nil {
		t.Fatalf("candidate does not adopt: %v", err)
	}
	if c.Height() != len(want) || c.TipHash() != want[len(want)-1].Hash {
		t.Fatalf("adopted chain is %d@%.12s, want %d@%.12s", c.Height(), c.TipHash(), len(want), want[len(want)-1].Hash)
	}
}

var threeBackers = []netip.AddrPort{ap("10.0.0.1:7001"), ap("10.0.0.2:7002"), ap("10.0.0.3:7003")}

// honestSim sets up a sync of target from every backer in target.Backers,
// each serving blocks.
func honestSim(t *testing.T, local *chain.Chain, target Group, blocks []*chain.Block, cfg SyncConfig) *sim {
	s := NewSync(target, local, cfg)
	m := newSim(t, s, cfg)
	for _, b := range target.Backers {
		m.serve[b] = blocks
	}
	return m
}

// 1. A fresh node fetches 500 blocks from 3 honest backers.
func TestSyncFreshNode(t *testing.T) {
	src := mainChain()
	target := groupOf(src, threeBackers...)
	local := localChain(t, nil)
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	if m.s.Phase() != Fetching {
		t.Fatalf("fresh node starts in %v, want fetching", m.s.Phase())
	}
	m.run()
	checkDone(t, m.s, local, 0, src)
	if m.s.Moved() {
		t.Error("Moved() = true for a chain that ended on the target hash")
	}
	if _, blocks := m.s.Result(); blocks[len(blocks)-1].Hash != target.Hash {
		t.Errorf("top hash %s, want the target's %s", blocks[len(blocks)-1].Hash, target.Hash)
	}
	for _, b := range threeBackers {
		if m.served[b] == 0 {
			t.Errorf("backer %s served nothing; requests: %v", b, m.asked)
		}
	}
	if m.maxBatch <= 3 && m.maxFlight <= 3 {
		t.Errorf("never more than 3 requests in flight (max batch %d, max in flight %d): no pipelining", m.maxBatch, m.maxFlight)
	}
	if len(m.log) != 500 {
		t.Errorf("%d requests for 500 blocks without loss", len(m.log))
	}
	if len(m.notes) != 0 {
		t.Errorf("notes for honest backers: %v", m.notes)
	}
	if m.timeouts != 0 {
		t.Errorf("%d timeouts without loss", m.timeouts)
	}
	if m.s.Poll(m.now) != nil {
		t.Error("a Done sync still asks for blocks")
	}
	if m.s.InFlight() != 0 {
		t.Errorf("InFlight = %d after Done without loss", m.s.InFlight())
	}
}

// 2. 30% of the requests are lost.
func TestSyncLossy(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  SyncConfig
	}{
		{"default config", DefaultSyncConfig(testDifficulty)},
		// Isolates resending from the strike rule: nobody gets dropped.
		{"no strikes", SyncConfig{Difficulty: testDifficulty, MaxStrikes: 1 << 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				src := mainChain()
				target := groupOf(src, threeBackers...)
				local := localChain(t, nil)
				m := honestSim(t, local, target, src, tc.cfg)
				rng := rand.New(rand.NewPCG(seed, 42))
				m.lose = func(Request) bool { return rng.Float64() < 0.3 }
				m.run()
				if m.s.Phase() != Done {
					t.Fatalf("seed %d: phase %v after %d timeouts, err %v, notes %v", seed, m.s.Phase(), m.timeouts, m.s.Err(), m.notes)
				}
				checkDone(t, m.s, local, 0, src)
				if m.timeouts == 0 {
					t.Fatalf("seed %d: no timeouts with 30%% loss", seed)
				}
				resends, elsewhere := 0, 0
				for _, r := range m.log {
					if r.resendOf.IsValid() {
						resends++
						if r.Peer != r.resendOf {
							elsewhere++
						}
					}
				}
				if resends == 0 {
					t.Fatalf("seed %d: nothing resent with 30%% loss", seed)
				}
				// Every backer has room after a timeout (windows are halved,
				// not shut): a resend should go to another backer.
				if elsewhere*10 < resends*9 {
					t.Errorf("seed %d: only %d of %d resends went to another backer", seed, elsewhere, resends)
				}
				t.Logf("seed %d: %d requests, %d resends (%d elsewhere), %d timeouts, notes %d", seed, len(m.log), resends, elsewhere, m.timeouts, len(m.notes))
			}
		})
	}
}

// 3. One backer of three never answers.
func TestSyncSilentBacker(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  SyncConfig
	}{
		{"default config", DefaultSyncConfig(testDifficulty)},
		// One request at a time per backer: the silent one is asked exactly
		// MaxStrikes times before it is dropped.
		{"window 1", SyncConfig{Difficulty: testDifficulty, InitialWindow: 1, MaxWindow: 1, MaxStrikes: 3, RequestTimeout: 10 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mainChain()[:200]
			target := groupOf(src, threeBackers...)
			local := localChain(t, nil)
			m := honestSim(t, local, target, src, tc.cfg)
			quiet := threeBackers[1]
			m.silent[quiet] = true
			strikes := m.cfg.MaxStrikes
			m.run()
			checkDone(t, m.s, local, 0, src)
			n, ok := m.noteFor(quiet)
			if !ok && tc.cfg.MaxWindow != 1 {
				// A burst of timeouts is one strike and doubles the
				// backer's timeout: the sync may end before the silent
				// backer has had MaxStrikes bursts. It must have been left
				// with the least work.
				if len(m.notes) != 0 {
					t.Errorf("notes = %v, want none", m.notes)
				}
				for _, b := range threeBackers {
					if b != quiet && m.asked[quiet] >= m.asked[b] {
						t.Errorf("silent backer asked %d times, %s only %d", m.asked[quiet], b, m.asked[b])
					}
				}
				t.Logf("done before the silent backer was dropped; asked %v", m.asked)
				return
			}
			if !ok {
				t.Fatalf("no note for the silent backer; notes %v", m.notes)
			}
			if slices.Contains(m.s.Backers(), quiet) {
				t.Errorf("silent backer still in Backers() = %v", m.s.Backers())
			}
			// Not dropped before MaxStrikes of its requests went unanswered
			// for RequestTimeout.
			var before []sent
			for _, r := range m.log[:m.droppedAt[quiet]] {
				if r.Peer == quiet {
					before = append(before, r)
				}
			}
			if len(before) < strikes {
				t.Errorf("silent backer dropped after %d requests, MaxStrikes is %d", len(before), strikes)
			}
			if d := m.droppedWhen[quiet].Sub(before[0].at); d < m.cfg.RequestTimeout {
				t.Errorf("silent backer dropped %v after its first request, before the timeout", d)
			}
			if len(m.notes) != 1 {
				t.Errorf("notes = %v, want one for the silent backer", m.notes)
			}
			for _, b := range threeBackers {
				if b != quiet && m.asked[quiet] >= m.asked[b] {
					t.Errorf("silent backer asked %d times, %s only %d", m.asked[quiet], b, m.asked[b])
				}
			}
			if tc.cfg.MaxWindow == 1 && m.asked[quiet] != strikes {
				t.Errorf("window 1: silent backer asked %d times, want exactly MaxStrikes=%d", m.asked[quiet], strikes)
			}
			t.Logf("asked %v; note: %v", m.asked, n.Err)
		})
	}
}

// 4. A backer serves tampered blocks.
func TestSyncLiarBacker(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tamper    func(*chain.Block) bool
		wantLied  bool // OnBlock itself says Lied (the fields are wrong)
		wantError error
	}{
		{"message changed, hash kept", func(b *chain.Block) bool {
			if b.Height >= 100 && b.Height < 200 {
				tamperMessage(b)
				return true
			}
			return false
		}, false, chain.ErrHash},
		{"hash misses the difficulty", func(b *chain.Block) bool {
			if b.Height >= 100 && b.Height < 200 {
				b.Hash = b.Hash[:63] + "1"
				return true
			}
			return false
		}, true, chain.ErrDifficulty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mainChain()[:300]
			target := groupOf(src, threeBackers...)
			local := localChain(t, nil)
			m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
			liar := threeBackers[2]
			m.tamper[liar] = tc.tamper
			m.run()
			checkDone(t, m.s, local, 0, src)
			if m.tampered[liar] == 0 {
				t.Fatal("the liar was never asked for a block it tampers with")
			}
			if slices.Contains(m.s.Backers(), liar) {
				t.Errorf("liar still in Backers() = %v", m.s.Backers())
			}
			n, ok := m.noteFor(liar)
			if !ok {
				t.Fatalf("no note for the liar; notes %v", m.notes)
			}
			if !errors.Is(n.Err, tc.wantError) {
				t.Errorf("liar's note %v, want one wrapping %v", n.Err, tc.wantError)
			}
			if got := m.notedPeers(); !reflect.DeepEqual(got, []netip.AddrPort{liar}) {
				t.Errorf("notes for %v, want only the liar", got)
			}
			if tc.wantLied && !slices.Contains(m.verdicts[liar], Lied) {
				t.Errorf("liar's verdicts %v, want a Lied", m.verdicts[liar])
			}
			for _, b := range threeBackers[:2] {
				if slices.Contains(m.verdicts[b], Lied) || slices.Contains(m.verdicts[b], Lacking) {
					t.Errorf("honest backer %s got verdicts %v", b, m.verdicts[b])
				}
			}
		})
	}
}

// 5. Every backer serves the same invalid chain.
func TestSyncAllBackersLie(t *testing.T) {
	src := mainChain()[:100]
	target := groupOf(src, threeBackers...)
	local := localChain(t, nil)
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	for _, b := range threeBackers {
		m.tamper[b] = func(b *chain.Block) bool {
			if b.Height == 10 {
				tamperMessage(b)
				return true
			}
			return false
		}
	}
	m.run()
	if m.s.Phase() != Failed {
		t.Fatalf("phase %v, want failed", m.s.Phase())
	}
	for _, n := range m.notes {
		if n.Kind != NoteLied {
			t.Errorf("note %v: every backer served an invalid block, want each noted as a liar", n)
		}
	}
	if !errors.Is(m.s.Err(), ErrNoBackers) {
		t.Errorf("Err() = %v, want ErrNoBackers", m.s.Err())
	}
	if got := m.notedPeers(); !reflect.DeepEqual(got, threeBackers) {
		t.Errorf("notes for %v, want all three backers", got)
	}
	if v, _ := m.s.Progress(); v > 10 {
		t.Errorf("verified %d blocks, want at most the 10 below the tampered one", v)
	}
	if len(m.s.Backers()) != 0 {
		t.Errorf("Backers() = %v after failing", m.s.Backers())
	}
	if m.s.Poll(m.now) != nil {
		t.Error("a Failed sync still asks for blocks")
	}
}

// 6. Every backer is silent.
func TestSyncAllBackersSilent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		local []*chain.Block
	}{
		{"fresh node (fetching)", nil},
		{"searching", mainChain()[:50]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := mainChain()[:100]
			target := groupOf(src, threeBackers...)
			local := localChain(t, tc.local)
			m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
			for _, b := range threeBackers {
				m.silent[b] = true
			}
			m.run()
			if m.s.Phase() != Failed {
				t.Fatalf("phase %v, want failed", m.s.Phase())
			}
			for _, n := range m.notes {
				if n.Kind != NoteSilent {
					t.Errorf("note %v although nobody answered: silence proves nothing", n)
				}
			}
			// Fetching, every backer runs out of strikes at once; while
			// searching, one probe is in flight at a time, and the stall
			// deadline ends the sync first.
			switch {
			case errors.Is(m.s.Err(), ErrNoBackers):
				if got := m.notedPeers(); !reflect.DeepEqual(got, threeBackers) {
					t.Errorf("notes for %v, want all three backers", got)
				}
			case errors.Is(m.s.Err(), ErrStalled):
				if len(m.notes) > 0 && m.notes[0].Kind != NoteSilent {
					t.Errorf("notes %v: want only silent ones", m.notes)
				}
			default:
				t.Errorf("Err() = %v, want ErrNoBackers or ErrStalled", m.s.Err())
			}
			if tc.local == nil && !errors.Is(m.s.Err(), ErrNoBackers) {
				t.Errorf("fetching: Err() = %v, want ErrNoBackers", m.s.Err())
			}
			if elapsed := m.now.Sub(t0); elapsed > m.cfg.StallTimeout+2*m.cfg.RequestTimeout {
				t.Errorf("took %v of fake time to give up", elapsed)
			}
		})
	}
}

// forkedLocal is 300 blocks: the first 280 of mainChain, then 20 of our own.
func forkedLocal() []*chain.Block {
	return chain.Extend(mainChain()[:280], 20, testDifficulty, "ours", 1_700_000_000)
}

// 7. Our chain forks from theirs at 280.
func TestSyncForkPoint(t *testing.T) {
	src := mainChain()[:400]
	target := groupOf(src, threeBackers...)
	mine := forkedLocal()
	if mine[279].Hash != src[279].Hash || mine[280].Hash == src[280].Hash {
		t.Fatal("test chains do not fork at 280")
	}
	local := localChain(t, mine)
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	if m.s.Phase() != Searching {
		t.Fatalf("starts in %v, want searching", m.s.Phase())
	}
	m.run()
	checkDone(t, m.s, local, 280, src)
	if m.s.ForkPoint() != 280 {
		t.Errorf("ForkPoint() = %d, want 280", m.s.ForkPoint())
	}
	probes := m.requestsIn(Searching)
	if len(probes) == 0 || len(probes) > 12 {
		t.Errorf("%d probes, want 1..12 (a binary search over 300)", len(probes))
	}
	for i, p := range probes {
		if i > 0 && !p.at.After(probes[i-1].at) {
			t.Errorf("probes %d and %d asked in the same round: one probe at a time", i-1, i)
		}
	}
	fetch := m.requestsIn(Fetching)
	for _, r := range fetch {
		if r.Height < 280 || r.Height >= 400 {
			t.Errorf("fetching asked for height %d, outside 280..399", r.Height)
		}
	}
	if len(m.log) >= 120+15 {
		t.Errorf("%d GET_BLOCK requests, want fewer than 135", len(m.log))
	}
	if m.s.Moved() {
		t.Error("Moved() = true")
	}
	// Adopting it on our real local chain works and gives theirs.
	from, blocks := m.s.Result()
	if err := local.Adopt(from, blocks); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if local.Height() != 400 || local.TipHash() != target.Hash {
		t.Fatalf("local chain is %d@%.12s after adopting", local.Height(), local.TipHash())
	}
	t.Logf("%d probes at %v; %d fetch requests", len(probes), heights(probes), len(fetch))
}

func heights(rs []sent) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Height)
	}
	return out
}

// 8. Our chain is a strict prefix of theirs.
func TestSyncPrefix(t *testing.T) {
	src := mainChain()[:400]
	target := groupOf(src, threeBackers...)
	local := localChain(t, src[:300])
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	m.run()
	checkDone(t, m.s, local, 300, src)
	probes := m.requestsIn(Searching)
	if len(probes) != 1 || probes[0].Height != 299 {
		t.Errorf("probes at %v, want one at 299", heights(probes))
	}
	if m.s.ForkPoint() != 300 {
		t.Errorf("ForkPoint() = %d, want 300", m.s.ForkPoint())
	}
	got := heights(m.requestsIn(Fetching))
	slices.Sort(got)
	want := make([]int, 0, 100)
	for h := 300; h < 400; h++ {
		want = append(want, h)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fetched heights %v, want 300..399 once each", got)
	}
}

// Our chain and theirs differ from genesis on: the search ends at 0.
func TestSyncNoCommonPrefix(t *testing.T) {
	src := mainChain()[:150]
	other := chain.Extend(nil, 100, testDifficulty, "other", 1_700_000_000)
	target := groupOf(src, threeBackers...)
	local := localChain(t, other)
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	m.run()
	checkDone(t, m.s, local, 0, src)
	if n := len(m.requestsIn(Searching)); n > 9 {
		t.Errorf("%d probes for a 100-block chain", n)
	}
}

// 9. Backers report STATS heights off by one, or their chain moves.
func TestSyncOffByOne(t *testing.T) {
	src := mainChain()
	// Their chain has 120 blocks; they say 119 with the hash of block 119.
	for _, tc := range []struct {
		name  string
		local int // blocks we already hold
	}{{"height one short", 0}, {"height one short, searching", 50}} {
		t.Run(tc.name, func(t *testing.T) {
			const count = 120
			target := Group{Key: Key{Height: count - 1, Hash: src[count-1].Hash}, Backers: threeBackers}
			local := localChain(t, src[:tc.local])
			m := honestSim(t, local, target, src[:count], DefaultSyncConfig(testDifficulty))
			m.run()
			checkDone(t, m.s, local, tc.local, src[:count])
			if m.s.Moved() {
				t.Error("Moved() = true, but the candidate ends on the reported hash")
			}
		})
	}
	t.Run("grew by one during the sync", func(t *testing.T) {
		const count = 120
		target := groupOf(src[:count], threeBackers...)
		local := localChain(t, nil)
		m := honestSim(t, local, target, src[:count], DefaultSyncConfig(testDifficulty))
		m.hook = func(m *sim) {
			if len(m.log) > 30 {
				for _, b := range threeBackers {
					m.serve[b] = src[:count+1]
				}
			}
		}
		m.run()
		checkDone(t, m.s, local, 0, src[:count])
		if m.s.Moved() {
			t.Error("Moved() = true, but the candidate ends on the reported hash")
		}
	})
	t.Run("top replaced during the sync", func(t *testing.T) {
		// They reported 120 blocks, then their top block was replaced by a
		// fork of two: the old hash is gone.
		const count = 120
		target := groupOf(src[:count], threeBackers...)
		moved := chain.Extend(src[:count-1], 2, testDifficulty, "moved", 1_700_000_000)
		local := localChain(t, nil)
		m := honestSim(t, local, target, moved, DefaultSyncConfig(testDifficulty))
		m.run()
		checkDone(t, m.s, local, 0, moved)
		if !m.s.Moved() {
			t.Error("Moved() = false, but the candidate does not end on the reported hash")
		}
	})
	t.Run("height one short, extra block lost", func(t *testing.T) {
		// The block past the reported height never arrives: the sync
		// still ends with what it verified, which is not the target.
		const count = 120
		target := Group{Key: Key{Height: count - 1, Hash: src[count-1].Hash}, Backers: threeBackers}
		local := localChain(t, nil)
		m := honestSim(t, local, target, src[:count], DefaultSyncConfig(testDifficulty))
		m.lose = func(r Request) bool { return r.Height == count-1 }
		m.run()
		checkDone(t, m.s, local, 0, src[:count-1])
		if !m.s.Moved() {
			t.Error("Moved() = false, but the candidate does not end on the reported hash")
		}
	})
}

// 10. Replies nobody asked for, and backers lacking blocks they claimed.
func TestSyncUnsolicitedAndMissing(t *testing.T) {
	src := mainChain()[:200]
	target := groupOf(src, threeBackers...)
	a, b, c := threeBackers[0], threeBackers[1], threeBackers[2]

	type snapshot struct {
		phase             Phase
		inFlight          int
		verified, total   int
		backers           []netip.AddrPort
		next              int
		retry             []int
		pendingPeers      map[int]netip.AddrPort
		haveLen, windowsA int
	}
	snap := func(s *Sync) snapshot {
		v, total := s.Progress()
		pp := make(map[int]netip.AddrPort)
		for h, r := range s.pending {
			pp[h] = r.peer.addr
		}
		return snapshot{s.Phase(), s.InFlight(), v, total, s.Backers(), s.next, slices.Clone(s.retry), pp, len(s.have), s.byAddr[a].window}
	}
	setup := func(t *testing.T) (*Sync, map[int]netip.AddrPort) {
		s := NewSync(target, localChain(t, nil), DefaultSyncConfig(testDifficulty))
		asked := make(map[int]netip.AddrPort)
		for _, r := range s.Poll(t0) {
			asked[r.Height] = r.Peer
		}
		if len(asked) == 0 {
			t.Fatal("no requests")
		}
		return s, asked
	}
	askedOf := func(t *testing.T, asked map[int]netip.AddrPort, peer netip.AddrPort) int {
		t.Helper()
		for h, p := range asked {
			if p == peer {
				return h
			}
		}
		t.Fatalf("%s was asked nothing: %v", peer, asked)
		return -1
	}
	now := t0.Add(time.Millisecond)
	never := func(asked map[int]netip.AddrPort) int {
		for h := 150; ; h++ {
			if _, ok := asked[h]; !ok {
				return h
			}
		}
	}

	t.Run("missing block that was asked", func(t *testing.T) {
		s, asked := setup(t)
		h := askedOf(t, asked, a)
		// One "none" may be forged: it is booked, the request stays in
		// flight; MaxLies in a row drop the backer.
		if v := s.OnMissing(a, h, now); v != Rejected {
			t.Fatalf("first OnMissing = %v, want Rejected", v)
		}
		if n := s.TakeNotes(); len(n) != 0 || !slices.Contains(s.Backers(), a) {
			t.Fatalf("one none: notes %v, backers %v", n, s.Backers())
		}
		if v := s.OnMissing(a, h, now); v != Lacking {
			t.Fatalf("second OnMissing = %v, want Lacking", v)
		}
		if slices.Contains(s.Backers(), a) {
			t.Errorf("Backers() = %v still holds the lacking peer", s.Backers())
		}
		notes := s.TakeNotes()
		if len(notes) != 1 || notes[0].Peer != a {
			t.Errorf("notes = %v, want one for %s", notes, a)
		}
		// Its requests go to the others.
		for _, r := range s.Poll(now) {
			if r.Peer == a {
				t.Errorf("dropped peer asked for %d", r.Height)
			}
		}
		if _, ok := s.pending[h]; !ok && !slices.Contains(s.retry, h) {
			t.Errorf("height %d neither resent nor queued after its backer was dropped", h)
		}
		// Later replies from it are unsolicited.
		if v := s.OnMissing(a, h, now); v != Unsolicited {
			t.Errorf("OnMissing from a dropped peer = %v, want Unsolicited", v)
		}
		if s.Phase() != Fetching {
			t.Errorf("phase %v", s.Phase())
		}
	})
	t.Run("missing with unknown height, one request in flight", func(t *testing.T) {
		s := NewSync(target, localChain(t, nil), SyncConfig{Difficulty: testDifficulty, InitialWindow: 1})
		reqs := s.Poll(t0)
		if len(reqs) != 3 {
			t.Fatalf("window 1: %d requests, want 3", len(reqs))
		}
		if v := s.OnMissing(reqs[0].Peer, -1, now); v != Rejected {
			t.Errorf("OnMissing(-1) = %v, want Rejected", v)
		}
		if v := s.OnMissing(reqs[0].Peer, -1, now); v != Lacking {
			t.Errorf("second OnMissing(-1) = %v, want Lacking", v)
		}
		if slices.Contains(s.Backers(), reqs[0].Peer) {
			t.Errorf("Backers() = %v", s.Backers())
		}
	})
	// A "none" that does not say for which height, from a backer with
	// several requests in flight, may answer anything, even a request of
	// the consensus round: it is no proof of lacking.
	t.Run("missing with unknown height, several in flight", func(t *testing.T) {
		s, _ := setup(t)
		if v := s.OnMissing(b, -1, now); v != Unsolicited {
			t.Errorf("OnMissing(-1) = %v, want Unsolicited", v)
		}
		if !slices.Contains(s.Backers(), b) {
			t.Errorf("Backers() = %v lost %v", s.Backers(), b)
		}
	})
	t.Run("missing with unknown height, nothing in flight", func(t *testing.T) {
		s := NewSync(target, localChain(t, nil), DefaultSyncConfig(testDifficulty))
		before := snap(s)
		if v := s.OnMissing(a, -1, now); v != Unsolicited {
			t.Errorf("OnMissing(-1) with nothing asked = %v, want Unsolicited", v)
		}
		if after := snap(s); !reflect.DeepEqual(before, after) {
			t.Errorf("state changed:\n%+v\n%+v", before, after)
		}
	})
	// Some peers answer from another socket: a block from an address
	// that is no backer fills the request in flight for its height, and
	// counts for and against nobody.
	t.Run("a stranger's block", func(t *testing.T) {
		s, asked := setup(t)
		hb := askedOf(t, asked, b)
		stranger := ap("10.9.9.9:1")
		x := src[hb].Clone()
		x.Messages = []string{"forged"} // well formed, but it will not verify
		if v := s.OnBlock(stranger, x, now); v != Accepted {
			t.Fatalf("a stranger's block for a height in flight: verdict %v, want Accepted", v)
		}
		if v := s.OnBlock(stranger, src[never(asked)].Clone(), now); v != Unsolicited {
			t.Errorf("a stranger's block for a height never asked: verdict %v, want Unsolicited", v)
		}
		if n := s.TakeNotes(); len(n) != 0 || !slices.Contains(s.Backers(), b) {
			t.Fatalf("notes %v, backers %v after a stranger's block", n, s.Backers())
		}
		// The forged block did not verify: the height is asked again,
		// and nobody is blamed once all the rest arrives.
		for _, r := range s.Poll(now) {
			asked[r.Height] = r.Peer
		}
		for range 50 {
			reqs := s.Poll(now)
			if len(reqs) == 0 && s.InFlight() == 0 {
				break
			}
			for h := range s.pending {
				s.OnBlock(s.pending[h].peer.addr, src[h].Clone(), now)
			}
		}
		if s.Phase() != Done || len(s.TakeNotes()) != 0 {
			t.Fatalf("phase %v, notes %v: want done with no notes", s.Phase(), s.TakeNotes())
		}
		checkDone(t, s, nil, 0, src)
	})
	t.Run("unsolicited", func(t *testing.T) {
		s, asked := setup(t)
		hb := askedOf(t, asked, b)
		never := 150 // far above the first window
		if _, ok := asked[never]; ok {
			t.Fatal("height 150 was asked")
		}
		before := snap(s)
		cases := []struct {
			name string
			do   func() Verdict
		}{
			{"block never asked", func() Verdict { return s.OnBlock(b, src[never].Clone(), now) }},
			{"invalid block never asked", func() Verdict {
				x := src[never].Clone()
				x.Hash = "nonsense"
				return s.OnBlock(b, x, now)
			}},
			{"invalid block from a non-backer", func() Verdict {
				x := src[hb].Clone()
				x.Hash = "nonsense"
				return s.OnBlock(ap("10.9.9.9:1"), x, now)
			}},
			{"missing never asked", func() Verdict { return s.OnMissing(b, never, now) }},
			{"missing asked of another backer", func() Verdict { return s.OnMissing(c, hb, now) }},
			{"missing from a non-backer", func() Verdict { return s.OnMissing(ap("10.9.9.9:1"), hb, now) }},
		}
		for _, tc := range cases {
			if v := tc.do(); v != Unsolicited {
				t.Errorf("%s: verdict %v, want Unsolicited", tc.name, v)
			}
			if after := snap(s); !reflect.DeepEqual(before, after) {
				t.Errorf("%s: state changed:\n%+v\n%+v", tc.name, before, after)
			}
			if n := s.TakeNotes(); len(n) != 0 {
				t.Errorf("%s: notes %v", tc.name, n)
			}
		}
		// The real answer is still welcome.
		if v := s.OnBlock(b, src[hb].Clone(), now); v != Accepted {
			t.Errorf("the asked-for block: verdict %v, want Accepted", v)
		}
		// A second copy of it is not.
		if v := s.OnBlock(b, src[hb].Clone(), now); v != Unsolicited {
			t.Errorf("duplicate reply: verdict %v, want Unsolicited", v)
		}
	})
	t.Run("after done", func(t *testing.T) {
		m := honestSim(t, localChain(t, nil), target, src, DefaultSyncConfig(testDifficulty))
		m.run()
		if v := m.s.OnBlock(a, src[5].Clone(), m.now); v != Unsolicited {
			t.Errorf("OnBlock after Done = %v", v)
		}
		if v := m.s.OnMissing(a, 5, m.now); v != Unsolicited {
			t.Errorf("OnMissing after Done = %v", v)
		}
		checkDone(t, m.s, nil, 0, src)
	})
}

// 11. Never ask more than Lookahead heights beyond the verified prefix.
func TestSyncLookahead(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{{"no loss", 0}, {"20% loss", 0.2}} {
		t.Run(tc.name, func(t *testing.T) {
			const look = 16
			src := mainChain()[:300]
			target := groupOf(src, threeBackers...)
			local := localChain(t, nil)
			cfg := SyncConfig{Difficulty: testDifficulty, Lookahead: look, MaxStrikes: 1 << 30}
			m := honestSim(t, local, target, src, cfg)
			rng := rand.New(rand.NewPCG(7, 7))
			m.lose = func(Request) bool { return rng.Float64() < tc.loss }
			m.run()
			checkDone(t, m.s, local, 0, src)
			reach := 0
			for _, r := range m.log {
				if r.Height >= r.prefix+look {
					t.Fatalf("asked %d with %d verified: more than %d ahead", r.Height, r.prefix, look)
				}
				reach = max(reach, r.Height-r.prefix)
			}
			if reach != look-1 {
				t.Errorf("farthest request %d ahead of the prefix, want %d: the lookahead is not used", reach, look-1)
			}
			if m.maxFlight > look {
				t.Errorf("%d in flight with lookahead %d", m.maxFlight, look)
			}
		})
	}
}

// The sync's requests never target a dropped backer or a height it holds.
func TestSyncRequestsSane(t *testing.T) {
	src := mainChain()[:250]
	target := groupOf(src, threeBackers...)
	local := localChain(t, src[:40])
	m := honestSim(t, local, target, src, SyncConfig{Difficulty: testDifficulty, MaxStrikes: 1 << 30})
	rng := rand.New(rand.NewPCG(3, 9))
	m.lose = func(Request) bool { return rng.Float64() < 0.25 }
	m.tamper[threeBackers[0]] = func(b *chain.Block) bool {
		if b.Height == 200 {
			b.Messages = append(b.Messages, "x")
			return true
		}
		return false
	}
	m.run()
	checkDone(t, m.s, local, 40, src)
	for _, r := range m.log {
		if r.Height < 0 || r.Height >= len(src) {
			t.Errorf("request for height %d", r.Height)
		}
		if r.phase == Fetching && r.Height < r.prefix {
			t.Errorf("asked %d again after verifying it (prefix %d)", r.Height, r.prefix)
		}
	}
	// The liar's block may be settled by the backer whose block lies below
	// it (two parties, no third opinion): then the liar is not blamed, but
	// an honest backer never is.
	if noted := m.notedPeers(); len(noted) > 1 || len(noted) == 1 && noted[0] != threeBackers[0] {
		t.Errorf("notes %v, want none for an honest backer", m.notes)
	}
}

// firstAsked returns the lowest height >= min that a run of an honest sync
// of src asks of peer while fetching (the sim is deterministic without loss).
func firstAsked(t *testing.T, src []*chain.Block, peer netip.AddrPort, min int) int {
	t.Helper()
	m := honestSim(t, localChain(t, nil), groupOf(src, threeBackers...), src, DefaultSyncConfig(testDifficulty))
	m.run()
	k := -1
	for _, r := range m.log {
		if r.Peer == peer && r.Height >= min && (k < 0 || r.Height < k) {
			k = r.Height
		}
	}
	if k < 0 {
		t.Fatalf("%s never asked for a height >= %d", peer, min)
	}
	return k
}

// One backer of three moved to another fork after its STATS reply (or lies
// with validly mined blocks): from some height on it serves blocks that are
// valid and link to the chain below, but are not the target's. The two
// honest backers must not be blamed for that, and the target chain, which
// two of three backers serve, must be fetched (or at least not proved bad).
func TestSyncBackerOnAnotherFork(t *testing.T) {
	src := mainChain()[:200]
	target := groupOf(src, threeBackers...)
	moved := threeBackers[2]
	for _, tc := range []struct {
		name   string
		height func(k int) int // of the moved backer's chain forking at k
	}{
		{"shorter fork", func(int) int { return 190 }},
		// It answers "no such block" for heights just above its fork while
		// its fork block is still in the verified prefix.
		{"fork of 3 blocks", func(k int) int { return k + 3 }},
		{"fork of the same height", func(int) int { return 200 }},
		{"taller fork", func(int) int { return 201 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Fork exactly at the first height it is asked above 100, so
			// that its first fork block links to the verified prefix.
			k := firstAsked(t, src, moved, 100)
			fork := chain.Extend(src[:k], tc.height(k)-k, testDifficulty, "fork", 1_700_000_000)
			local := localChain(t, nil)
			m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
			m.serve[moved] = fork
			m.run()
			for _, n := range m.notes {
				if n.Peer != moved {
					t.Errorf("honest backer %s dropped: %v", n.Peer, n.Err)
				}
			}
			if m.s.Phase() != Done {
				t.Fatalf("phase %v, err %v", m.s.Phase(), m.s.Err())
			}
			if _, blocks := m.s.Result(); blocks[len(blocks)-1].Hash != target.Hash {
				t.Errorf("candidate ends on %.12s (%d blocks, Moved %v), not on the target %.12s that 2 of 3 backers serve",
					blocks[len(blocks)-1].Hash, len(blocks), m.s.Moved(), target.Hash)
			}
		})
	}
}

// While the one extra block past an off-by-one target is being asked, a
// "no such block" from a backer that was not asked for it is unsolicited,
// as it is for any other height.
func TestSyncExtensionMissingFromAnotherBacker(t *testing.T) {
	src := mainChain()
	const count = 120
	target := Group{Key: Key{Height: count - 1, Hash: src[count-1].Hash}, Backers: threeBackers}
	m := honestSim(t, localChain(t, nil), target, src[:count], DefaultSyncConfig(testDifficulty))
	var ext *Request
	m.lose = func(r Request) bool {
		if r.Height == count-1 && ext == nil {
			ext = &r
			return true
		}
		return false
	}
	for range 1000 {
		reqs := m.poll()
		if ext != nil || m.s.Phase() != Fetching {
			break
		}
		m.now = m.now.Add(time.Millisecond)
		for _, r := range reqs {
			m.answer(r)
		}
	}
	if ext == nil {
		t.Fatalf("the extra block %d was never asked (phase %v)", count-1, m.s.Phase())
	}
	other := threeBackers[0]
	if other == ext.Peer {
		other = threeBackers[1]
	}
	if v := m.s.OnMissing(other, count-1, m.now); v != Unsolicited {
		t.Errorf("OnMissing from %s, which was not asked for %d: %v, want Unsolicited", other, count-1, v)
	}
	if m.s.Phase() != Fetching {
		t.Errorf("phase %v after an unsolicited reply, want fetching", m.s.Phase())
	}
	// The real answer still completes the chain.
	if v := m.s.OnBlock(ext.Peer, src[count-1].Clone(), m.now); v != Accepted {
		t.Errorf("the asked-for extra block: %v, want Accepted", v)
	}
	checkDone(t, m.s, nil, 0, src[:count])
}

// A backer serves validly mined blocks of another fork from the first height
// it is asked above 100 (which get verified, as they link to the prefix),
// and then malformed blocks (upper-case hashes) above that: it is caught by
// the field checks while an honest backer's block that did not link to its
// fork block is still under suspicion. Only the liar may be blamed, and
// the target chain must still be fetched.
func TestSyncForkLiarCaughtLater(t *testing.T) {
	src := mainChain()[:200]
	target := groupOf(src, threeBackers...)
	for _, liar := range threeBackers {
		t.Run(liar.String(), func(t *testing.T) {
			k := firstAsked(t, src, liar, 100)
			fork := chain.Extend(src[:k], 200-k, testDifficulty, "fork", 1_700_000_000)
			local := localChain(t, nil)
			m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
			m.serve[liar] = fork
			m.tamper[liar] = func(b *chain.Block) bool {
				if b.Height > k {
					b.Hash = strings.ToUpper(b.Hash)
					return true
				}
				return false
			}
			m.run()
			for _, n := range m.notes {
				if n.Peer != liar {
					t.Errorf("honest backer %s dropped: %v", n.Peer, n.Err)
				}
			}
			checkDone(t, m.s, local, 0, src)
		})
	}
}

// A scan over liars: one backer of three serves another fork from a random
// height, of a random length, maybe with malformed blocks above it, over a
// lossy network. The sync must always end on the target chain without
// blaming an honest backer.
func TestSyncRandomLiarScan(t *testing.T) {
	src := mainChain()[:120]
	target := groupOf(src, threeBackers...)
	// The longest fork mined so far from each fork point: Extend mines the
	// same blocks whatever the length asked, so a shorter fork from that
	// point is a prefix of it, and only the blocks above it are mined.
	forks := map[int][]*chain.Block{}
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 150 {
		liar := threeBackers[rng.IntN(3)]
		k := 1 + rng.IntN(len(src)-1)
		length := 1 + rng.IntN(len(src)-k+5)
		fork, ok := forks[k]
		if !ok {
			fork = src[:k:k]
		}
		if len(fork) < k+length {
			fork = chain.Extend(fork, k+length-len(fork), testDifficulty, "fork", 1_700_000_000)
			forks[k] = fork
		}
		fork = fork[: k+length : k+length]
		badFrom := -1
		if rng.IntN(2) == 0 {
			badFrom = k + rng.IntN(length)
		}
		loss := rng.Float64() * 0.2
		lossRng := rand.New(rand.NewPCG(uint64(i), 1))
		local := localChain(t, nil)
		m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
		m.serve[liar] = fork
		if badFrom >= 0 {
			m.tamper[liar] = func(b *chain.Block) bool {
				if b.Height >= badFrom {
					b.Hash = strings.ToUpper(b.Hash)
					return true
				}
				return false
			}
		}
		m.lose = func(Request) bool { return lossRng.Float64() < loss }
		m.run()
		for _, n := range m.notes {
			if n.Peer != liar {
				t.Errorf("case %d (liar %s, fork at %d of %d blocks, bad from %d, loss %.2f): honest %s dropped: %v",
					i, liar, k, length, badFrom, loss, n.Peer, n.Err)
			}
		}
		if m.s.Phase() != Done {
			t.Fatalf("case %d (liar %s, fork at %d of %d blocks, bad from %d): phase %v, err %v",
				i, liar, k, length, badFrom, m.s.Phase(), m.s.Err())
		}
		if from, blocks := m.s.Result(); from != 0 || len(blocks) != len(src) || blocks[len(blocks)-1].Hash != target.Hash {
			t.Fatalf("case %d (liar %s, fork at %d of %d blocks, bad from %d): candidate of %d blocks from %d, top %.12s",
				i, liar, k, length, badFrom, len(blocks), from, blocks[len(blocks)-1].Hash)
		}
	}
}

// A stall (of our machine or the network) that times out every request in
// flight at once is one strike per backer, not one per request: the sync
// goes on with all its backers, and the timeout after it is doubled.
func TestSyncStallIsOneStrike(t *testing.T) {
	src := mainChain()[:200]
	target := groupOf(src, threeBackers...)
	local := localChain(t, nil)
	m := honestSim(t, local, target, src, DefaultSyncConfig(testDifficulty))
	round, stalled := 0, 0
	m.hook = func(m *sim) { round++ }
	m.lose = func(Request) bool {
		if round == 3 { // every reply of one round is lost
			stalled++
			return true
		}
		return false
	}
	m.run()
	checkDone(t, m.s, local, 0, src)
	if stalled < 2*len(threeBackers) {
		t.Fatalf("only %d replies lost in the stall: it did not stall whole windows", stalled)
	}
	if len(m.notes) != 0 {
		t.Errorf("backers dropped after one stall: %v", m.notes)
	}
	if got := m.s.Backers(); len(got) != len(threeBackers) {
		t.Errorf("Backers() = %v after one stall, want all three", got)
	}
}

// TestSyncLateAnswerGivesNoRoundTrip: a backer that answers every request
// 300 ms after it was first sent, while its first answers set the timeout
// near 60 ms. The late answer to a request that was sent again is no
// round-trip sample (Karn's algorithm): timed from the resend it reads as
// a fraction of the truth, keeps the timeout short and has nearly every
// request sent twice (28 resends of 30 blocks before the fix). Now the
// backoff stands until a request sent once is answered, and the estimate
// learns the 300 ms.
func TestSyncLateAnswerGivesNoRoundTrip(t *testing.T) {
	src := mainChain()[:30]
	peer := ap("127.0.0.1:9001")
	cfg := DefaultSyncConfig(testDifficulty)
	cfg.InitialWindow, cfg.MaxWindow = 1, 1
	s := NewSync(groupOf(src, peer), localChain(t, nil), cfg)
	now := t0
	first := map[int]time.Time{} // when each height was first asked
	delay := 50 * time.Millisecond
	requests, answered := 0, 0
	for step := 0; s.Phase() < Done && step < 20_000; step++ {
		for _, r := range s.Poll(now) {
			requests++
			if _, ok := first[r.Height]; !ok {
				first[r.Height] = now
			}
		}
		for h, at := range first {
			if !at.IsZero() && !now.Before(at.Add(delay)) {
				first[h] = time.Time{} // answered once
				s.OnBlock(peer, src[h], now)
				if answered++; answered == 5 {
					delay = 300 * time.Millisecond
				}
			}
		}
		now = now.Add(5 * time.Millisecond)
	}
	if s.Phase() != Done {
		t.Fatalf("sync %v after %v: %v", s.Phase(), now.Sub(t0), s.Err())
	}
	t.Logf("%d requests for %d blocks", requests, len(src))
	if resent := requests - len(src); resent > 8 {
		t.Fatalf("%d requests for %d blocks: %d resent, the late answers shortened the timeout", requests, len(src), resent)
	}
}
