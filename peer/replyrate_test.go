package peer_test

// The reply rate met by real syncs over UDP: it never holds back an
// honest sync, and a sync that asks too fast is slowed, never banned.

import (
	"net/netip"
	"testing"
	"time"

	"blockpeer/chain"
)

// TestReplyRateAllowsFastSync: with the default reply rate, a fresh node
// syncing 4,000 blocks from three sources as fast as it can (about 1,300
// GET_BLOCKs to each, in well under a second on loopback) is never held
// back. (The sync's size adds nothing past the default burst, 10,000: a
// bigger one only takes longer under -race.)
func TestReplyRateAllowsFastSync(t *testing.T) {
	blocks := chain.Extend(nil, 4_000, testDifficulty, "src", 1_700_000_000)
	var sources []*testNode
	var seeds []netip.AddrPort
	for _, name := range []string{"s1", "s2", "s3"} {
		s := startNode(t, name, blocks, nil)
		sources, seeds = append(sources, s), append(seeds, s.addr)
	}
	fresh := startNode(t, "fresh", nil, seeds)
	eventually(t, 60*time.Second, "the sync of 4,000 blocks", func() bool { return fresh.status(t).Height == len(blocks) })
	t.Logf("sync: %+v", *fresh.status(t).LastSync)
	for _, s := range sources {
		c := s.status(t).Counters
		t.Logf("%s served %d, %d over the rate", s.Name(), c.GetBlocksServed, c.RateLimited)
		if c.RateLimited != 0 {
			t.Fatalf("%s held back %d replies of a sync", s.Name(), c.RateLimited)
		}
	}
}

// TestReplyRateSlowsButNeverBansASync: a fresh node syncing from one
// source alone asks faster than the source's reply rate. The source drops
// what is over the rate, the sync slows down and completes, and the
// syncing node is neither warned about nor banned (it asks, it does not
// flood).
func TestReplyRateSlowsButNeverBansASync(t *testing.T) {
	blocks := chain.Extend(nil, 3_000, testDifficulty, "src", 1_700_000_000)
	logs := newLogs(t)
	src := startNode(t, "src", blocks, nil, logTo(logs), withReplyRate(2_000, 200))
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{src.addr})
	eventually(t, 60*time.Second, "the sync of 3,000 blocks", func() bool { return fresh.status(t).Height == len(blocks) })
	st := src.status(t)
	if st.Counters.RateLimited == 0 {
		t.Fatal("the sync never ran into the source's reply rate: the test tests nothing")
	}
	if o, ok := offender(t, src, fresh.addr); ok && !o.BannedUntil.IsZero() {
		t.Fatalf("the syncing node was banned: %+v", o)
	}
	if n := len(logs.lines(t, "warn")); n != 0 {
		t.Fatalf("%d warnings at the source:\n%s", n, logs)
	}
	t.Logf("%d replies over the rate; sync: %+v", st.Counters.RateLimited, *fresh.status(t).LastSync)
}
