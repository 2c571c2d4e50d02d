package consensus

import (
	"errors"
	"fmt"

	"blockpeer/chain"
)

// Verification: blocks are checked on top of the last verified one as they
// arrive, and what a block that does not fit says about whom (a liar, a
// wrong fork point, two forks) is decided here.

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

// received is a block not yet verified: sent by peer in answer to our
// request, or, when stranger is set, by another address in answer to a
// request to peer. A stranger's block is used when it verifies (its
// content proves itself) but never counts for or against peer.
type received struct {
	block    *chain.Block
	peer     *backer
	stranger bool
}

// conflict is a block that did not link to the verified block below it,
// sent by another backer: one of the two is on another fork.
type conflict struct {
	peer *backer
	err  error
}

// advance verifies the arrived blocks that continue the verified prefix.
func (s *Sync) advance() {
	for s.phase == Fetching {
		vn := s.from + len(s.verified)
		if vn == s.to {
			s.atTop()
			return
		}
		r, ok := s.have[vn]
		if !ok {
			return
		}
		delete(s.have, vn)
		if err := chain.Validate(r.block, s.prevHash, vn, s.cfg.Difficulty); err != nil {
			s.reject(vn, r, err)
		} else {
			s.accept(vn, r)
		}
	}
}

// atTop handles a verified prefix that reaches the height asked for: the
// sync is done when its top is the target's hash, or when one block more
// was asked already. Otherwise either the chain grew meanwhile or the
// backers report heights off by one: one block more is asked for, and
// "none" ends the sync as it is.
func (s *Sync) atTop() {
	if s.prevHash == s.target.Hash || s.extended {
		s.finish()
		return
	}
	s.extended = true
	s.to++
}

// accept appends r's block, which links to the verified prefix at height
// vn, unless it settles a conflict there in a way that rolls the prefix
// back (then it waits in have for its turn again).
func (s *Sync) accept(vn int, r received) {
	supplier := r.peer
	if r.stranger {
		supplier = s.anon
	}
	if c, ok := s.conflicts[vn]; ok && c.peer != supplier && s.supplier(vn-1) != supplier {
		// Two others agree where this one disagreed: it is set aside
		// (two agreeing backers may be one liar's).
		delete(s.conflicts, vn)
		s.park(c.peer, c.err)
		if vn != s.from+len(s.verified) { // its blocks below were rolled back
			s.have[vn] = r
			return
		}
	}
	delete(s.conflicts, vn)
	s.verified = append(s.verified, r.block)
	s.suppliers = append(s.suppliers, supplier)
	supplier.lies, supplier.nulls = 0, 0 // a good answer: the wrong ones counted are not in a row
	s.prevHash = r.block.Hash
	s.lastProgress = s.at
	if r.block.Hash == s.target.Hash && vn+1 < s.to {
		s.to = vn + 1 // the chain is lower than reported: it ends here
	}
}

// reject handles r's block at height vn, which failed validation on the
// verified prefix with err: it weighs against its sender, or against the
// block below it, or against nobody.
func (s *Sync) reject(vn int, r received, err error) {
	below := s.supplier(vn - 1)
	switch {
	case r.stranger:
		// Anyone's block that does not link is dropped, and its height
		// asked again: it says nothing about anyone.
		s.queueRetry(vn, nil)
	case vn == s.from && vn > 0 && errors.Is(err, chain.ErrHash):
		s.refute(r, err)
	case !errors.Is(err, chain.ErrHash) || below == nil || below == r.peer:
		// Invalid in itself, or inconsistent with its own sender's block
		// below: a wrong answer of the sender.
		s.queueRetry(vn, nil)
		s.wrong(r.peer, err)
	case below.dropped != "":
		// The block below came from a backer since dropped: nothing
		// vouches for it any more.
		s.have[vn] = r
		s.forget(below)
	default:
		// Block vn does not link to block vn-1 from another backer: one
		// of the two serves another fork. Ask a third backer for vn; if
		// its block disagrees too, the block below is the odd one out.
		if first, ok := s.conflicts[vn]; !ok || first.peer == r.peer {
			s.conflicts[vn] = conflict{peer: r.peer, err: err}
			s.queueRetry(vn, r.peer)
			return
		}
		delete(s.conflicts, vn)
		s.have[vn] = r
		s.park(below, fmt.Errorf("block %d disagrees with blocks %d of two other backers", vn-1, vn))
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
		s.phase = Failed
		s.err = fmt.Errorf("the fork point was contradicted %d times", s.searches)
	default:
		s.search(s.from, r.peer) // theirs and ours differ at from-1 at the latest
	}
}

// wrong books a wrong answer of b to one of our requests; MaxLies of them
// in a row (a block of b's that verifies starts the count again) get it
// dropped as a liar: a forger spraying invalid blocks "from" an honest
// backer must land them between two of the backer's own answers. The stand-in for strangers' blocks is never
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
	s.requeue(b)
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
