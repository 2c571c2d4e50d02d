package peer

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func addrN(i int) netip.AddrPort {
	return netip.MustParseAddrPort(fmt.Sprintf("127.0.0.%d:%d", 1+i/60000, 1000+i%60000))
}

func TestReplyLimiterBurstAndRate(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(100, 10, 4)
	a, b := addrN(1), addrN(2)
	allowed := func(to netip.AddrPort, now time.Time, n int) int {
		k := 0
		for range n {
			if l.Allow(to, now) {
				k++
			}
		}
		return k
	}
	if got := allowed(a, t0, 50); got != 10 {
		t.Fatalf("burst: %d of 50 allowed, want 10", got)
	}
	if got := allowed(b, t0, 5); got != 5 {
		t.Fatalf("another address has its own bucket: %d of 5 allowed", got)
	}
	if got := allowed(a, t0.Add(50*time.Millisecond), 50); got != 5 {
		t.Fatalf("after 50 ms at 100/s: %d allowed, want 5", got)
	}
	if got := allowed(a, t0.Add(time.Hour), 50); got != 10 {
		t.Fatalf("refill caps at the burst: %d allowed, want 10", got)
	}
}

// A table full of busy addresses: newcomers share one bucket, so cycling
// source ports buys an attacker one burst in all, not one per port.
func TestReplyLimiterBoundedTable(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(1, 3, 100)
	for i := range 100 {
		for range 3 {
			l.Allow(addrN(i), t0) // empty every bucket
		}
	}
	sent := 0
	for i := 100; i < 100_000; i++ {
		if l.Allow(addrN(i), t0) {
			sent++
		}
	}
	if l.Len() > 100 {
		t.Fatalf("limiter tracks %d addresses, cap 100", l.Len())
	}
	if sent != 3 {
		t.Fatalf("%d replies to 99,900 new addresses, want one shared burst of 3", sent)
	}
	// Full buckets are forgotten: new addresses get their own again.
	if !l.Allow(addrN(200_000), t0.Add(time.Hour)) || l.Len() != 1 {
		t.Fatalf("after an hour: %d addresses tracked, want only the new one", l.Len())
	}
}

func TestReplyLimiterUnlimited(t *testing.T) {
	l := newRateLimiter(-1, 0, 1)
	for i := range 10_000 {
		if !l.Allow(addrN(i%3), time.Unix(0, 0)) {
			t.Fatal("a negative rate must not limit")
		}
	}
}

func TestOffendersBanDecayAndWarnings(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	lim := Limits{Offenders: 3, BanScore: 10, OffenceHalfLife: time.Minute, BanDuration: 5 * time.Minute, WarnInterval: 5 * time.Minute}
	o := newOffenderTable(lim)
	a := addrN(1)
	for i := range 99 {
		if off := o.Add(a, 0.1, t0); off.Banned {
			t.Fatalf("banned after %d noise datagrams", i+1)
		}
	}
	if off := o.Add(a, 0.1, t0); !off.Banned || !o.Banned(a, t0) {
		t.Fatal("not banned after 100 noise datagrams")
	}
	if !o.Banned(a, t0.Add(5*time.Minute-time.Second)) || o.Banned(a, t0.Add(5*time.Minute)) {
		t.Fatal("a ban lasts BanDuration")
	}
	if s := o.Score(a, t0.Add(time.Minute)); s < 4.9 || s > 5.1 {
		t.Fatalf("score %v a half-life later, want 5", s)
	}
	// Slow noise never adds up to a ban.
	b := addrN(2)
	for i := range 1000 {
		if o.Add(b, 0.1, t0.Add(time.Duration(i)*time.Second)).Banned {
			t.Fatalf("banned for one malformed datagram a second, after %d", i)
		}
	}
	// One warning per interval, and a count of those held back.
	c := addrN(3)
	o.Add(c, pointsLie, t0)
	if ok, _ := o.TakeWarning(c, t0); !ok {
		t.Fatal("first warning refused")
	}
	for i := range 5 {
		if ok, _ := o.TakeWarning(c, t0.Add(time.Duration(i)*time.Minute)); ok {
			t.Fatalf("second warning within the interval allowed (%d min)", i)
		}
	}
	if ok, held := o.TakeWarning(c, t0.Add(5*time.Minute)); !ok || held != 5 {
		t.Fatalf("warning after the interval: %v, %d held back; want true, 5", ok, held)
	}
	// The table is bounded: banned peers are kept over others.
	for i := range 100 {
		o.Add(addrN(10+i), 0.1, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if o.Len() != 3 || !o.Banned(a, t0.Add(time.Second)) {
		t.Fatalf("table of %d (cap 3); banned peer kept: %v", o.Len(), o.Banned(a, t0.Add(time.Second)))
	}
}

func TestMembersRandom(t *testing.T) {
	ms := newMemberTable(1000)
	now := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		ms.Touch(addrN(i), "", true, now)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	exclude := []netip.AddrPort{addrN(0), addrN(1), addrN(1), addrN(99)}
	for range 200 {
		got := ms.Random(rng, 3, exclude...)
		if len(got) != 3 {
			t.Fatalf("got %d peers, want 3", len(got))
		}
		for i, a := range got {
			if slices.Contains(exclude, a) || slices.Contains(got[:i], a) || ms.Get(a) == nil {
				t.Fatalf("pick %v: excluded, repeated or unknown", got)
			}
		}
	}
	// Fewer eligible than asked: all of them, and no endless loop.
	got := ms.Random(rng, 20, exclude...)
	if len(got) != 8 {
		t.Fatalf("got %d peers, want the 8 eligible", len(got))
	}
	ms.Remove(addrN(5))
	ms.Expire(now.Add(time.Hour), time.Minute)
	if got := ms.Random(rng, 3); len(got) != 0 || len(ms.proven) != 0 {
		t.Fatalf("empty table: picked %v, proven %v", got, ms.proven)
	}
	// Members only named, not proven, are never picked.
	for i := range 5 {
		ms.Touch(addrN(100+i), "", false, now)
	}
	if got := ms.Random(rng, 3); len(got) != 0 {
		t.Fatalf("picked %v among members not proven", got)
	}
	// Same seed, same members: same picks.
	for i := range 10 {
		ms.Touch(addrN(i), "", true, now)
	}
	a := ms.Random(rand.New(rand.NewPCG(7, 7)), 3)
	b := ms.Random(rand.New(rand.NewPCG(7, 7)), 3)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed picked %v then %v", a, b)
	}
}

// A full table makes room for a newcomer: an unproven member goes first,
// then, for a proven newcomer, the member silent the longest; an unproven
// newcomer never pushes out a proven member.
func TestMembersEvict(t *testing.T) {
	ms := newMemberTable(3)
	t0 := time.Unix(1_700_000_000, 0)
	ms.Touch(addrN(1), "", true, t0)
	ms.Touch(addrN(2), "", false, t0.Add(time.Second))
	ms.Touch(addrN(3), "", true, t0.Add(2*time.Second))
	if m, _ := ms.Touch(addrN(4), "", true, t0.Add(3*time.Second)); m == nil || ms.Get(addrN(2)) != nil {
		t.Fatalf("proven newcomer: added %v, unproven member kept %v", m != nil, ms.Get(addrN(2)) != nil)
	}
	if m, _ := ms.Touch(addrN(5), "", false, t0.Add(4*time.Second)); m != nil || ms.Len() != 3 {
		t.Fatalf("unproven newcomer into a table of proven members: added %v, %d members", m != nil, ms.Len())
	}
	if m, _ := ms.Touch(addrN(6), "", true, t0.Add(5*time.Second)); m == nil || ms.Get(addrN(1)) != nil {
		t.Fatal("proven newcomer into a table of proven members: the one silent the longest should make room")
	}
	if ms.Len() != 3 || ms.ProvenLen() != 3 {
		t.Fatalf("%d members, %d proven; want 3, 3", ms.Len(), ms.ProvenLen())
	}
}

// TestMembersEvictOldestNamedFirst: in a full table, an unproven newcomer
// evicts the unproven member named the longest ago, whether the members
// named since were proven, expired or named again; and the queue behind
// that choice stays bounded while members come and go.
func TestMembersEvictOldestNamedFirst(t *testing.T) {
	ms := newMemberTable(4)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 1; i <= 4; i++ {
		ms.Touch(addrN(i), "", false, t0.Add(time.Duration(i)*time.Second))
	}
	ms.Prove(ms.Get(addrN(1)), t0.Add(5*time.Second)) // 1 proven: 2 is the oldest unproven
	ms.Touch(addrN(3), "again", false, t0.Add(6*time.Second))
	ms.Touch(addrN(5), "", false, t0.Add(7*time.Second))
	if ms.Get(addrN(2)) != nil || ms.Get(addrN(1)) == nil || ms.Get(addrN(3)) == nil {
		t.Fatalf("evicted the wrong member: %v", ms.All())
	}
	ms.Remove(addrN(3))
	ms.Touch(addrN(3), "", false, t0.Add(8*time.Second)) // named anew: now the newest
	ms.Touch(addrN(6), "", false, t0.Add(9*time.Second))
	if ms.Get(addrN(4)) != nil || ms.Get(addrN(3)) == nil {
		t.Fatalf("a member forgotten and named again kept its old place: %v", ms.All())
	}
	// Named, then expired, over and over: the queue is swept.
	for i := range 10_000 {
		now := t0.Add(time.Hour + time.Duration(i)*time.Second)
		ms.Touch(addrN(100+i), "", false, now)
		ms.Expire(now, time.Millisecond)
	}
	if len(ms.named) > 2*16 {
		t.Fatalf("%d members queued for eviction in a table of %d", len(ms.named), ms.Len())
	}
}
