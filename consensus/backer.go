package consensus

import (
	"net/netip"
	"time"
)

// Flow control: what a Sync keeps of each backer (its window of requests
// in flight, grown by answers and halved by losses, its round-trip time
// and its strikes) and how it picks the backer for the next request, as
// raft keeps each follower's progress apart from the log.

type backer struct {
	addr       netip.AddrPort
	window     int
	inflight   int
	strikes    int
	lies       int // invalid blocks sent in answer to our requests
	nulls      int // "no such block" answers to our requests
	served     int
	lastAnswer time.Time // when it last answered
	lastCut    time.Time // when its window was last halved
	rtt        rttEstimate
	backoff    uint   // its timeout is doubled this many times (bursts of timeouts since its last answer)
	dropped    string // why it was dropped ("" while in use)
	silent     bool   // dropped for timeouts, not for lying
	parked     error  // set aside, unblamed, for blocks that disagree with others' (see park)
}

type request struct {
	peer *backer
	sent time.Time
	// resent: an earlier request for the height timed out. Its answer
	// may be the late answer to that one, so it gives no round-trip
	// sample (Karn's algorithm): a late answer timed from the resend
	// would shrink the estimate and time out still more requests.
	resent bool
}

// rttEstimate is a smoothed round-trip time and its mean deviation
// (RFC 6298's SRTT and RTTVAR).
type rttEstimate struct {
	srtt, rttvar time.Duration
	measured     bool
}

func (e *rttEstimate) add(rtt time.Duration) {
	if !e.measured {
		e.srtt, e.rttvar, e.measured = rtt, rtt/2, true
		return
	}
	e.rttvar = (3*e.rttvar + (e.srtt - rtt).Abs()) / 4
	e.srtt = (7*e.srtt + rtt) / 8
}

// timeout is how long a request to b may go unanswered: b's round-trip
// time plus four deviations, or the sync's over all backers while b has
// not answered yet (so a silent backer is found out as fast as the others
// answer), or RequestTimeout before any reply; doubled for each burst of
// timeouts since b last answered (as TCP backs off).
func (s *Sync) timeout(b *backer) time.Duration {
	e := b.rtt
	if !e.measured {
		e = s.rtt
	}
	if !e.measured {
		return s.cfg.RequestTimeout
	}
	return min(s.cfg.RequestTimeout, max(s.cfg.MinRequestTimeout, e.srtt+4*e.rttvar)<<b.backoff)
}

// pick returns the backer with the most free window, preferring one other
// than avoid, or nil when every backer is busy.
func (s *Sync) pick(avoid *backer) *backer {
	var best *backer
	bestFree := 0
	n := len(s.backers)
	for i := range n {
		b := s.backers[(s.rr+i)%n]
		free := b.window - b.inflight
		if b.dropped != "" || free <= 0 {
			continue
		}
		if b == avoid {
			free = 0 // only if nobody else is free
		}
		if best == nil || free > bestFree {
			best, bestFree = b, free
		}
	}
	s.rr++
	return best
}
