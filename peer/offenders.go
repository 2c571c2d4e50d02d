package peer

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Offence points, booked only for wrong answers to our own requests from
// the exact address asked (see noteSync): a lie alone gets a peer banned.
const (
	pointsLie     = 10 // invalid blocks or another fork, in answer to our requests
	pointsLacking = 5  // claimed a chain and could not serve it
	pointsSilent  = 3  // went silent in the middle of a sync
)

// offender is what we remember of a misbehaving peer.
type offender struct {
	score      float64
	scoredAt   time.Time
	bannedTill time.Time
	warnedAt   time.Time
	suppressed int // offences not warned about since warnedAt
	lastUsed   time.Time
}

// offenderTable scores misbehaving peers, bans the worst for a while and
// rate-limits the warnings about each. It holds at most max peers: when
// full, the one heard of least recently is forgotten.
type offenderTable struct {
	lim   Limits
	peers map[netip.AddrPort]*offender
}

// newOffenderTable returns an empty table.
func newOffenderTable(lim Limits) *offenderTable {
	lim.withDefaults()
	return &offenderTable{lim: lim, peers: make(map[netip.AddrPort]*offender)}
}

// Offence is the outcome of recording one offence.
type Offence struct {
	Score  float64
	Banned bool // this offence got the peer banned
}

// Add records an offence of the given points by addr at now.
func (o *offenderTable) Add(addr netip.AddrPort, points float64, now time.Time) Offence {
	e := o.peers[addr]
	if e == nil {
		if len(o.peers) >= o.lim.Offenders {
			o.evict()
		}
		e = &offender{scoredAt: now}
		o.peers[addr] = e
	}
	e.lastUsed = now
	if dt := now.Sub(e.scoredAt); dt > 0 {
		e.score *= math.Exp2(-dt.Seconds() / o.lim.OffenceHalfLife.Seconds())
		e.scoredAt = now
	}
	e.score += points
	out := Offence{Score: e.score}
	if e.score >= o.lim.BanScore-1e-9 && !now.Before(e.bannedTill) { // 100 × 0.1 is not quite 10
		e.bannedTill = now.Add(o.lim.BanDuration)
		out.Banned = true
	}
	return out
}

// TakeWarning reports whether a warning about addr may be logged at now
// (at most one per WarnInterval), and how many were held back since the
// last one. A false answer counts one more held back.
func (o *offenderTable) TakeWarning(addr netip.AddrPort, now time.Time) (ok bool, heldBack int) {
	e := o.peers[addr]
	if e == nil {
		return true, 0
	}
	if !e.warnedAt.IsZero() && now.Sub(e.warnedAt) < o.lim.WarnInterval {
		e.suppressed++
		return false, 0
	}
	heldBack = e.suppressed
	e.warnedAt, e.suppressed = now, 0
	return true, heldBack
}

// Banned reports whether addr is banned at now.
func (o *offenderTable) Banned(addr netip.AddrPort, now time.Time) bool {
	e := o.peers[addr]
	return e != nil && now.Before(e.bannedTill)
}

// Score returns addr's current score (0 when unknown).
func (o *offenderTable) Score(addr netip.AddrPort, now time.Time) float64 {
	e := o.peers[addr]
	if e == nil {
		return 0
	}
	return e.score * math.Exp2(-max(now.Sub(e.scoredAt).Seconds(), 0)/o.lim.OffenceHalfLife.Seconds())
}

// Len returns the number of peers remembered.
func (o *offenderTable) Len() int { return len(o.peers) }

// List returns up to limit offenders, the highest score first.
func (o *offenderTable) List(now time.Time, limit int) []OffenderStatus {
	out := make([]OffenderStatus, 0, len(o.peers))
	for addr, e := range o.peers {
		st := OffenderStatus{Addr: addr.String(), Score: oneDecimal(o.Score(addr, now))}
		if now.Before(e.bannedTill) {
			st.BannedUntil = e.bannedTill
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b OffenderStatus) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Addr, b.Addr))
	})
	return out[:min(len(out), limit)]
}

// evict forgets the entry used least recently, preferring one not banned.
func (o *offenderTable) evict() {
	var victim netip.AddrPort
	var best *offender
	for addr, e := range o.peers {
		if best == nil || e.bannedTill.Before(best.bannedTill) ||
			e.bannedTill.Equal(best.bannedTill) && e.lastUsed.Before(best.lastUsed) {
			victim, best = addr, e
		}
	}
	delete(o.peers, victim)
}
