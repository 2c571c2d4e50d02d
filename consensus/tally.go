// Package consensus decides which chain to follow and how to fetch it: it
// groups STATS replies by (height, hash), chooses the tallest group not
// marked bad (ties broken by the number of backers), and plans a pipelined
// download of that chain spread over the group's backers, verifying blocks
// as they arrive.
//
// It does no I/O and reads no clock: callers feed it events with the
// current time and send the requests it returns. The node's event loop
// owns every value here; none is safe for concurrent use.
package consensus

import (
	"cmp"
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
	Backers []string // peer addresses, sorted
}

// Tally collects one consensus round's STATS replies, one per peer.
type Tally struct {
	max     int
	reports map[string]Key
}

// NewTally returns an empty tally taking reports from at most limit peers
// (0 or less: no limit). The node asks only peers it knows, so the limit
// is a second line of defence behind the membership table's.
func NewTally(limit int) *Tally { return &Tally{max: limit, reports: make(map[string]Key)} }

// Add records peer's report; a later report from the same peer replaces
// the earlier one. It reports false, recording nothing, when the tally is
// full and peer new.
func (t *Tally) Add(peer string, k Key) bool {
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
	byKey := make(map[Key][]string)
	for peer, k := range t.reports {
		byKey[k] = append(byKey[k], peer)
	}
	groups := make([]Group, 0, len(byKey))
	for k, backers := range byKey {
		slices.Sort(backers)
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

// Choose returns the best group that is not marked bad and is taller than
// our chain of ourHeight blocks. ok is false when no group is worth
// fetching: we already hold the tallest valid chain we know of.
func Choose(groups []Group, bad *BadSet, ourHeight int) (Group, bool) {
	for _, g := range groups {
		if g.Height <= ourHeight {
			break // groups are sorted tallest first
		}
		if !bad.Has(g.Key) {
			return g, true
		}
	}
	return Group{}, false
}

// BadSet remembers chains that failed verification, so that consensus
// never tries them again. It holds at most max keys; beyond that the
// oldest mark is forgotten (a liar can invent keys faster than we forget).
type BadSet struct {
	max   int
	keys  map[Key]bool
	order []Key
}

// NewBadSet returns an empty set holding at most max keys (at least one).
func NewBadSet(limit int) *BadSet { return &BadSet{max: max(limit, 1), keys: make(map[Key]bool)} }

// Mark records k as bad.
func (s *BadSet) Mark(k Key) {
	if s.keys[k] {
		return
	}
	if len(s.order) >= s.max {
		delete(s.keys, s.order[0])
		s.order = s.order[1:]
	}
	s.keys[k] = true
	s.order = append(s.order, k)
}

// Has reports whether k is marked bad.
func (s *BadSet) Has(k Key) bool { return s != nil && s.keys[k] }

// Keys returns the bad keys, oldest first.
func (s *BadSet) Keys() []Key { return slices.Clone(s.order) }
