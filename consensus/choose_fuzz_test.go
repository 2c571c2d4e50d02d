package consensus

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

// fuzzKey decodes a report's chain from two bytes of height and one of
// hash: the height byte pairs are signed (negatives and zero included, as
// a liar's STATS_REPLY could carry before the parser refuses it), and two
// special values stand for the extremes a liar would pick.
func fuzzKey(hi, lo, tag byte) Key {
	h := int(int16(binary.BigEndian.Uint16([]byte{hi, lo})))
	switch h {
	case math.MaxInt16:
		h = math.MaxInt64
	case math.MinInt16:
		h = math.MinInt64
	}
	return Key{Height: h, Hash: hashOf(string(rune('a' + tag%16)))}
}

// fuzzPeer is one of 32 peer addresses.
func fuzzPeer(b byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 9000+uint16(b%32))
}

// decodeReports turns fuzz bytes into STATS reports: four bytes each, the
// reporting peer (one of 32), then the chain as fuzzKey reads it.
func decodeReports(data []byte) (peers []netip.AddrPort, keys []Key) {
	for i := 0; i+4 <= len(data) && len(peers) < 256; i += 4 {
		peers = append(peers, fuzzPeer(data[i]))
		keys = append(keys, fuzzKey(data[i+1], data[i+2], data[i+3]))
	}
	return peers, keys
}

// FuzzChoose checks the consensus choice over arbitrary STATS tallies and
// exclusions: Groups puts every peer's last report in exactly one group,
// sorted tallest first, then by backers, then by hash, whatever the order
// the reports came in; Choose picks the first group taller than our chain
// with a backer not excluded, with only those backers, and nothing when
// every such group's backers are excluded; the exclusions never grow past
// their bound and always hold the latest one.
func FuzzChoose(f *testing.F) {
	// The catalogue: an honest 100-block chain backed by three peers
	// against a liar's tall chain with a garbage hash (the liar excluded
	// after its sync failed), a tie broken by backers, and the extremes.
	honest := []byte{1, 0, 100, 1, 2, 0, 100, 1, 3, 0, 100, 1}
	liar := []byte{4, 0x7f, 0xfe, 9}
	f.Add(append(honest, liar...), liar, 50, uint8(4))
	f.Add(append(honest, liar...), []byte{}, 50, uint8(4))
	f.Add(honest, []byte{1, 0, 100, 1}, 0, uint8(1))
	f.Add(honest, []byte{}, 100, uint8(1))
	f.Add([]byte{1, 0, 10, 1, 2, 0, 10, 2, 3, 0, 10, 2}, []byte{2, 0, 10, 2, 3, 0, 10, 2}, 3, uint8(0))
	f.Add([]byte{1, 0x7f, 0xff, 0, 2, 0x80, 0x00, 0, 3, 0xff, 0xff, 3}, []byte{1, 0x7f, 0xff, 0}, -1, uint8(2))
	f.Add([]byte{1, 0, 5, 1, 1, 0, 6, 1, 1, 0, 7, 2}, []byte{1, 0, 7, 2, 1, 0, 6, 1}, 5, uint8(1))
	f.Add([]byte{}, []byte{}, 0, uint8(0))

	f.Fuzz(func(t *testing.T, reports, marks []byte, ourHeight int, badMax uint8) {
		peers, keys := decodeReports(reports)
		tallyMax := int(badMax/8) % 32 // 0: no limit
		tally := NewTally(tallyMax)
		last := make(map[netip.AddrPort]Key)
		for i, p := range peers {
			_, known := last[p]
			full := tallyMax > 0 && len(last) >= tallyMax
			if got := tally.Add(p, keys[i]); got != (known || !full) {
				t.Fatalf("Add(%s) = %v with %d of %d peers (known: %v)", p, got, len(last), tallyMax, known)
			}
			if known || !full {
				last[p] = keys[i]
			}
		}
		if tally.Len() != len(last) || tallyMax > 0 && tally.Len() > tallyMax {
			t.Fatalf("tally holds %d peers, %d taken, limit %d", tally.Len(), len(last), tallyMax)
		}

		ex := NewExclusions(int(badMax % 8))
		limit := max(int(badMax%8), 1)
		for i := 0; i+4 <= len(marks) && i < 4*64; i += 4 {
			p, k := fuzzPeer(marks[i]), fuzzKey(marks[i+1], marks[i+2], marks[i+3])
			ex.Exclude(p, k)
			if !ex.Has(p, k) {
				t.Fatalf("exclusions lost the latest, %v from %v", p, k)
			}
			if n := ex.Len(); n > limit {
				t.Fatalf("exclusions hold %d pairs, limit %d", n, limit)
			}
		}

		groups := tally.Groups()
		seen := make(map[netip.AddrPort]bool)
		keysSeen := make(map[Key]bool)
		for i, g := range groups {
			if keysSeen[g.Key] {
				t.Fatalf("key %v in two groups", g.Key)
			}
			keysSeen[g.Key] = true
			if len(g.Backers) == 0 || !slices.IsSortedFunc(g.Backers, netip.AddrPort.Compare) {
				t.Fatalf("group %d backers %v: empty or unsorted", i, g.Backers)
			}
			for _, b := range g.Backers {
				if seen[b] || last[b] != g.Key {
					t.Fatalf("peer %s in group %v: twice, or not its last report %v", b, g.Key, last[b])
				}
				seen[b] = true
			}
			if i > 0 {
				p := groups[i-1]
				ordered := p.Height > g.Height ||
					p.Height == g.Height && (len(p.Backers) > len(g.Backers) ||
						len(p.Backers) == len(g.Backers) && p.Hash < g.Hash)
				if !ordered {
					t.Fatalf("groups %d and %d out of order: %v then %v", i-1, i, p, g)
				}
			}
		}
		if len(seen) != len(last) {
			t.Fatalf("groups hold %d peers, %d reported", len(seen), len(last))
		}

		// The same last reports in another order give the same groups.
		order := make([]netip.AddrPort, 0, len(last))
		for p := range last {
			order = append(order, p)
		}
		slices.SortFunc(order, netip.AddrPort.Compare)
		rand.New(rand.NewPCG(uint64(len(reports)), uint64(ourHeight))).Shuffle(len(order), func(i, j int) {
			order[i], order[j] = order[j], order[i]
		})
		again := NewTally(0)
		for _, p := range order {
			again.Add(p, last[p])
		}
		if g2 := again.Groups(); !reflect.DeepEqual(groups, g2) && !(len(groups) == 0 && len(g2) == 0) {
			t.Fatalf("groups depend on report order:\n%v\n%v", groups, g2)
		}

		g, ok := Choose(groups, ex, ourHeight)
		var want *Group
		for _, c := range groups {
			var kept []netip.AddrPort
			for _, b := range c.Backers {
				if !ex.Has(b, c.Key) {
					kept = append(kept, b)
				}
			}
			if c.Height > ourHeight && len(kept) > 0 {
				want = &Group{Key: c.Key, Backers: kept}
				break
			}
		}
		switch {
		case want == nil && ok:
			t.Fatalf("chose %v, but every taller group's backers are excluded or none is taller than %d", g, ourHeight)
		case want != nil && !ok:
			t.Fatalf("chose nothing, want %v (our height %d)", *want, ourHeight)
		case ok && !reflect.DeepEqual(g, *want):
			t.Fatalf("chose %v, want %v", g, *want)
		case !ok && !reflect.DeepEqual(g, Group{}):
			t.Fatalf("no choice but a non-zero group %v", g)
		}
		// Choose must not care about nil exclusions.
		if g0, ok0 := Choose(groups, nil, ourHeight); ok0 != (len(groups) > 0 && groups[0].Height > ourHeight) ||
			ok0 && !reflect.DeepEqual(g0, groups[0]) {
			t.Fatalf("Choose with no bad set = %v, %v", g0, ok0)
		}
	})
}
