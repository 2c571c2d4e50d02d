package peer

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Member is a peer we know: named by a GOSSIP or GOSSIP_REPLY, or heard
// from at its address.
type Member struct {
	Addr     netip.AddrPort
	Name     string
	LastSeen time.Time
	// Proven is set once a datagram came from Addr itself. A member only
	// named in a message body may be anyone's address, a victim's: until
	// it is proven we send it no more than Credit bytes (three times what
	// the messages that named it weighed, as QUIC does for an address
	// not yet validated), never forward to it and never ask it in a
	// consensus round.
	Proven bool
	Credit int
	// GreetAgain is when we greet it once more if it is still not proven
	// (a peer that gossips before it binds its socket missed our first
	// greeting); zero: not due.
	GreetAgain time.Time
	// Height and Hash are its chain as it last told us, by STATS_REPLY or
	// by ANNOUNCE (0 and "" before any, or when it has no chain), at
	// ReportedAt.
	Height     int
	Hash       string
	ReportedAt time.Time
}

// memberTable is the membership table: who we know and when we last heard
// from them. It reads no clock: callers pass the time.
type memberTable struct {
	max    int
	peers  map[netip.AddrPort]*Member
	proven []netip.AddrPort // the proven members' addresses, sorted: Random picks from it
	// named holds the unproven members in the order they were named,
	// oldest first, for evict to find the oldest at once (a flood of
	// GOSSIPs naming fresh addresses would otherwise cost a scan of the
	// table each). Members proven or forgotten since are skipped when
	// met, and swept out when they are half of it.
	named []*Member
}

// newMemberTable returns an empty table holding at most max peers.
func newMemberTable(max int) *memberTable {
	return &memberTable{max: max, peers: make(map[netip.AddrPort]*Member)}
}

// Touch records addr at now, with its name when one is given: heard from
// at that very address when proven is set, named in a message otherwise.
// It returns the member and whether it is new; nil when the table is full
// of members that may not make room (see evict).
func (ms *memberTable) Touch(addr netip.AddrPort, name string, proven bool, now time.Time) (*Member, bool) {
	m := ms.peers[addr]
	isNew := m == nil
	if isNew {
		if len(ms.peers) >= ms.max && !ms.evict(proven) {
			return nil, false
		}
		m = &Member{Addr: addr}
		ms.peers[addr] = m
		if !proven {
			ms.addNamed(m)
		}
	}
	if name != "" {
		m.Name = name
	}
	switch {
	case proven:
		ms.Prove(m, now)
	case isNew || m.Proven && now.After(m.LastSeen):
		// Named: a proven member's gossip relayed by others is a sign
		// of life; an unproven one expires like a silent peer unless it
		// speaks.
		m.LastSeen = now
	}
	return m, isNew
}

// Prove records that a datagram came from m's own address at now.
func (ms *memberTable) Prove(m *Member, now time.Time) {
	if now.After(m.LastSeen) {
		m.LastSeen = now
	}
	if m.Proven {
		return
	}
	m.Proven, m.GreetAgain = true, time.Time{}
	i, _ := slices.BinarySearchFunc(ms.proven, m.Addr, netip.AddrPort.Compare)
	ms.proven = slices.Insert(ms.proven, i, m.Addr)
}

// addNamed queues m, new and unproven, behind the members named before.
func (ms *memberTable) addNamed(m *Member) {
	ms.named = append(ms.named, m)
	if len(ms.named) > 2*max(ms.max, 16) {
		ms.named = slices.DeleteFunc(ms.named, func(n *Member) bool { return !ms.isNamed(n) })
	}
}

// isNamed reports whether n, queued in named, is still an unproven member.
func (ms *memberTable) isNamed(n *Member) bool { return !n.Proven && ms.peers[n.Addr] == n }

// evict makes room in a full table: it forgets the unproven member named
// the longest ago or, for a proven newcomer when every member is proven,
// the member silent the longest. It reports whether it made room: an
// unproven newcomer never evicts a proven member.
func (ms *memberTable) evict(forProven bool) bool {
	for len(ms.named) > 0 {
		n := ms.named[0]
		ms.named[0] = nil
		ms.named = ms.named[1:]
		if ms.isNamed(n) {
			ms.forget(n.Addr)
			return true
		}
	}
	if !forProven {
		return false
	}
	// Every member is proven: the one silent the longest goes, the
	// lowest address among equals (the same members give the same
	// victim).
	var victim *Member
	for _, m := range ms.peers {
		if victim == nil || m.LastSeen.Before(victim.LastSeen) ||
			m.LastSeen.Equal(victim.LastSeen) && m.Addr.Compare(victim.Addr) < 0 {
			victim = m
		}
	}
	if victim == nil {
		return false
	}
	ms.forget(victim.Addr)
	return true
}

// Get returns the member at addr, or nil.
func (ms *memberTable) Get(addr netip.AddrPort) *Member { return ms.peers[addr] }

// Remove removes addr and returns its member, nil when unknown.
func (ms *memberTable) Remove(addr netip.AddrPort) *Member {
	m := ms.peers[addr]
	if m != nil {
		ms.forget(addr)
	}
	return m
}

func (ms *memberTable) forget(addr netip.AddrPort) {
	delete(ms.peers, addr)
	if i, ok := slices.BinarySearchFunc(ms.proven, addr, netip.AddrPort.Compare); ok {
		ms.proven = slices.Delete(ms.proven, i, i+1)
	}
}

// Len returns the number of members.
func (ms *memberTable) Len() int { return len(ms.peers) }

// Expire removes and returns the members not heard from since now-timeout.
func (ms *memberTable) Expire(now time.Time, timeout time.Duration) []*Member {
	var gone []*Member
	for addr, m := range ms.peers {
		if now.Sub(m.LastSeen) >= timeout {
			ms.forget(addr)
			gone = append(gone, m)
		}
	}
	sortMembers(gone)
	return gone
}

// All returns the members sorted by address.
func (ms *memberTable) All() []*Member {
	all := make([]*Member, 0, len(ms.peers))
	for _, m := range ms.peers {
		all = append(all, m)
	}
	sortMembers(all)
	return all
}

// ProvenLen returns the number of proven members.
func (ms *memberTable) ProvenLen() int { return len(ms.proven) }

// Random returns up to n distinct proven member addresses chosen with rng,
// none of them in exclude. It costs O(n) however many members there are
// (it runs for every gossip forwarded); the same seed and members give the
// same picks.
func (ms *memberTable) Random(rng *rand.Rand, n int, exclude ...netip.AddrPort) []netip.AddrPort {
	eligible := len(ms.proven)
	for i, e := range exclude {
		if m := ms.peers[e]; m != nil && m.Proven && !slices.Contains(exclude[:i], e) {
			eligible--
		}
	}
	want := min(n, eligible)
	out := make([]netip.AddrPort, 0, want)
	for len(out) < want {
		a := ms.proven[rng.IntN(len(ms.proven))]
		if !slices.Contains(exclude, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func sortMembers(ms []*Member) {
	slices.SortFunc(ms, func(a, b *Member) int { return a.Addr.Compare(b.Addr) })
}

// seenIDs is the bounded set of gossip ids already forwarded. An id is
// forgotten after ttl, or earlier when more than max ids arrive in that
// time (oldest first).
type seenIDs struct {
	ttl   time.Duration
	max   int
	ids   map[string]time.Time
	order []string // insertion order, for expiry
}

// newSeenIDs returns an empty set.
func newSeenIDs(ttl time.Duration, max int) *seenIDs {
	return &seenIDs{ttl: ttl, max: max, ids: make(map[string]time.Time)}
}

// Add records id at now and reports whether it was new.
func (s *seenIDs) Add(id string, now time.Time) bool {
	s.expire(now)
	if _, ok := s.ids[id]; ok {
		return false
	}
	if len(s.order) >= s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = now
	s.order = append(s.order, id)
	return true
}

// Has reports whether id is remembered.
func (s *seenIDs) Has(id string) bool {
	_, ok := s.ids[id]
	return ok
}

// Len returns the number of ids remembered.
func (s *seenIDs) Len() int { return len(s.ids) }

func (s *seenIDs) expire(now time.Time) {
	n := 0
	for n < len(s.order) && now.Sub(s.ids[s.order[n]]) >= s.ttl {
		delete(s.ids, s.order[n])
		n++
	}
	s.order = s.order[n:]
}
