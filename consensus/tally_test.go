package consensus

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// hashOf returns a fake 64-hex-digit hash that sorts by s.
func hashOf(s string) string {
	h := fmt.Sprintf("%x", s)
	for len(h) < 64 {
		h += "0"
	}
	return h[:64]
}

// pid is a test peer's address: pN and honestN at distinct ports in the
// order of their names, anything else at port 9999.
func pid(name string) netip.AddrPort {
	port := 9999
	if n, err := strconv.Atoi(strings.TrimPrefix(name, "p")); err == nil {
		port = 9000 + n
	} else if n, err := strconv.Atoi(strings.TrimPrefix(name, "honest")); err == nil {
		port = 9100 + n
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
}

func key(height int, tag string) Key { return Key{Height: height, Hash: hashOf(tag)} }

func addAll(t *Tally, reports map[netip.AddrPort]Key, order []netip.AddrPort) {
	for _, p := range order {
		t.Add(p, reports[p])
	}
}

func TestGroupsOrder(t *testing.T) {
	reports := map[netip.AddrPort]Key{
		pid("p1"): key(100, "a"),
		pid("p2"): key(100, "a"),
		pid("p3"): key(120, "z"), // tallest, one backer
		pid("p4"): key(110, "b"), // 110 with one backer
		pid("p5"): key(110, "c"), // 110 with three backers
		pid("p6"): key(110, "c"),
		pid("p7"): key(110, "c"),
		pid("p8"): key(110, "d"), // 110 with one backer, hash after "b"
		pid("p9"): key(90, "e"),
	}
	want := []Group{
		{Key: key(120, "z"), Backers: []netip.AddrPort{pid("p3")}},
		{Key: key(110, "c"), Backers: []netip.AddrPort{pid("p5"), pid("p6"), pid("p7")}},
		{Key: key(110, "b"), Backers: []netip.AddrPort{pid("p4")}},
		{Key: key(110, "d"), Backers: []netip.AddrPort{pid("p8")}},
		{Key: key(100, "a"), Backers: []netip.AddrPort{pid("p1"), pid("p2")}},
		{Key: key(90, "e"), Backers: []netip.AddrPort{pid("p9")}},
	}
	peers := make([]netip.AddrPort, 0, len(reports))
	for p := range reports {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, netip.AddrPort.Compare)
	orders := [][]netip.AddrPort{peers, slices.Clone(peers)}
	slices.Reverse(orders[1])
	// a third, interleaved order
	var mixed []netip.AddrPort
	for i := range peers {
		if i%2 == 1 {
			mixed = append(mixed, peers[i])
		}
	}
	for i := range peers {
		if i%2 == 0 {
			mixed = append(mixed, peers[i])
		}
	}
	orders = append(orders, mixed)
	for i, order := range orders {
		tl := NewTally(0)
		addAll(tl, reports, order)
		if tl.Len() != len(reports) {
			t.Fatalf("order %d: Len = %d, want %d", i, tl.Len(), len(reports))
		}
		for rep := range 5 { // map iteration differs from call to call
			got := tl.Groups()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("order %d, call %d: Groups =\n%v\nwant\n%v", i, rep, got, want)
			}
		}
	}
}

func TestGroupsEmpty(t *testing.T) {
	tl := NewTally(0)
	if g := tl.Groups(); len(g) != 0 {
		t.Fatalf("empty tally: Groups = %v", g)
	}
	if _, ok := Choose(tl.Groups(), NewExclusions(4), 0); ok {
		t.Fatal("Choose on no groups: ok = true")
	}
}

func TestTallyLaterReportReplaces(t *testing.T) {
	tl := NewTally(0)
	tl.Add(pid("p1"), key(100, "a"))
	tl.Add(pid("p2"), key(100, "a"))
	tl.Add(pid("p1"), key(101, "b")) // p1's chain grew
	if tl.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (one report per peer)", tl.Len())
	}
	want := []Group{
		{Key: key(101, "b"), Backers: []netip.AddrPort{pid("p1")}},
		{Key: key(100, "a"), Backers: []netip.AddrPort{pid("p2")}},
	}
	if got := tl.Groups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Groups = %v, want %v", got, want)
	}
	tl.Add(pid("p1"), key(100, "a")) // and back again
	want = []Group{{Key: key(100, "a"), Backers: []netip.AddrPort{pid("p1"), pid("p2")}}}
	if got := tl.Groups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Groups = %v, want %v", got, want)
	}
}

func TestChoose(t *testing.T) {
	tl := NewTally(0)
	tl.Add(pid("p1"), key(300, "a"))
	tl.Add(pid("p2"), key(200, "b"))
	tl.Add(pid("p3"), key(200, "b"))
	tl.Add(pid("p4"), key(200, "c"))
	tl.Add(pid("p5"), key(100, "d"))
	groups := tl.Groups()

	ex := NewExclusions(16)
	g, ok := Choose(groups, ex, 50)
	if !ok || g.Key != key(300, "a") {
		t.Fatalf("Choose = %v, %v; want the tallest 300/a", g, ok)
	}
	// nil Exclusions exclude nothing
	if g, ok := Choose(groups, nil, 50); !ok || g.Key != key(300, "a") {
		t.Fatalf("Choose(nil) = %v, %v; want 300/a", g, ok)
	}

	ex.Exclude(pid("p1"), key(300, "a"))
	g, ok = Choose(groups, ex, 50)
	if !ok || g.Key != key(200, "b") || !reflect.DeepEqual(g.Backers, []netip.AddrPort{pid("p2"), pid("p3")}) {
		t.Fatalf("after excluding p1 from 300/a: Choose = %v, %v; want 200/b backed by p2,p3", g, ok)
	}
	if !ex.Refused(groups[0]) || ex.Refused(groups[1]) {
		t.Fatalf("Refused: 300/a %v (want true), 200/b %v (want false)", ex.Refused(groups[0]), ex.Refused(groups[1]))
	}
	// One backer excluded: the group stays, without it.
	ex.Exclude(pid("p2"), key(200, "b"))
	if g, ok = Choose(groups, ex, 50); !ok || g.Key != key(200, "b") || !reflect.DeepEqual(g.Backers, []netip.AddrPort{pid("p3")}) {
		t.Fatalf("after excluding p2 from 200/b: Choose = %v, %v; want 200/b backed by p3", g, ok)
	}
	// An exclusion holds for its chain only: p3 may back another.
	ex.Exclude(pid("p3"), key(300, "a"))
	if g, ok = Choose(groups, ex, 50); !ok || g.Key != key(200, "b") {
		t.Fatalf("excluding p3 from another chain: Choose = %v, %v; want 200/b", g, ok)
	}
	ex.Exclude(pid("p3"), key(200, "b"))
	if g, ok = Choose(groups, ex, 50); !ok || g.Key != key(200, "c") {
		t.Fatalf("after excluding 200/b's backers: Choose = %v, %v; want 200/c", g, ok)
	}
	ex.Exclude(pid("p4"), key(200, "c"))
	if g, ok = Choose(groups, ex, 50); !ok || g.Key != key(100, "d") {
		t.Fatalf("after excluding 200/c's backer: Choose = %v, %v; want 100/d", g, ok)
	}
	// Nothing good is taller than our 100 blocks.
	if g, ok = Choose(groups, ex, 100); ok {
		t.Fatalf("ourHeight 100: Choose = %v, true; want ok=false", g)
	}
	// Nothing at all is taller than ours.
	if g, ok = Choose(groups, NewExclusions(4), 300); ok {
		t.Fatalf("ourHeight 300: Choose = %v, true; want ok=false", g)
	}
	if g, ok = Choose(groups, NewExclusions(4), 1000); ok {
		t.Fatalf("ourHeight 1000: Choose = %v, true; want ok=false", g)
	}
	// One below the tallest: only the tallest qualifies.
	if g, ok = Choose(groups, NewExclusions(4), 299); !ok || g.Key != key(300, "a") {
		t.Fatalf("ourHeight 299: Choose = %v, %v; want 300/a", g, ok)
	}
}

// A liar that claims the majority's chain and fails to serve it is
// excluded from it; the chain is not: its honest backers still back it.
func TestChooseLoneLiarThenMajority(t *testing.T) {
	tl := NewTally(0)
	honest := key(500, "honest")
	fake := key(9999, "fake")
	for i := range 7 {
		tl.Add(pid(fmt.Sprintf("honest%d", i)), honest)
	}
	tl.Add(pid("liar"), fake)
	groups := tl.Groups()
	ex := NewExclusions(16)

	g, ok := Choose(groups, ex, 10)
	if !ok || g.Key != fake || !reflect.DeepEqual(g.Backers, []netip.AddrPort{pid("liar")}) {
		t.Fatalf("Choose = %v, %v; want the liar's taller group first", g, ok)
	}
	ex.Exclude(pid("liar"), g.Key)
	ex.Exclude(pid("liar"), honest) // it may claim the honest chain too
	g, ok = Choose(groups, ex, 10)
	if !ok || g.Key != honest || len(g.Backers) != 7 {
		t.Fatalf("after excluding the liar: Choose = %v, %v; want the majority's 500 chain", g, ok)
	}
	for _, b := range g.Backers {
		ex.Exclude(b, honest)
	}
	if g, ok = Choose(groups, ex, 10); ok {
		t.Fatalf("every backer excluded: Choose = %v, true; want ok=false", g)
	}
}

func TestExclusionsBounded(t *testing.T) {
	ex := NewExclusions(3)
	k := func(i int) Key { return key(i, fmt.Sprint("k", i)) }
	p := pid("p1")
	for i := range 3 {
		ex.Exclude(p, k(i))
	}
	ex.Exclude(p, k(1)) // already there: no change, no refresh
	if ex.Len() != 3 {
		t.Fatalf("Len = %d, want 3", ex.Len())
	}
	ex.Exclude(p, k(3)) // forgets k(0), the oldest
	if ex.Has(p, k(0)) {
		t.Fatal("oldest pair still held after exceeding the bound")
	}
	for i := 1; i <= 3; i++ {
		if !ex.Has(p, k(i)) {
			t.Fatalf("pair %d not held", i)
		}
	}
	// A flood of invented chains keeps at most 3, the newest.
	for i := 4; i < 200; i++ {
		ex.Exclude(p, k(i))
		if ex.Len() > 3 {
			t.Fatalf("after %d exclusions the set holds %d", i+1, ex.Len())
		}
	}
	for i := range 197 {
		if ex.Has(p, k(i)) {
			t.Fatalf("pair %d still held", i)
		}
	}
	// Peer, height and hash all matter.
	if ex.Has(p, Key{Height: 199, Hash: k(198).Hash}) || ex.Has(pid("p2"), k(199)) {
		t.Fatal("Has matched a pair by part of it")
	}
	var none *Exclusions
	if none.Has(p, k(1)) {
		t.Fatal("nil Exclusions hold a pair")
	}
	// A capacity of zero or less holds one pair, the newest, and does not panic.
	for _, limit := range []int{0, -1} {
		e := NewExclusions(limit)
		e.Exclude(p, key(1, "a"))
		e.Exclude(p, key(2, "b"))
		if e.Len() != 1 || !e.Has(p, key(2, "b")) {
			t.Errorf("NewExclusions(%d) holds %d pairs, want only the newest", limit, e.Len())
		}
	}
}
