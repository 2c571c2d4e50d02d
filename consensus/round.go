package consensus

import (
	"net/netip"
	"slices"
	"time"

	"blockpeer/chain"
)

// RoundConfig tunes a Round.
type RoundConfig struct {
	Difficulty int
	// Window is how long STATS replies are collected (the round ends
	// sooner when every peer asked has answered).
	Window time.Duration
	// MaxReports bounds the replies counted (see NewTally).
	MaxReports int
	// MinProofWait and MaxProofWait bound the time given to the top
	// blocks of the chains reported: ten round trips of the slowest
	// STATS reply counted, within these bounds.
	MinProofWait, MaxProofWait time.Duration
	// ProofBackers is how many backers of each chain are asked for its
	// top blocks.
	ProofBackers int
}

func (c RoundConfig) withDefaults() RoundConfig {
	if c.Window <= 0 {
		c.Window = time.Second
	}
	if c.MinProofWait <= 0 {
		c.MinProofWait = 100 * time.Millisecond
	}
	if c.MaxProofWait < c.MinProofWait {
		c.MaxProofWait = max(c.Window, c.MinProofWait)
	}
	if c.ProofBackers <= 0 {
		c.ProofBackers = 8
	}
	return c
}

// RoundPhase is where a Round is.
type RoundPhase int

// The phases of a Round, in order.
const (
	Collecting RoundPhase = iota // STATS sent, replies coming in
	Proving                      // top blocks of the taller chains asked
	Decided                      // a chain chosen, or none: see Choice
)

func (p RoundPhase) String() string {
	return [...]string{"collecting", "proving", "decided"}[p]
}

// maxProofBlocks bounds the blocks a Round keeps as proofs.
const maxProofBlocks = 4096

// Round is one consensus round, as a state machine fed events and time
// (like Sync): who was asked for STATS, who answered what, and the
// proof that each chain taller than ours exists. A STATS_REPLY is a claim
// anyone can make for free; the claim is proven when some peer sends its
// top block with a valid proof of work on top of the block below it,
// which no one can forge without mining. Proofs are asked of every taller
// chain at once and wait at most a few round trips, so a hundred silent
// peers claiming chains of a million blocks cost one short wait, not a
// doomed sync each; a chain whose top block nobody could show is
// chosen only when no claim was proven, and then only the one the most
// peers back.
//
// The node sends the STATS, the Requests that Poll returns and nothing
// else; it hands every STATS_REPLY and GET_BLOCK_REPLY block to OnStats
// and OnBlock. Nothing here reads a clock or touches a socket.
type Round struct {
	Why     string // what started it, for the log
	Started time.Time

	cfg      RoundConfig
	phase    RoundPhase
	deadline time.Time // of the current phase
	asked    map[netip.AddrPort]time.Time
	rtt      map[netip.AddrPort]time.Duration // of each reply counted
	tally    *Tally
	groups   []Group // all chains reported, best first (from Collecting on)

	candidates []Group      // taller than ours, backers not excluded
	proven     map[Key]bool // candidates whose top block was shown
	blocks     map[int][]*chain.Block
	nblocks    int
	requests   []Request    // the proof requests, resent until answered
	answered   map[int]bool // heights asked: whether some block arrived
	resendAt   time.Time
	skip       map[Key]bool // chains given up this round
	zeros      int          // fewest trailing zeros of a top block short of our difficulty (0: none seen)
	choice     Group
	chosen     bool
	ourHeight  int // our chain's height when the window closed
}

// NewRound opens a round at now that asked every address in asked.
func NewRound(why string, now time.Time, asked []netip.AddrPort, cfg RoundConfig) *Round {
	cfg = cfg.withDefaults()
	r := &Round{Why: why, Started: now, cfg: cfg, deadline: now.Add(cfg.Window),
		asked: make(map[netip.AddrPort]time.Time), rtt: make(map[netip.AddrPort]time.Duration),
		tally: NewTally(cfg.MaxReports), proven: make(map[Key]bool), blocks: make(map[int][]*chain.Block),
		answered: make(map[int]bool), skip: make(map[Key]bool)}
	for _, a := range asked {
		r.asked[a] = now
	}
	return r
}

// Phase returns the current phase.
func (r *Round) Phase() RoundPhase { return r.phase }

// Asked reports whether addr was asked for STATS in this round.
func (r *Round) Asked(addr netip.AddrPort) bool { _, ok := r.asked[addr]; return ok }

// AskedCount returns how many peers were asked.
func (r *Round) AskedCount() int { return len(r.asked) }

// Ask records that addr was asked at now (a peer that joined mid-round);
// it reports false when the round no longer collects or addr was asked.
func (r *Round) Ask(addr netip.AddrPort, now time.Time) bool {
	if r.phase != Collecting || r.Asked(addr) {
		return false
	}
	r.asked[addr] = now
	return true
}

// OnStats records a STATS_REPLY from the address from, received at now:
// only a peer asked in this round, while it collects, counts, and only
// its first reply. hasChain is false for a peer with no chain (it counts
// as an answer). It reports whether the reply counted.
func (r *Round) OnStats(from netip.AddrPort, k Key, hasChain bool, now time.Time) bool {
	at, ok := r.asked[from]
	if !ok || r.phase != Collecting {
		return false
	}
	if _, dup := r.rtt[from]; dup {
		return false
	}
	if hasChain && !r.tally.Add(from, k) {
		return false
	}
	r.rtt[from] = max(now.Sub(at), 0)
	return true
}

// Replies returns how many peers answered.
func (r *Round) Replies() int { return len(r.rtt) }

// Groups returns the chains reported, best first (nil while collecting).
func (r *Round) Groups() []Group { return r.groups }

// Proven reports whether k's top block was shown in this round.
func (r *Round) Proven(k Key) bool { return r.proven[k] }

// OnBlock offers a block from a GET_BLOCK_REPLY, from whatever address: a
// top block of a candidate chain proves it whoever sent it. It reports
// whether the round used it.
func (r *Round) OnBlock(b *chain.Block) bool {
	if _, wanted := r.answered[b.Height]; r.phase != Proving || !wanted || r.nblocks >= maxProofBlocks {
		return false
	}
	for _, o := range r.blocks[b.Height] {
		if sameBlock(o, b) { // a liar's block may carry the right hash on the wrong contents: kept apart
			return false
		}
	}
	r.blocks[b.Height] = append(r.blocks[b.Height], b)
	r.nblocks++
	r.answered[b.Height] = true
	r.check()
	return true
}

// check marks the candidates whose top block and the block below it are
// held and valid.
func (r *Round) check() {
	for _, g := range r.candidates {
		if r.proven[g.Key] {
			continue
		}
		for _, top := range r.blocks[g.Height-1] {
			if top.Hash == g.Hash && r.validTop(top) {
				r.proven[g.Key] = true
			}
		}
	}
}

// validTop reports whether top has a valid proof of work on top of a block
// we hold below it (a genesis block stands alone). It notes a top block
// whose hash is right but short of our difficulty: a network at another
// difficulty.
func (r *Round) validTop(top *chain.Block) bool {
	var prevs []string
	if top.Height == 0 {
		prevs = []string{""}
	}
	for _, p := range r.blocks[top.Height-1] {
		if chain.IsHash(p.Hash) {
			prevs = append(prevs, p.Hash)
		}
	}
	for _, prev := range prevs {
		err := chain.Validate(top, prev, top.Height, r.cfg.Difficulty)
		if err == nil {
			return true
		}
		if zeros, other := otherDifficulty(top, err); other && chain.Validate(top, prev, top.Height, zeros) == nil {
			if r.zeros == 0 || zeros < r.zeros {
				r.zeros = zeros
			}
		}
	}
	return false
}

// Poll moves the round on at now: it closes the STATS window (at its end,
// or once every peer asked has answered), then returns the GET_BLOCKs of
// the top blocks of every chain taller than ourHeight whose backers are
// not all excluded, resends those still unanswered, and decides once the
// tallest candidate is proven or the proofs' time is up.
func (r *Round) Poll(now time.Time, ourHeight int, ex *Exclusions) []Request {
	switch r.phase {
	case Collecting:
		if now.Before(r.deadline) && len(r.rtt) < len(r.asked) {
			return nil
		}
		r.groups = r.tally.Groups()
		r.ourHeight = ourHeight
		for _, g := range r.groups {
			if g.Height <= ourHeight {
				break
			}
			if g = ex.Filter(g); len(g.Backers) > 0 {
				r.candidates = append(r.candidates, g)
			}
		}
		if len(r.candidates) == 0 {
			r.decide()
			return nil
		}
		r.phase = Proving
		var slowest time.Duration
		for _, d := range r.rtt {
			slowest = max(slowest, d)
		}
		wait := min(max(10*slowest, r.cfg.MinProofWait), r.cfg.MaxProofWait)
		r.deadline = now.Add(wait)
		r.resendAt = now.Add(wait / 3)
		for _, g := range r.candidates {
			for _, b := range g.Backers[:min(len(g.Backers), r.cfg.ProofBackers)] {
				// Not height g.Height, which an honest peer does not
				// have: its "none" does not say for which height, and a
				// late one would pass for an answer to a sync's request.
				for h := max(g.Height-2, 0); h < g.Height; h++ {
					r.requests = append(r.requests, Request{Peer: b, Height: h})
					r.answered[h] = false
				}
			}
		}
		return slices.Clone(r.requests)
	case Proving:
		if r.settled() || !now.Before(r.deadline) {
			r.decide()
			return nil
		}
		if now.Before(r.resendAt) {
			return nil
		}
		r.resendAt = now.Add(r.deadline.Sub(now) / 2)
		var again []Request
		for _, q := range r.requests {
			if !r.answered[q.Height] {
				again = append(again, q)
			}
		}
		return again
	}
	return nil
}

// settled reports whether waiting longer cannot change the choice: the
// tallest candidate is proven.
func (r *Round) settled() bool {
	return len(r.candidates) > 0 && r.proven[r.candidates[0].Key]
}

// decide closes the round with its choice.
func (r *Round) decide() {
	r.phase = Decided
	r.choice, r.chosen = r.next()
}

// next returns the choice among the candidates not skipped: Choose over
// the proven ones (the tallest, ties to the most backers) or, when none
// was ever proven, over the one backed by the most peers.
func (r *Round) next() (Group, bool) {
	var proven []Group
	var fallback *Group
	for i, g := range r.candidates {
		switch {
		case r.skip[g.Key]:
		case r.proven[g.Key]:
			proven = append(proven, g)
		case fallback == nil || len(g.Backers) > len(fallback.Backers):
			fallback = &r.candidates[i]
		}
	}
	if len(r.proven) == 0 && fallback != nil {
		proven = []Group{*fallback}
	}
	return Choose(proven, nil, r.ourHeight) // the candidates hold the backers not excluded already
}

// Choice returns the chain a Decided round chose to fetch; ok is false
// when no chain taller than ours is worth fetching.
func (r *Round) Choice() (g Group, ok bool) { return r.choice, r.chosen }

// Skip gives up the chosen chain for this round (its sync failed) and
// returns the next choice, if any.
func (r *Round) Skip(k Key) (Group, bool) {
	r.skip[k] = true
	r.choice, r.chosen = r.next()
	return r.choice, r.chosen
}

// OtherDifficulty returns the trailing zeros of the top blocks shown in
// this round whose hashes were right but short of our difficulty, when no
// claim was proven at ours: the peers are on a network at that
// difficulty (or we are on the wrong one). 0: no such sign.
func (r *Round) OtherDifficulty() int {
	if len(r.proven) > 0 {
		return 0
	}
	return r.zeros
}

// sameBlock reports whether a and b are the same block, field by field.
func sameBlock(a, b *chain.Block) bool {
	return a.Height == b.Height && a.Hash == b.Hash && a.MinedBy == b.MinedBy && a.Nonce == b.Nonce &&
		a.Timestamp == b.Timestamp && slices.Equal(a.Messages, b.Messages)
}
