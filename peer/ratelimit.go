package peer

import (
	"net/netip"
	"time"
)

// rateLimiter is a token bucket per address: how many replies we send to
// one address:port, so that a flood of requests with a spoofed source
// cannot turn us into an amplifier toward it, and how many GOSSIPs of one
// sender we forward. It tracks at
// most max addresses one by one; when the table is full, addresses not in
// it share one bucket (an attacker cycling ports gains nothing).
type rateLimiter struct {
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

// newRateLimiter returns a limiter of rate datagrams per second (negative:
// unlimited) and burst per address, tracking max addresses.
func newRateLimiter(rate float64, burst, max int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), max: max, byTo: make(map[netip.AddrPort]*bucket),
		rest: bucket{tokens: float64(burst)}}
}

// Allow takes a token for a reply to addr at now; false means drop it.
func (l *rateLimiter) Allow(to netip.AddrPort, now time.Time) bool {
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
func (l *rateLimiter) Len() int { return len(l.byTo) }

// expire forgets the buckets full again: they are as good as new.
func (l *rateLimiter) expire(now time.Time) {
	for addr, b := range l.byTo {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.byTo, addr)
		}
	}
}
