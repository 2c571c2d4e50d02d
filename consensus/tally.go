// Package consensus decides which chain to follow and how to fetch it: a
// consensus round (Round) groups STATS replies by (height, hash), asks for
// the top blocks of every taller chain to see which claims are real, and
// chooses the tallest proven chain that still has a backer not excluded
// (Choose; ties broken by the number of backers); a Sync plans a
// pipelined download of that chain spread over its backers, verifying
// blocks as they arrive and deciding whom a wrong block speaks against.
//
// It does no I/O and reads no clock: callers feed it events with the
// current time and send the requests it returns. The node's event loop
// owns every value here; none is safe for concurrent use.
package consensus

import (
	"cmp"
	"net/netip"
	"slices"
)

// Key identifies a chain as peers report it in STATS_REPLY: its number of
// blocks and its top block's hash.
type Key struct {
	Height int
	Hash   string
}

// Group is a chain and the peers that reported it.
type Group struct {
	Key
	Backers []netip.AddrPort // sorted
}

// Tally collects one consensus round's STATS replies, one per peer.
type Tally struct {
	max     int
	reports map[netip.AddrPort]Key
}

// NewTally returns an empty tally taking reports from at most limit peers
// (0 or less: no limit). The node asks only peers it knows, so the limit
// is a second line of defence behind the membership table's.
func NewTally(limit int) *Tally { return &Tally{max: limit, reports: make(map[netip.AddrPort]Key)} }

// Add records peer's report; a later report from the same peer replaces
// the earlier one. It reports false, recording nothing, when the tally is
// full and peer new.
func (t *Tally) Add(peer netip.AddrPort, k Key) bool {
	if _, ok := t.reports[peer]; !ok && t.max > 0 && len(t.reports) >= t.max {
		return false
	}
	t.reports[peer] = k
	return true
}

// Len returns the number of peers that reported.
func (t *Tally) Len() int { return len(t.reports) }

// Groups returns the reported chains, best first: tallest, then most
// backers, then by hash so that the order is deterministic.
func (t *Tally) Groups() []Group {
	byKey := make(map[Key][]netip.AddrPort)
	for peer, k := range t.reports {
		byKey[k] = append(byKey[k], peer)
	}
	groups := make([]Group, 0, len(byKey))
	for k, backers := range byKey {
		slices.SortFunc(backers, netip.AddrPort.Compare)
		groups = append(groups, Group{Key: k, Backers: backers})
	}
	slices.SortFunc(groups, func(a, b Group) int {
		return cmp.Or(
			cmp.Compare(b.Height, a.Height),
			cmp.Compare(len(b.Backers), len(a.Backers)),
			cmp.Compare(a.Hash, b.Hash),
		)
	})
	return groups
}

// Choose returns the best group taller than our chain of ourHeight blocks
// that still has a backer once the exclusions are taken out, with only
// those backers. ok is false when no group is worth fetching: we already
// hold the tallest chain that any peer not excluded reports.
func Choose(groups []Group, ex *Exclusions, ourHeight int) (Group, bool) {
	for _, g := range groups {
		if g.Height <= ourHeight {
			break // groups are sorted tallest first
		}
		if g = ex.Filter(g); len(g.Backers) > 0 {
			return g, true
		}
	}
	return Group{}, false
}

// Exclusions remembers which peer may not back which chain: a peer that
// served an invalid block of a chain, or could not serve a chain it
// claimed, is not asked for that chain again. What a peer did is held
// against that peer alone, never against the chain: a liar that claims
// the honest chain and serves garbage gets the honest chain refused by
// nobody. It holds at most max pairs, forgetting the oldest first (a liar
// can invent chains faster than we forget).
type Exclusions struct {
	max   int
	pairs map[exclusion]bool
	order []exclusion
}

type exclusion struct {
	peer netip.AddrPort
	key  Key
}

// NewExclusions returns an empty set holding at most limit pairs (at least one).
func NewExclusions(limit int) *Exclusions {
	return &Exclusions{max: max(limit, 1), pairs: make(map[exclusion]bool)}
}

// Exclude records that peer may not back k.
func (s *Exclusions) Exclude(peer netip.AddrPort, k Key) {
	e := exclusion{peer, k}
	if s.pairs[e] {
		return
	}
	if len(s.order) >= s.max {
		delete(s.pairs, s.order[0])
		s.order = s.order[1:]
	}
	s.pairs[e] = true
	s.order = append(s.order, e)
}

// Has reports whether peer is excluded from backing k.
func (s *Exclusions) Has(peer netip.AddrPort, k Key) bool {
	return s != nil && s.pairs[exclusion{peer, k}]
}

// Filter returns g with its excluded backers taken out.
func (s *Exclusions) Filter(g Group) Group {
	if s == nil || len(s.pairs) == 0 {
		return g
	}
	var kept []netip.AddrPort
	for _, b := range g.Backers {
		if !s.Has(b, g.Key) {
			kept = append(kept, b)
		}
	}
	g.Backers = kept
	return g
}

// Refused reports whether every backer of g is excluded: a chain nobody
// we still trust reports.
func (s *Exclusions) Refused(g Group) bool {
	return len(g.Backers) > 0 && len(s.Filter(g).Backers) == 0
}

// Len returns the number of pairs held.
func (s *Exclusions) Len() int { return len(s.order) }
