package peer

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Limits bound every table and queue a node keeps, so that no stream of
// datagrams, however hostile, makes it grow without end, and say how it
// treats peers that misbehave. The course values are in the top-level
// config.go; a zero field takes the value of DefaultLimits.
type Limits struct {
	SeenIDs      int // gossip ids remembered so that each is forwarded once
	OurIDs       int // ids of our own GOSSIPs, recognised when they come back
	Exclusions   int // (peer, chain) pairs refused: a peer that lied about a chain backs it no more (oldest forgotten first)
	TallyReports int // STATS replies counted in one consensus round
	SyncWindow   int // most GET_BLOCKs in flight to one backer
	// SyncLookahead is the most heights requested beyond the verified
	// prefix: it bounds the blocks a sync holds unverified.
	SyncLookahead int
	QueuedWords   int // NEW_WORD queue
	Offenders     int // peers whose misbehaviour is remembered
	ReplySources  int // addresses the reply rate limiter tracks one by one
	// ForwardRate is how many GOSSIPs per second from one sender we
	// forward (each goes to 3 peers), ForwardBurst how many at once. An
	// honest relay forwards the whole network's gossip: about one a
	// second on the course network.
	ForwardRate  float64
	ForwardBurst int

	// A peer's offences add up to a score that halves every
	// OffenceHalfLife; at BanScore it is banned for BanDuration: its
	// datagrams are dropped unread and it leaves the membership table.
	OffenceHalfLife time.Duration
	BanScore        float64
	BanDuration     time.Duration
	// WarnInterval is the least time between two warning lines about the
	// same peer; offences in between are debug lines, counted in the next
	// warning.
	WarnInterval time.Duration
}

// DefaultLimits returns the bounds used when Config leaves them zero: the
// course values of config.go.
func DefaultLimits() Limits {
	return Limits{
		SeenIDs:         20_000,
		OurIDs:          1_000,
		Exclusions:      1_024,
		TallyReports:    2_000,
		SyncWindow:      64,
		SyncLookahead:   4_096,
		QueuedWords:     1_000,
		Offenders:       4_096,
		ReplySources:    4_096,
		ForwardRate:     100,
		ForwardBurst:    200,
		OffenceHalfLife: time.Minute,
		BanScore:        10,
		BanDuration:     5 * time.Minute,
		WarnInterval:    5 * time.Minute,
	}
}

// Default reply rate limit: replies per second to one address, and the
// burst it may take at once. A fresh node syncing 10,000 blocks from
// three sources in half a second asks each for about 3,400: within the
// burst.
const (
	DefaultReplyRate  = 10_000
	DefaultReplyBurst = 10_000
)

func (l *Limits) withDefaults() {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.SeenIDs, &d.SeenIDs}, {&l.OurIDs, &d.OurIDs}, {&l.Exclusions, &d.Exclusions},
		{&l.TallyReports, &d.TallyReports}, {&l.SyncWindow, &d.SyncWindow},
		{&l.SyncLookahead, &d.SyncLookahead}, {&l.QueuedWords, &d.QueuedWords},
		{&l.Offenders, &d.Offenders}, {&l.ReplySources, &d.ReplySources}, {&l.ForwardBurst, &d.ForwardBurst},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&l.OffenceHalfLife, &d.OffenceHalfLife}, {&l.BanDuration, &d.BanDuration}, {&l.WarnInterval, &d.WarnInterval},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if l.ForwardRate <= 0 {
		l.ForwardRate = d.ForwardRate
	}
	if l.BanScore <= 0 {
		l.BanScore = d.BanScore
	}
}

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

// Offenders scores misbehaving peers, bans the worst for a while and
// rate-limits the warnings about each. It holds at most max peers: when
// full, the one heard of least recently is forgotten.
type Offenders struct {
	lim   Limits
	peers map[netip.AddrPort]*offender
}

// NewOffenders returns an empty table.
func NewOffenders(lim Limits) *Offenders {
	lim.withDefaults()
	return &Offenders{lim: lim, peers: make(map[netip.AddrPort]*offender)}
}

// Offence is the outcome of recording one offence.
type Offence struct {
	Score  float64
	Banned bool // this offence got the peer banned
}

// Add records an offence of the given points by addr at now.
func (o *Offenders) Add(addr netip.AddrPort, points float64, now time.Time) Offence {
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
func (o *Offenders) TakeWarning(addr netip.AddrPort, now time.Time) (ok bool, heldBack int) {
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
func (o *Offenders) Banned(addr netip.AddrPort, now time.Time) bool {
	e := o.peers[addr]
	return e != nil && now.Before(e.bannedTill)
}

// Score returns addr's current score (0 when unknown).
func (o *Offenders) Score(addr netip.AddrPort, now time.Time) float64 {
	e := o.peers[addr]
	if e == nil {
		return 0
	}
	return e.score * math.Exp2(-max(now.Sub(e.scoredAt).Seconds(), 0)/o.lim.OffenceHalfLife.Seconds())
}

// Len returns the number of peers remembered.
func (o *Offenders) Len() int { return len(o.peers) }

// List returns up to limit offenders, the highest score first.
func (o *Offenders) List(now time.Time, limit int) []OffenderStatus {
	out := make([]OffenderStatus, 0, len(o.peers))
	for addr, e := range o.peers {
		st := OffenderStatus{Addr: addr.String(), Score: round1(o.Score(addr, now))}
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
func (o *Offenders) evict() {
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

// ReplyLimiter is a token bucket per destination address: how many
// replies we send to one address:port, so that a flood of requests with a
// spoofed source cannot turn us into an amplifier toward it. It tracks at
// most max addresses one by one; when the table is full, addresses not in
// it share one bucket (an attacker cycling ports gains nothing).
type ReplyLimiter struct {
	rate  float64 // tokens per second; <0: unlimited
	burst float64
	max   int
	byTo  map[netip.AddrPort]*bucket
	rest  bucket
	swept time.Time // last expire
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewReplyLimiter returns a limiter of rate replies per second (0: the
// default; negative: unlimited) and burst (0: the default) per address,
// tracking max addresses.
func NewReplyLimiter(rate float64, burst, max int) *ReplyLimiter {
	if rate == 0 {
		rate = DefaultReplyRate
	}
	if burst <= 0 {
		burst = DefaultReplyBurst
	}
	return &ReplyLimiter{rate: rate, burst: float64(burst), max: max, byTo: make(map[netip.AddrPort]*bucket),
		rest: bucket{tokens: float64(burst)}}
}

// Allow takes a token for a reply to addr at now; false means drop it.
func (l *ReplyLimiter) Allow(to netip.AddrPort, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	b := l.byTo[to]
	if b == nil {
		if len(l.byTo) >= l.max && now.Sub(l.swept) >= time.Second {
			l.expire(now) // at most once a second: a sweep reads every bucket
			l.swept = now
		}
		if len(l.byTo) < l.max {
			b = &bucket{tokens: l.burst, at: now}
			l.byTo[to] = b
		} else {
			b = &l.rest
		}
	}
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len returns the number of addresses tracked one by one.
func (l *ReplyLimiter) Len() int { return len(l.byTo) }

// expire forgets the buckets full again: they are as good as new.
func (l *ReplyLimiter) expire(now time.Time) {
	for addr, b := range l.byTo {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.byTo, addr)
		}
	}
}
