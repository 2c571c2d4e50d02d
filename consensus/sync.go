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
	Failed                 // given up: see Err and the notes
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
	Rejected                   // a wrong answer of the peer, booked against it; not dropped yet
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

	backers []*backer
	byAddr  map[netip.AddrPort]*backer
	rr      int         // round-robin start among equally free backers
	rtt     rttEstimate // over all backers, for a backer not yet measured

	anon    *backer          // stands in as the supplier of strangers' blocks
	pending map[int]*request // height -> request in flight
	expired []int            // scratch for Poll: heights timed out, ascending
	retry   []int            // heights to ask again, ascending
	avoid   map[int]*backer  // height -> backer that last timed out on it
	lost    map[int]bool     // heights whose request timed out, until answered
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
		lost:      make(map[int]bool),
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
	clear(s.lost)
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
	s.expire(now)
	return s.issue(now)
}

// expire handles the requests unanswered for longer than their backer's
// timeout: each height is asked again, and the backer's window, strikes
// and backoff pay for the loss.
func (s *Sync) expire(now time.Time) {
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
		r, ok := s.pending[h]
		if !ok {
			continue // its backer was dropped by an earlier expiry of this Poll, and its requests put back
		}
		delete(s.pending, h)
		s.lost[h] = true
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
}

// issue returns the requests to send now: the heights wanted next, each
// to the backer with the most room in its window.
func (s *Sync) issue(now time.Time) []Request {
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
		s.pending[h] = &request{peer: b, sent: now, resent: s.lost[h]}
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
// gets its window back and, when timed and not resent, a round-trip
// sample, which also ends its backoff (until then, as in TCP, the doubled
// timeout stands).
func (s *Sync) answered(h int, r *request, timed bool) {
	now := s.at
	delete(s.pending, h)
	delete(s.avoid, h)
	delete(s.lost, h)
	bk := r.peer
	bk.inflight--
	if timed && !r.resent {
		rtt := now.Sub(r.sent)
		bk.rtt.add(rtt)
		s.rtt.add(rtt)
		bk.backoff = 0
	}
	bk.strikes = 0
	bk.lastAnswer = now
	bk.window = min(s.cfg.MaxWindow, bk.window+1)
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
	// A "none" is as cheap to forge as a bad block: the request stays in
	// flight for the real answer, and it takes MaxLies of them in a row
	// to drop the backer.
	bk.nulls++
	if bk.nulls < s.cfg.MaxLies {
		return Rejected
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
	s.requeue(b)
	s.checkLeft()
}

// requeue puts the requests in flight to b back in the queue.
func (s *Sync) requeue(b *backer) {
	for h, r := range s.pending {
		if r.peer == b {
			delete(s.pending, h)
			b.inflight--
			s.queueRetry(h, nil)
		}
	}
}

// stall ends a sync that verified nothing for StallTimeout (its backers
// may be slow, or one of them loops us); it blames nobody.
func (s *Sync) stall(now time.Time) {
	if s.endWithoutExtra() {
		return
	}
	s.phase = Failed
	s.err = fmt.Errorf("%w for %v: %d of %d blocks verified after %v", ErrStalled,
		s.cfg.StallTimeout, len(s.verified), s.to-s.from, now.Sub(s.lastProgress).Round(time.Millisecond))
}

// endWithoutExtra ends the sync as done when all it lacks is the one block
// asked past the target's height (see atTop), which was optional; it
// reports whether it did.
func (s *Sync) endWithoutExtra() bool {
	if !s.extended || s.from+len(s.verified) < s.target.Height {
		return false
	}
	s.to = s.from + len(s.verified)
	s.phase = Done
	return true
}

// fail ends the sync once no backer is left.
func (s *Sync) fail() {
	if s.phase >= Done {
		return
	}
	if s.endWithoutExtra() {
		return
	}
	s.phase = Failed
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
