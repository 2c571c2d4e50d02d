package peer

import "testing"

func TestLaneSizes(t *testing.T) {
	l := newLaneSizes(3)
	if got := l.queued(2); got != 0 {
		t.Fatalf("empty: %d bytes queued", got)
	}
	for _, n := range []int{10, 20, 30, 40, 50} { // wraps the ring of 4
		l.add(n)
	}
	for _, c := range []struct {
		k    int
		want uint64
	}{{0, 0}, {1, 50}, {2, 90}, {3, 120}} {
		if got := l.queued(c.k); got != c.want {
			t.Errorf("queued(%d) = %d, want %d", c.k, got, c.want)
		}
	}
	l = newLaneSizes(8)
	l.add(7)
	if got := l.queued(5); got != 7 {
		t.Errorf("one sent, queued(5) = %d, want 7", got)
	}
}
