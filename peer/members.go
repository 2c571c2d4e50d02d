package peer

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Member is a peer we know: heard from by GOSSIP, GOSSIP_REPLY or any
// datagram from its address.
type Member struct {
	Addr     netip.AddrPort
	Name     string
	LastSeen time.Time
	// Height and Hash are its chain as it last told us, by STATS_REPLY or
	// by ANNOUNCE (0 and "" before any, or when it has no chain), at
	// ReportedAt.
	Height     int
	Hash       string
	ReportedAt time.Time
}

// Members is the membership table: who we know and when we last heard
// from them. It reads no clock: callers pass the time.
type Members struct {
	max   int
	peers map[netip.AddrPort]*Member
}

// NewMembers returns an empty table holding at most max peers.
func NewMembers(max int) *Members {
	return &Members{max: max, peers: make(map[netip.AddrPort]*Member)}
}

// Touch records that addr was heard from at now, with its name when one is
// given. It returns the member and whether it is new; nil when the table is
// full and addr unknown.
func (ms *Members) Touch(addr netip.AddrPort, name string, now time.Time) (*Member, bool) {
	m := ms.peers[addr]
	isNew := m == nil
	if isNew {
		if len(ms.peers) >= ms.max {
			return nil, false
		}
		m = &Member{Addr: addr}
		ms.peers[addr] = m
	}
	if name != "" {
		m.Name = name
	}
	if now.After(m.LastSeen) {
		m.LastSeen = now
	}
	return m, isNew
}

// Get returns the member at addr, or nil.
func (ms *Members) Get(addr netip.AddrPort) *Member { return ms.peers[addr] }

// Len returns the number of members.
func (ms *Members) Len() int { return len(ms.peers) }

// Expire removes and returns the members not heard from since now-timeout.
func (ms *Members) Expire(now time.Time, timeout time.Duration) []*Member {
	var gone []*Member
	for addr, m := range ms.peers {
		if now.Sub(m.LastSeen) >= timeout {
			delete(ms.peers, addr)
			gone = append(gone, m)
		}
	}
	sortMembers(gone)
	return gone
}

// All returns the members sorted by address.
func (ms *Members) All() []*Member {
	all := make([]*Member, 0, len(ms.peers))
	for _, m := range ms.peers {
		all = append(all, m)
	}
	sortMembers(all)
	return all
}

// Random returns up to n distinct member addresses chosen with rng, none of
// them in exclude.
func (ms *Members) Random(rng *rand.Rand, n int, exclude ...netip.AddrPort) []netip.AddrPort {
	pool := make([]netip.AddrPort, 0, len(ms.peers))
	for addr := range ms.peers {
		if !slices.Contains(exclude, addr) {
			pool = append(pool, addr)
		}
	}
	// Sorted first, so the same seed picks the same peers; by Compare, not
	// by String as All does: this runs for every GOSSIP forwarded.
	slices.SortFunc(pool, netip.AddrPort.Compare)
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:min(n, len(pool))]
}

func sortMembers(ms []*Member) {
	slices.SortFunc(ms, func(a, b *Member) int { return cmp.Compare(a.Addr.String(), b.Addr.String()) })
}

// SeenIDs is the bounded set of gossip ids already forwarded. An id is
// forgotten after ttl, or earlier when more than max ids arrive in that
// time (oldest first).
type SeenIDs struct {
	ttl   time.Duration
	max   int
	ids   map[string]time.Time
	order []string // insertion order, for expiry
}

// NewSeenIDs returns an empty set.
func NewSeenIDs(ttl time.Duration, max int) *SeenIDs {
	return &SeenIDs{ttl: ttl, max: max, ids: make(map[string]time.Time)}
}

// Add records id at now and reports whether it was new.
func (s *SeenIDs) Add(id string, now time.Time) bool {
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
func (s *SeenIDs) Has(id string) bool {
	_, ok := s.ids[id]
	return ok
}

// Len returns the number of ids remembered.
func (s *SeenIDs) Len() int { return len(s.ids) }

func (s *SeenIDs) expire(now time.Time) {
	n := 0
	for n < len(s.order) && now.Sub(s.ids[s.order[n]]) >= s.ttl {
		delete(s.ids, s.order[n])
		n++
	}
	s.order = s.order[n:]
}
