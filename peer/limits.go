package peer

import "time"

// Limits bound every table and queue a node keeps, so that no stream of
// datagrams, however hostile, makes it grow without end, and say how it
// treats peers that misbehave. DefaultLimits holds the course values; a
// zero field takes its value.
type Limits struct {
	MaxPeers     int // membership table
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
	// ReplyRate is how many replies per second we send to one address
	// (STATS_REPLY, GET_BLOCK_REPLY, GOSSIP_REPLY, and the STATS and
	// GOSSIP that greet a new peer), ReplyBurst how many at once; a
	// negative rate is unlimited. A fresh node syncing a course chain of
	// 10,000 blocks from one source fits in the burst.
	ReplyRate  float64
	ReplyBurst int

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

// DefaultLimits returns the bounds of the course network, used when
// Config leaves them zero.
func DefaultLimits() Limits {
	return Limits{
		MaxPeers:        1_000,
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
		ReplyRate:       10_000,
		ReplyBurst:      10_000,
		OffenceHalfLife: time.Minute,
		BanScore:        10,
		BanDuration:     5 * time.Minute,
		WarnInterval:    5 * time.Minute,
	}
}

func (l *Limits) withDefaults() {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MaxPeers, &d.MaxPeers}, {&l.ReplyBurst, &d.ReplyBurst}, {&l.SeenIDs, &d.SeenIDs}, {&l.OurIDs, &d.OurIDs}, {&l.Exclusions, &d.Exclusions},
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
	if l.ReplyRate == 0 {
		l.ReplyRate = d.ReplyRate
	}
	if l.BanScore <= 0 {
		l.BanScore = d.BanScore
	}
}
