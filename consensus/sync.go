package consensus

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"blockpeer/chain"
)

// LocalChain is what a Sync reads of our own verified chain.
type LocalChain interface {
	Height() int
	HashAt(h int) string
}

// SyncConfig tunes a Sync. Zero fields take the defaults of DefaultSyncConfig.
type SyncConfig struct {
	Difficulty     int           // trailing zeros every block needs
	RequestTimeout time.Duration // a GET_BLOCK with no answer by then is resent
	// MinRequestTimeout is the floor of the adaptive timeout: once replies
	// have come, a request is resent after the round-trip time measured
	// so far plus four deviations (as TCP does), between this and
	// RequestTimeout.
	MinRequestTimeout time.Duration
	InitialWindow     int // requests in flight per backer at the start
	MaxWindow         int // most requests in flight per backer
	MaxStrikes        int // consecutive timeouts before a backer is dropped
	Lookahead         int // most heights requested beyond the verified prefix
	// MaxLies is how many invalid blocks a backer may send in answer to
	// our requests before it is dropped as a liar: one alone may be a
	// forgery with its source address.
	MaxLies int
	// StallTimeout ends a sync that verified nothing for this long: a
	// sync must not hold the node while its backers trickle or loop.
	StallTimeout time.Duration
}

// DefaultSyncConfig returns the settings used on the course network.
func DefaultSyncConfig(difficulty int) SyncConfig {
	return SyncConfig{
		Difficulty:        difficulty,
		RequestTimeout:    time.Second,
		MinRequestTimeout: 20 * time.Millisecond,
		InitialWindow:     8,
		MaxWindow:         64,
		MaxStrikes:        6,
		Lookahead:         4096,
		MaxLies:           2,
		StallTimeout:      8 * time.Second,
	}
}

func (c SyncConfig) withDefaults() SyncConfig {
	d := DefaultSyncConfig(c.Difficulty)
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MinRequestTimeout <= 0 {
		c.MinRequestTimeout = d.MinRequestTimeout
	}
	c.MinRequestTimeout = min(c.MinRequestTimeout, c.RequestTimeout)
	if c.InitialWindow <= 0 {
		c.InitialWindow = d.InitialWindow
	}
	if c.MaxWindow < c.InitialWindow {
		c.MaxWindow = max(d.MaxWindow, c.InitialWindow)
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = d.MaxStrikes
	}
	if c.Lookahead <= 0 {
		c.Lookahead = d.Lookahead
	}
	if c.MaxLies <= 0 {
		c.MaxLies = d.MaxLies
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = max(d.StallTimeout, time.Duration(c.MaxStrikes+2)*c.RequestTimeout)
	}
	return c
}

// Phase is where a Sync is.
type Phase int

// The phases of a Sync, in order.
const (
	Searching Phase = iota // binary search for the fork point
	Fetching               // pipelined download of the blocks above it
	Done                   // a verified candidate is ready: see Result
	Failed                 // given up: see Err and MarkBad
)

func (p Phase) String() string {
	return [...]string{"searching", "fetching", "done", "failed"}[p]
}

// Request is a GET_BLOCK to send.
type Request struct {
	Peer   netip.AddrPort
	Height int
}

// Verdict says what became of a reply handed to a Sync.
type Verdict int

// Verdicts of OnBlock and OnMissing.
const (
	Unsolicited Verdict = iota // nothing asked for it: dropped
	Accepted                   // used
	Lied                       // the peer sent an invalid block and was dropped
	Lacking                    // the peer could not serve a block of the chain it claimed and was dropped
)

// ErrNoBackers is the failure of a sync whose every backer was dropped.
var ErrNoBackers = errors.New("no backer left")

// ErrStalled is the failure of a sync that verified nothing for
// SyncConfig.StallTimeout.
var ErrStalled = errors.New("no progress")

// Sync downloads and verifies the chain of one Group. It first finds where
// our chain and theirs part (a binary search over GET_BLOCK, one probe in
// flight), then fetches the heights above that point with many requests in
// flight spread over the backers, verifying each block on top of the last
// verified one as soon as it arrives.
type Sync struct {
	cfg    SyncConfig
	target Key
	local  LocalChain
	phase  Phase
	err    error
	bad    bool

	backers []*backer
	byAddr  map[netip.AddrPort]*backer
	rr      int         // round-robin start among equally free backers
	rtt     rttEstimate // over all backers, for a backer not yet measured

	anon    *backer          // stands in as the supplier of strangers' blocks
	pending map[int]*request // height -> request in flight
	expired []int            // scratch for Poll: heights timed out, ascending
	retry   []int            // heights to ask again, ascending
	avoid   map[int]*backer  // height -> backer that last timed out on it
	notes   []Note

	// Searching: our chain and theirs agree at lo (-1: nowhere) and differ
	// at hi; probe is the height asked. probers are the backers whose
	// answers placed the fork point; prober, when set, is the one backer
	// a repeated search asks (see refute); searches counts the searches.
	lo, hi, probe int
	probers       map[*backer]bool
	prober        *backer
	searches      int

	lastProgress time.Time // when a block was last verified or a probe answered
	at           time.Time // the time of the event being handled

	// Fetching: heights from..to-1, next is the lowest never asked.
	from, to, next int
	extended       bool             // to was raised by one past target.Height
	have           map[int]received // arrived, not yet verified
	verified       []*chain.Block   // blocks from..from+len-1, verified
	suppliers      []*backer        // who sent each verified block
	conflicts      map[int]conflict // height -> a block there that did not link
	prevHash       string           // hash of the block below the next to verify
}

type backer struct {
	addr       netip.AddrPort
	window     int
	inflight   int
	strikes    int
	lies       int // invalid blocks sent in answer to our requests
	served     int
	lastAnswer time.Time // when it last answered
	lastCut    time.Time // when its window was last halved
	rtt        rttEstimate
	backoff    uint   // its timeout is doubled this many times (bursts of timeouts since its last answer)
	dropped    string // why it was dropped ("" while in use)
	silent     bool   // dropped for timeouts, not for lying
	parked     error  // set aside, unblamed, for blocks that disagree with others' (see park)
}

type request struct {
	peer *backer
	sent time.Time
}

// rttEstimate is a smoothed round-trip time and its mean deviation
// (RFC 6298's SRTT and RTTVAR).
type rttEstimate struct {
	srtt, rttvar time.Duration
	measured     bool
}

func (e *rttEstimate) add(rtt time.Duration) {
	if !e.measured {
		e.srtt, e.rttvar, e.measured = rtt, rtt/2, true
		return
	}
	e.rttvar = (3*e.rttvar + (e.srtt - rtt).Abs()) / 4
	e.srtt = (7*e.srtt + rtt) / 8
}

// timeout is how long a request to b may go unanswered: b's round-trip
// time plus four deviations, or the sync's over all backers while b has
// not answered yet (so a silent backer is found out as fast as the others
// answer), or RequestTimeout before any reply; doubled for each burst of
// timeouts since b last answered (as TCP backs off).
func (s *Sync) timeout(b *backer) time.Duration {
	e := b.rtt
	if !e.measured {
		e = s.rtt
	}
	if !e.measured {
		return s.cfg.RequestTimeout
	}
	return min(s.cfg.RequestTimeout, max(s.cfg.MinRequestTimeout, e.srtt+4*e.rttvar)<<b.backoff)
}

// conflict is a block that did not link to the verified block below it,
// sent by another backer: one of the two is on another fork.
type conflict struct {
	peer *backer
	err  error
}

// received is a block not yet verified: sent by peer in answer to our
// request, or, when stranger is set, by another address in answer to a
// request to peer. A stranger's block is used when it verifies (its
// content proves itself) but never counts for or against peer.
type received struct {
	block    *chain.Block
	peer     *backer
	stranger bool
}

// NewSync starts downloading target's chain from its backers, on top of
// local. Call Poll at once for the first requests.
func NewSync(target Group, local LocalChain, cfg SyncConfig) *Sync {
	s := &Sync{
		cfg:       cfg.withDefaults(),
		target:    target.Key,
		local:     local,
		byAddr:    make(map[netip.AddrPort]*backer),
		pending:   make(map[int]*request),
		avoid:     make(map[int]*backer),
		conflicts: make(map[int]conflict),
		have:      make(map[int]received),
		probe:     -1,
		anon:      &backer{},
	}
	for _, addr := range target.Backers {
		if s.byAddr[addr] != nil {
			continue
		}
		b := &backer{addr: addr, window: s.cfg.InitialWindow}
		s.backers = append(s.backers, b)
		s.byAddr[addr] = b
	}
	if len(s.backers) == 0 {
		s.phase, s.err = Failed, fmt.Errorf("%w: the group has no backers", ErrNoBackers)
		return s
	}
	shared := min(local.Height(), target.Height)
	if shared == 0 {
		s.startFetch(0)
	} else {
		s.search(shared, nil)
	}
	return s
}

// search starts the search for the fork point below hi (theirs and ours
// differ there or above), asking prober alone when it is set. A search
// begun again drops what the last one fetched: it stood on a fork point
// that the chain being fetched contradicts.
func (s *Sync) search(hi int, prober *backer) {
	s.phase = Searching
	s.lo, s.hi, s.probe = -1, hi, hi-1
	s.prober = prober
	s.probers = make(map[*backer]bool)
	s.searches++
	s.from, s.to, s.next = 0, 0, 0
	s.extended = false
	clear(s.have)
	clear(s.conflicts)
	clear(s.avoid)
	s.verified, s.suppliers, s.retry = nil, nil, nil
	for h, r := range s.pending {
		delete(s.pending, h)
		r.peer.inflight--
	}
	if s.hi-s.lo <= 1 {
		s.startFetch(s.lo + 1)
	}
}

// Target returns the chain being fetched.
func (s *Sync) Target() Key { return s.target }

// Phase returns the current phase.
func (s *Sync) Phase() Phase { return s.phase }

// Err returns why a Failed sync failed.
func (s *Sync) Err() error { return s.err }

// MarkBad reports whether a Failed sync proved the target chain bad (its
// blocks are invalid or its backers cannot serve it), as opposed to having
// lost its backers to silence.
func (s *Sync) MarkBad() bool { return s.bad }

// ForkPoint returns the first height being fetched (valid once Fetching).
func (s *Sync) ForkPoint() int { return s.from }

// Progress returns how many blocks are verified out of how many to fetch.
func (s *Sync) Progress() (verified, total int) { return len(s.verified), s.to - s.from }

// Result returns a Done sync's candidate: the verified blocks from height
// from upwards, to be adopted on top of our first from blocks.
func (s *Sync) Result() (from int, blocks []*chain.Block) { return s.from, s.verified }

// Settled returns the leading verified blocks that nothing disputes: those
// below every height where two backers' blocks disagree. Only these may
// be kept before the sync is done (see the node's keepVerified).
func (s *Sync) Settled() (from int, blocks []*chain.Block) {
	n := len(s.verified)
	for h := range s.conflicts {
		n = min(n, max(0, h-1-s.from))
	}
	return s.from, s.verified[:n]
}

// Backers returns the addresses still in use.
func (s *Sync) Backers() []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range s.backers {
		if b.dropped == "" {
			out = append(out, b.addr)
		}
	}
	return out
}

// InFlight returns the number of requests awaiting an answer.
func (s *Sync) InFlight() int { return len(s.pending) }

// Poll expires requests older than the timeout and returns the requests to
// send now. Call it after every event and on a timer.
func (s *Sync) Poll(now time.Time) []Request {
	s.at = now
	if s.lastProgress.IsZero() {
		s.lastProgress = now
	}
	if s.phase < Done && now.Sub(s.lastProgress) >= s.cfg.StallTimeout {
		s.stall(now)
	}
	// Which requests expired is decided before any is handled (handling
	// one changes its backer's timeout), and they are handled in height
	// order, not map order: the same events give the same requests.
	s.expired = s.expired[:0]
	for h, r := range s.pending {
		if now.Sub(r.sent) >= s.timeout(r.peer) {
			s.expired = append(s.expired, h)
		}
	}
	slices.Sort(s.expired)
	for _, h := range s.expired {
		r := s.pending[h]
		delete(s.pending, h)
		b := r.peer
		b.inflight--
		// Losses of requests sent before the last cut belong to a burst
		// already counted: one cut, one strike and one doubling of the
		// timeout each, so that a stall of the machine or the network,
		// which times out a whole window at once, costs one strike.
		if !r.sent.Before(b.lastCut) {
			b.window = max(1, b.window/2)
			b.lastCut = now
			if !r.sent.Before(b.lastAnswer) {
				b.strikes++
				if b.rtt.measured { // one that never answered is not waited for longer
					b.backoff = min(b.backoff+1, 10)
				}
			}
		}
		s.queueRetry(h, b)
		if b.strikes >= s.cfg.MaxStrikes && b.dropped == "" {
			s.drop(b, NoteSilent, fmt.Errorf("no answer to %d requests in a row", b.strikes))
		}
	}
	if s.phase == Done || s.phase == Failed {
		return nil
	}
	var out []Request
	for {
		h, ok := s.nextWanted()
		if !ok {
			break
		}
		var b *backer
		if s.phase == Searching && s.prober != nil && s.prober.dropped == "" {
			if s.prober.window > s.prober.inflight {
				b = s.prober
			}
		} else {
			b = s.pick(s.avoid[h])
		}
		if b == nil {
			break
		}
		s.takeWanted(h)
		b.inflight++
		s.pending[h] = &request{peer: b, sent: now}
		out = append(out, Request{Peer: b.addr, Height: h})
	}
	return out
}

// Note is something a Sync learned about a peer that the node should log:
// a backer that lied, lacked blocks it claimed, or went silent.
type Note struct {
	Peer netip.AddrPort
	Kind NoteKind
	Err  error
	// Zeros, for NoteOtherDifficulty, is how many trailing zeros the
	// hash of the backer's block had.
	Zeros int
}

// NoteKind says how a backer failed.
type NoteKind int

// The kinds of Note, worst first.
const (
	NoteLied    NoteKind = iota // served invalid blocks or another fork
	NoteLacking                 // claimed a chain it could not serve
	NoteSilent                  // stopped answering
	// NoteOtherDifficulty: its blocks are well formed but their hashes
	// have fewer trailing zeros than our difficulty: it is on another
	// network, or we are. No lie.
	NoteOtherDifficulty
)

func (k NoteKind) String() string {
	return [...]string{"lied", "lacking", "silent", "other difficulty"}[k]
}

// TakeNotes returns and forgets the notes gathered since the last call.
func (s *Sync) TakeNotes() []Note {
	n := s.notes
	s.notes = nil
	return n
}

// Moved reports whether a Done sync ended on a top hash other than the
// target's: the backers' chain grew while we fetched it, or they report
// STATS heights off by one. The candidate is verified either way.
func (s *Sync) Moved() bool {
	return s.phase == Done && len(s.verified) > 0 && s.prevHash != s.target.Hash
}

// OnBlock hands the Sync a block received from the address from in a
// GET_BLOCK_REPLY. A backer's block answers its request for that height;
// an invalid one counts against it, and MaxLies of them, or a block that
// does not link to its own block below, get it dropped as a liar (see
// TakeNotes). A block from an address that is no backer (some peers answer
// from another socket) may fill a request in flight to any backer: it is
// used when it verifies, and counts for nobody and against nobody.
func (s *Sync) OnBlock(from netip.AddrPort, b *chain.Block, now time.Time) Verdict {
	s.at = now
	bk := s.byAddr[from]
	h := b.Height
	r, ok := s.pending[h]
	if s.phase >= Done || !ok || bk != nil && bk.dropped != "" && !bk.silent {
		return Unsolicited
	}
	if bk == nil || r.peer != bk {
		return s.onStrangerBlock(b, r)
	}
	if err := chain.CheckFields(b, s.cfg.Difficulty); err != nil {
		if zeros, other := otherDifficulty(b, err); other {
			s.drop(bk, NoteOtherDifficulty, fmt.Errorf("block %d: %w", h, err))
			s.notes[len(s.notes)-1].Zeros = zeros
			return Lied
		}
		s.wrong(bk, fmt.Errorf("block %d: %w", h, err))
		return Lied
	}
	s.answered(h, r, true)
	bk.served++
	if s.phase == Searching {
		s.onProbe(h, b, bk, false)
	} else if h >= s.from+len(s.verified) {
		s.have[h] = received{block: b, peer: bk}
		s.advance()
	}
	return Accepted
}

// onStrangerBlock takes a block for request r from an address other than
// the backer asked: it fills the request for pacing, and is used if it
// verifies; it says nothing for or against anyone.
func (s *Sync) onStrangerBlock(b *chain.Block, r *request) Verdict {
	if chain.CheckFields(b, s.cfg.Difficulty) != nil {
		return Unsolicited
	}
	h := b.Height
	s.answered(h, r, true)
	if s.phase == Searching {
		s.onProbe(h, b, r.peer, true)
	} else if h >= s.from+len(s.verified) {
		s.have[h] = received{block: b, peer: r.peer, stranger: true}
		s.advance()
	}
	return Accepted
}

// answered books the answer to request r for height h: the backer asked
// gets its window back and, when timed, a round-trip sample.
func (s *Sync) answered(h int, r *request, timed bool) {
	now := s.at
	delete(s.pending, h)
	delete(s.avoid, h)
	bk := r.peer
	bk.inflight--
	if timed {
		rtt := now.Sub(r.sent)
		bk.rtt.add(rtt)
		s.rtt.add(rtt)
	}
	bk.strikes, bk.backoff = 0, 0
	bk.lastAnswer = now
	bk.window = min(s.cfg.MaxWindow, bk.window+1)
}

// otherDifficulty reports whether a block failed CheckFields only for its
// difficulty, with a hash of at least one trailing zero (a block of a
// network at another difficulty), and how many zeros its hash has.
func otherDifficulty(b *chain.Block, err error) (zeros int, other bool) {
	if !errors.Is(err, chain.ErrDifficulty) {
		return 0, false
	}
	for zeros < len(b.Hash) && b.Hash[len(b.Hash)-1-zeros] == '0' {
		zeros++
	}
	if b.Height == 0 && chain.ComputeHash("", b) != b.Hash {
		return zeros, false // a genesis is checked in full
	}
	return zeros, zeros > 0
}

// OnMissing tells the Sync that peer answered "no such block" (nulls,
// "None", a non-block) for height, or for an unknown height (-1) when the
// reply did not say. A backer that cannot serve a block of the chain it
// claimed is dropped.
func (s *Sync) OnMissing(peer netip.AddrPort, height int, now time.Time) Verdict {
	s.at = now
	bk := s.byAddr[peer]
	if bk == nil || bk.dropped != "" || s.phase >= Done {
		return Unsolicited
	}
	if height < 0 { // attribute to the one request it has in flight, if one
		n := 0
		for h, r := range s.pending {
			if r.peer == bk {
				height, n = h, n+1
			}
		}
		if n != 1 {
			// Nothing or several in flight: a late answer to some
			// earlier request, maybe not ours to count. No blame.
			return Unsolicited
		}
	}
	if r, ok := s.pending[height]; ok && r.peer == bk && s.extended && height == s.to-1 {
		// No block above the target: the chain is exactly as reported.
		delete(s.pending, height)
		r.peer.inflight--
		s.to--
		s.phase = Done
		return Accepted
	}
	if r, ok := s.pending[height]; height >= 0 && (!ok || r.peer != bk) {
		return Unsolicited
	}
	s.drop(bk, NoteLacking, fmt.Errorf("claims %d blocks but has no block %d", s.target.Height, height))
	return Lacking
}

func (s *Sync) onProbe(h int, b *chain.Block, bk *backer, stranger bool) {
	if h != s.probe {
		return
	}
	if !stranger {
		s.probers[bk] = true
	}
	s.lastProgress = s.at
	if b.Hash == s.local.HashAt(h) {
		s.lo = h
	} else {
		s.hi = h
		s.have[h] = received{block: b, peer: bk, stranger: stranger}
	}
	if s.hi-s.lo <= 1 {
		s.startFetch(s.lo + 1)
		return
	}
	s.probe = (s.lo + s.hi) / 2
}

func (s *Sync) startFetch(from int) {
	s.lastProgress = s.at
	s.phase = Fetching
	s.probe = -1
	s.from, s.to, s.next = from, s.target.Height, from
	s.prevHash = s.local.HashAt(from - 1)
	for h := range s.have {
		if h < from {
			delete(s.have, h)
		}
	}
	s.retry = slices.DeleteFunc(s.retry, func(h int) bool { return h < from })
	if from >= s.to {
		s.phase = Done // our chain already holds theirs
		return
	}
	s.advance()
}

// advance verifies the arrived blocks that continue the verified prefix.
func (s *Sync) advance() {
	for s.phase == Fetching {
		vn := s.from + len(s.verified)
		if vn == s.to {
			if s.prevHash == s.target.Hash || s.extended {
				s.finish()
				return
			}
			// The top is not the reported hash: either the chain grew
			// meanwhile or the backers report heights off by one. Ask
			// for one block more; "none" ends the sync as it is.
			s.extended = true
			s.to++
			return
		}
		r, ok := s.have[vn]
		if !ok {
			return
		}
		delete(s.have, vn)
		supplier := r.peer
		if r.stranger {
			supplier = s.anon
		}
		err := chain.Validate(r.block, s.prevHash, vn, s.cfg.Difficulty)
		if err == nil {
			if c, ok := s.conflicts[vn]; ok && c.peer != supplier && s.supplier(vn-1) != supplier {
				// Two others agree where this one disagreed: it is set
				// aside (two agreeing backers may be one liar's).
				delete(s.conflicts, vn)
				s.park(c.peer, c.err)
				if vn != s.from+len(s.verified) { // its blocks below were rolled back
					s.have[vn] = r
					continue
				}
			}
			delete(s.conflicts, vn)
			s.verified = append(s.verified, r.block)
			s.suppliers = append(s.suppliers, supplier)
			s.prevHash = r.block.Hash
			s.lastProgress = s.at
			if r.block.Hash == s.target.Hash && vn+1 < s.to {
				s.to = vn + 1 // the chain is lower than reported: it ends here
			}
			continue
		}
		below := s.supplier(vn - 1)
		switch {
		case r.stranger:
			// Anyone's block that does not link is dropped, and its
			// height asked again: it says nothing about anyone.
			s.queueRetry(vn, nil)
		case vn == s.from && vn > 0 && errors.Is(err, chain.ErrHash):
			s.refute(r, err)
		case !errors.Is(err, chain.ErrHash) || below == nil || below == r.peer:
			// Invalid in itself, or inconsistent with its own sender's
			// block below: a wrong answer of the sender.
			s.queueRetry(vn, nil)
			s.wrong(r.peer, err)
		default:
			// Block vn does not link to block vn-1 from another backer:
			// one of the two serves another fork. Ask a third backer for
			// vn; if its block disagrees too, the block below is the odd
			// one out.
			if below.dropped != "" {
				// The block below came from a backer since dropped:
				// nothing vouches for it any more.
				s.have[vn] = r
				s.forget(below)
				continue
			}
			if first, ok := s.conflicts[vn]; !ok || first.peer == r.peer {
				s.conflicts[vn] = conflict{peer: r.peer, err: err}
				s.queueRetry(vn, r.peer)
				continue
			}
			delete(s.conflicts, vn)
			s.have[vn] = r
			s.park(below, fmt.Errorf("block %d disagrees with blocks %d of two other backers", vn-1, vn))
		}
	}
}

// finish ends the sync with its candidate. When it ends on the target's
// hash, it is the target chain: the backers set aside for blocks that
// disagreed with it served another chain's blocks in answer to our
// requests, and are noted as liars.
func (s *Sync) finish() {
	s.phase = Done
	if s.prevHash != s.target.Hash {
		return
	}
	for _, b := range s.backers {
		if b.parked != nil {
			s.notes = append(s.notes, Note{Peer: b.addr, Kind: NoteLied, Err: fmt.Errorf("sent blocks of another chain: %w", b.parked)})
			b.parked = nil
		}
	}
}

// refute handles a backer's block at the fork point that does not link to
// our block below it. That is evidence against the fork point, not against
// the block's sender: the probe answers that put the fork point there may
// have been one liar's. Unless the sender placed the fork point itself
// (then it contradicts itself), the search runs again, asking the sender
// alone; a backer that lies to it contradicts itself in turn.
func (s *Sync) refute(r received, err error) {
	switch {
	case s.probers[r.peer]:
		s.queueRetry(s.from, nil)
		s.wrong(r.peer, fmt.Errorf("its block %d does not link to the block %d it said we share: %w", s.from, s.from-1, err))
	case s.searches > len(s.backers):
		s.phase, s.bad = Failed, false
		s.err = fmt.Errorf("the fork point was contradicted %d times", s.searches)
	default:
		s.search(s.from, r.peer) // theirs and ours differ at from-1 at the latest
	}
}

// wrong books a wrong answer of b to one of our requests; MaxLies of them
// get it dropped as a liar. The stand-in for strangers' blocks is never
// dropped: its blocks that others contradict are forgotten.
func (s *Sync) wrong(b *backer, err error) {
	if b == s.anon {
		s.forget(b)
		return
	}
	b.lies++
	if b.lies >= s.cfg.MaxLies || b.dropped != "" {
		s.lied(b, err)
	}
}

// supplier returns who sent the verified block at height h, nil when the
// block is ours (below the fork point) or not verified.
func (s *Sync) supplier(h int) *backer {
	if i := h - s.from; i >= 0 && i < len(s.suppliers) {
		return s.suppliers[i]
	}
	return nil
}

// forget removes the blocks b sent that nothing else vouches for, and
// asks for those heights again: its unverified blocks, and the top run of
// verified blocks that b alone sent (a block another backer's block links
// on top of is vouched for by that backer too).
func (s *Sync) forget(b *backer) {
	if s.phase != Fetching {
		return
	}
	for h, r := range s.have {
		if r.peer == b {
			delete(s.have, h)
			s.queueRetry(h, nil)
		}
	}
	cut := len(s.suppliers)
	for cut > 0 && s.suppliers[cut-1] == b {
		cut--
	}
	if cut == len(s.suppliers) {
		return
	}
	top := s.from + len(s.verified)
	s.verified, s.suppliers = s.verified[:cut], s.suppliers[:cut]
	s.prevHash = s.local.HashAt(s.from + cut - 1)
	if cut > 0 {
		s.prevHash = s.verified[cut-1].Hash
	}
	for h := range s.conflicts {
		if h > s.from+cut { // recorded against a block no longer verified
			delete(s.conflicts, h)
		}
	}
	for h := s.from + cut; h < top; h++ {
		s.queueRetry(h, nil)
	}
}

// lied drops b for serving invalid blocks or another fork, and forgets
// the blocks only it vouches for (also when it was dropped before).
func (s *Sync) lied(b *backer, err error) {
	err = fmt.Errorf("sent an invalid block: %w", err)
	switch {
	case b.dropped == "":
		s.drop(b, NoteLied, err)
	case b.silent: // dropped for silence, now known to lie
		b.silent = false
		s.notes = append(s.notes, Note{Peer: b.addr, Kind: NoteLied, Err: err})
		s.forget(b)
	default:
		s.forget(b)
	}
}

// drop stops using b and puts its requests back in the queue.
func (s *Sync) drop(b *backer, kind NoteKind, why error) {
	silent := kind == NoteSilent
	s.notes = append(s.notes, Note{Peer: b.addr, Kind: kind, Err: why})
	b.dropped, b.silent = why.Error(), silent
	// A candidate holds no block whose only source is gone and that
	// anyone disputes: a liar's or a lacking backer's blocks may be
	// another fork's, and a silent one may have sent a block of another
	// chain and gone quiet. A silent backer's undisputed blocks stay (a
	// source that goes away mid-sync leaves a valid prefix).
	if !silent || len(s.conflicts) > 0 {
		s.forget(b)
	}
	for h, r := range s.pending {
		if r.peer == b {
			delete(s.pending, h)
			b.inflight--
			s.queueRetry(h, nil)
		}
	}
	s.checkLeft()
}

// park sets b aside, unblamed: its blocks disagree with two others', but
// two backers that agree may be one liar's two addresses, and which side
// holds the target chain shows only when a side reaches its top hash. If
// the others fail to, the sync starts again with the backers set aside
// (see checkLeft); if they reach it, the backers set aside served blocks
// of another chain, and are noted as liars then (see finish).
func (s *Sync) park(b *backer, why error) {
	if b == s.anon {
		s.forget(b)
		return
	}
	if b.dropped != "" {
		return
	}
	b.parked, b.dropped = why, "set aside: "+why.Error()
	s.forget(b)
	for h, r := range s.pending {
		if r.peer == b {
			delete(s.pending, h)
			b.inflight--
			s.queueRetry(h, nil)
		}
	}
	s.checkLeft()
}

// checkLeft fails the sync once no backer is left in use, unless some
// were set aside: then it searches again, asking the first of them, which
// backs the others no more than they back it.
func (s *Sync) checkLeft() {
	var parked []*backer
	for _, o := range s.backers {
		if o.dropped == "" {
			return
		}
		if o.parked != nil {
			parked = append(parked, o)
		}
	}
	if len(parked) == 0 || s.searches > len(s.backers) || s.phase >= Done {
		s.fail()
		return
	}
	for _, b := range parked {
		b.parked, b.dropped, b.strikes, b.lies, b.backoff = nil, "", 0, 0, 0
		b.window = s.cfg.InitialWindow
	}
	s.search(min(s.local.Height(), s.target.Height), parked[0])
}

// stall ends a sync that verified nothing for StallTimeout; it marks
// nothing bad (its backers may be slow, or one of them loops us).
func (s *Sync) stall(now time.Time) {
	if s.extended && s.from+len(s.verified) >= s.target.Height {
		s.to = s.from + len(s.verified) // the extra block was optional
		s.phase = Done
		return
	}
	s.phase, s.bad = Failed, false
	s.err = fmt.Errorf("%w for %v: %d of %d blocks verified after %v", ErrStalled,
		s.cfg.StallTimeout, len(s.verified), s.to-s.from, now.Sub(s.lastProgress).Round(time.Millisecond))
}

// fail ends the sync once no backer is left.
func (s *Sync) fail() {
	if s.phase >= Done {
		return
	}
	if s.extended && s.from+len(s.verified) >= s.target.Height {
		s.to = s.from + len(s.verified) // the extra block was optional
		s.phase = Done
		return
	}
	s.phase = Failed
	s.bad = true
	for _, b := range s.backers {
		if b.silent {
			s.bad = false // some backer may have served it, had it answered
		}
	}
	s.err = fmt.Errorf("%w for %d@%.12s after %d of %d blocks", ErrNoBackers,
		s.target.Height, s.target.Hash, len(s.verified), s.to-s.from)
}

func (s *Sync) queueRetry(h int, avoid *backer) {
	switch s.phase {
	case Searching:
		if h == s.probe && avoid != nil {
			s.avoid[h] = avoid
		}
		return
	case Fetching:
	default:
		return
	}
	if h < s.from+len(s.verified) || h >= s.to {
		return
	}
	if _, ok := s.have[h]; ok {
		return
	}
	if _, ok := s.pending[h]; ok {
		return
	}
	i, found := slices.BinarySearch(s.retry, h)
	if !found {
		s.retry = slices.Insert(s.retry, i, h)
	}
	if avoid != nil {
		s.avoid[h] = avoid
	}
}

// nextWanted returns the height to ask for next, if any.
func (s *Sync) nextWanted() (int, bool) {
	switch s.phase {
	case Searching:
		if _, ok := s.pending[s.probe]; ok {
			return 0, false
		}
		return s.probe, true
	case Fetching:
		if len(s.retry) > 0 {
			return s.retry[0], true
		}
		for s.next < s.to {
			if _, ok := s.have[s.next]; !ok {
				break
			}
			s.next++
		}
		if s.next < s.to && s.next < s.from+len(s.verified)+s.cfg.Lookahead {
			return s.next, true
		}
	}
	return 0, false
}

// takeWanted consumes the height nextWanted returned.
func (s *Sync) takeWanted(h int) {
	if s.phase != Fetching {
		return
	}
	if len(s.retry) > 0 && s.retry[0] == h {
		s.retry = s.retry[1:]
		return
	}
	s.next = h + 1
}

// pick returns the backer with the most free window, preferring one other
// than avoid, or nil when every backer is busy.
func (s *Sync) pick(avoid *backer) *backer {
	var best *backer
	bestFree := 0
	n := len(s.backers)
	for i := range n {
		b := s.backers[(s.rr+i)%n]
		free := b.window - b.inflight
		if b.dropped != "" || free <= 0 {
			continue
		}
		if b == avoid {
			free = 0 // only if nobody else is free
		}
		if best == nil || free > bestFree {
			best, bestFree = b, free
		}
	}
	s.rr++
	return best
}

// AddBackers adds peers found backing the target since the sync began (a
// later consensus round); they share the work from the next Poll.
func (s *Sync) AddBackers(addrs []netip.AddrPort) {
	for _, a := range addrs {
		if s.byAddr[a] != nil {
			continue
		}
		b := &backer{addr: a, window: s.cfg.InitialWindow}
		s.backers = append(s.backers, b)
		s.byAddr[a] = b
	}
}
