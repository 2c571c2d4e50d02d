package consensus

import (
	"fmt"
	"reflect"
	"slices"
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

func key(height int, tag string) Key { return Key{Height: height, Hash: hashOf(tag)} }

func addAll(t *Tally, reports map[string]Key, order []string) {
	for _, p := range order {
		t.Add(p, reports[p])
	}
}

func TestGroupsOrder(t *testing.T) {
	reports := map[string]Key{
		"p1": key(100, "a"),
		"p2": key(100, "a"),
		"p3": key(120, "z"), // tallest, one backer
		"p4": key(110, "b"), // 110 with one backer
		"p5": key(110, "c"), // 110 with three backers
		"p6": key(110, "c"),
		"p7": key(110, "c"),
		"p8": key(110, "d"), // 110 with one backer, hash after "b"
		"p9": key(90, "e"),
	}
	want := []Group{
		{Key: key(120, "z"), Backers: []string{"p3"}},
		{Key: key(110, "c"), Backers: []string{"p5", "p6", "p7"}},
		{Key: key(110, "b"), Backers: []string{"p4"}},
		{Key: key(110, "d"), Backers: []string{"p8"}},
		{Key: key(100, "a"), Backers: []string{"p1", "p2"}},
		{Key: key(90, "e"), Backers: []string{"p9"}},
	}
	peers := make([]string, 0, len(reports))
	for p := range reports {
		peers = append(peers, p)
	}
	slices.Sort(peers)
	orders := [][]string{peers, slices.Clone(peers)}
	slices.Reverse(orders[1])
	// a third, interleaved order
	var mixed []string
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
	if _, ok := Choose(tl.Groups(), NewBadSet(4), 0); ok {
		t.Fatal("Choose on no groups: ok = true")
	}
}

func TestTallyLaterReportReplaces(t *testing.T) {
	tl := NewTally(0)
	tl.Add("p1", key(100, "a"))
	tl.Add("p2", key(100, "a"))
	tl.Add("p1", key(101, "b")) // p1's chain grew
	if tl.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (one report per peer)", tl.Len())
	}
	want := []Group{
		{Key: key(101, "b"), Backers: []string{"p1"}},
		{Key: key(100, "a"), Backers: []string{"p2"}},
	}
	if got := tl.Groups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Groups = %v, want %v", got, want)
	}
	tl.Add("p1", key(100, "a")) // and back again
	want = []Group{{Key: key(100, "a"), Backers: []string{"p1", "p2"}}}
	if got := tl.Groups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Groups = %v, want %v", got, want)
	}
}

func TestChoose(t *testing.T) {
	tl := NewTally(0)
	tl.Add("p1", key(300, "a"))
	tl.Add("p2", key(200, "b"))
	tl.Add("p3", key(200, "b"))
	tl.Add("p4", key(200, "c"))
	tl.Add("p5", key(100, "d"))
	groups := tl.Groups()

	bad := NewBadSet(16)
	g, ok := Choose(groups, bad, 50)
	if !ok || g.Key != key(300, "a") {
		t.Fatalf("Choose = %v, %v; want the tallest 300/a", g, ok)
	}
	// nil BadSet means nothing is bad
	if g, ok := Choose(groups, nil, 50); !ok || g.Key != key(300, "a") {
		t.Fatalf("Choose(nil bad) = %v, %v; want 300/a", g, ok)
	}

	bad.Mark(key(300, "a"))
	g, ok = Choose(groups, bad, 50)
	if !ok || g.Key != key(200, "b") || !reflect.DeepEqual(g.Backers, []string{"p2", "p3"}) {
		t.Fatalf("after marking 300/a: Choose = %v, %v; want 200/b backed by p2,p3", g, ok)
	}
	bad.Mark(key(200, "b"))
	if g, ok = Choose(groups, bad, 50); !ok || g.Key != key(200, "c") {
		t.Fatalf("after marking 200/b: Choose = %v, %v; want 200/c", g, ok)
	}
	bad.Mark(key(200, "c"))
	if g, ok = Choose(groups, bad, 50); !ok || g.Key != key(100, "d") {
		t.Fatalf("after marking 200/c: Choose = %v, %v; want 100/d", g, ok)
	}
	// Nothing good is taller than our 100 blocks.
	if g, ok = Choose(groups, bad, 100); ok {
		t.Fatalf("ourHeight 100: Choose = %v, true; want ok=false", g)
	}
	// Nothing at all is taller than ours, bad or not.
	if g, ok = Choose(groups, NewBadSet(4), 300); ok {
		t.Fatalf("ourHeight 300: Choose = %v, true; want ok=false", g)
	}
	if g, ok = Choose(groups, NewBadSet(4), 1000); ok {
		t.Fatalf("ourHeight 1000: Choose = %v, true; want ok=false", g)
	}
	// One below the tallest: only the tallest qualifies.
	if g, ok = Choose(groups, NewBadSet(4), 299); !ok || g.Key != key(300, "a") {
		t.Fatalf("ourHeight 299: Choose = %v, %v; want 300/a", g, ok)
	}
}

func TestChooseLoneLiarThenMajority(t *testing.T) {
	tl := NewTally(0)
	honest := key(500, "honest")
	fake := key(9999, "fake")
	for i := range 7 {
		tl.Add(fmt.Sprintf("honest%d", i), honest)
	}
	tl.Add("liar", fake)
	groups := tl.Groups()
	bad := NewBadSet(8)

	g, ok := Choose(groups, bad, 10)
	if !ok || g.Key != fake || !reflect.DeepEqual(g.Backers, []string{"liar"}) {
		t.Fatalf("Choose = %v, %v; want the liar's taller group first", g, ok)
	}
	bad.Mark(g.Key)
	g, ok = Choose(groups, bad, 10)
	if !ok || g.Key != honest || len(g.Backers) != 7 {
		t.Fatalf("after marking the liar's chain: Choose = %v, %v; want the majority's 500 chain", g, ok)
	}
	bad.Mark(g.Key)
	if g, ok = Choose(groups, bad, 10); ok {
		t.Fatalf("everything bad: Choose = %v, true; want ok=false", g)
	}
}

func TestBadSetBounded(t *testing.T) {
	s := NewBadSet(3)
	k := func(i int) Key { return key(i, fmt.Sprint("k", i)) }
	for i := range 3 {
		s.Mark(k(i))
	}
	s.Mark(k(1)) // already there: no change, no refresh
	if got, want := s.Keys(), []Key{k(0), k(1), k(2)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	s.Mark(k(3)) // forgets k(0), the oldest
	if s.Has(k(0)) {
		t.Fatal("oldest key still marked after exceeding the bound")
	}
	for i := 1; i <= 3; i++ {
		if !s.Has(k(i)) {
			t.Fatalf("key %d not marked", i)
		}
	}
	if got, want := s.Keys(), []Key{k(1), k(2), k(3)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	// A flood of invented keys keeps at most 3, the newest.
	for i := 4; i < 200; i++ {
		s.Mark(k(i))
		if n := len(s.Keys()); n > 3 {
			t.Fatalf("after %d marks the set holds %d keys", i+1, n)
		}
	}
	if got, want := s.Keys(), []Key{k(197), k(198), k(199)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	for i := range 197 {
		if s.Has(k(i)) {
			t.Fatalf("key %d still marked", i)
		}
	}
	// Keys returns a copy.
	keys := s.Keys()
	keys[0] = Key{}
	if !s.Has(k(197)) || s.Keys()[0] != k(197) {
		t.Fatal("modifying Keys() changed the set")
	}
	// Height and hash both matter.
	if s.Has(Key{Height: 199, Hash: k(198).Hash}) {
		t.Fatal("Has matched a key by hash alone")
	}
	var nilSet *BadSet
	if nilSet.Has(k(1)) {
		t.Fatal("nil BadSet has a key")
	}
}

// A BadSet of capacity zero (or less) holds one key, the newest; it must
// not panic.
func TestBadSetZeroCapacity(t *testing.T) {
	for _, limit := range []int{0, -1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("NewBadSet(%d).Mark panicked: %v", limit, r)
				}
			}()
			s := NewBadSet(limit)
			s.Mark(key(1, "a"))
			s.Mark(key(2, "b"))
			if got := s.Keys(); !reflect.DeepEqual(got, []Key{key(2, "b")}) {
				t.Errorf("NewBadSet(%d) holds %v, want only the newest key", limit, got)
			}
		}()
	}
}
