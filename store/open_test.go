package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"blockpeer/chain"
	"blockpeer/store"
)

// TestOpenReportsTamperedStore: a stored chain with an altered block is
// reported with the first bad height and why; the chain is the valid
// prefix, the tail comes back in the report, and DropStoredTail removes it.
func TestOpenReportsTamperedStore(t *testing.T) {
	blocks := chain.Extend(nil, 8, testDifficulty, "a", 1000)
	for _, tc := range []struct {
		name   string
		tamper func(b *chain.Block)
		at     int
		want   error
	}{
		{"message changed", func(b *chain.Block) { b.Messages[0] = "evil" }, 5, chain.ErrHash},
		{"hash forged", func(b *chain.Block) { b.Hash = strings.Repeat("1", 62) + "00" }, 3, chain.ErrHash},
		{"height off", func(b *chain.Block) { b.Height++ }, 6, chain.ErrHeight},
		{"genesis", func(b *chain.Block) { b.Timestamp++ }, 0, chain.ErrHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chain.db")
			s := openStore(t, path)
			stored := append([]*chain.Block(nil), blocks...)
			stored[tc.at] = blocks[tc.at].Clone()
			tc.tamper(stored[tc.at])
			if err := s.Replace(0, stored); err != nil {
				t.Fatal(err)
			}
			s.Close()

			var progress []int
			c, r, err := chain.Open(testDifficulty, openStore(t, path), func(done, _ int) { progress = append(progress, done) })
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || r.Valid != tc.at || r.Blocks != len(blocks) || !errors.Is(r.Err, tc.want) ||
				!strings.Contains(r.Err.Error(), fmt.Sprintf("block %d:", tc.at)) {
				t.Fatalf("report %+v (%v): want block %d bad with %v", r.Verification, r.Err, tc.at, tc.want)
			}
			if !reflect.DeepEqual(blockHashes(r.Tail), blockHashes(stored[tc.at:])) {
				t.Fatalf("tail %q, want the stored blocks from %d", blockHashes(r.Tail), tc.at)
			}
			assertChain(t, c, blockHashes(blocks[:tc.at]))
			if err := c.DropStoredTail(); err != nil {
				t.Fatal(err)
			}
			closeChain(t, c)
			if got := loadAll(t, path); !reflect.DeepEqual(blockHashes(got), blockHashes(blocks[:tc.at])) {
				t.Fatalf("after DropStoredTail the store holds %q", blockHashes(got))
			}
		})
	}

	t.Run("other difficulty", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "chain.db")
		c := openChain(t, path, testDifficulty)
		if err := c.Adopt(0, blocks); err != nil {
			t.Fatal(err)
		}
		closeChain(t, c)
		c, r, err := chain.Open(testDifficulty+3, openStore(t, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if r.Valid != 0 || !errors.Is(r.Err, chain.ErrDifficulty) || len(r.Tail) != len(blocks) || c.Height() != 0 {
			t.Fatalf("store opened at a higher difficulty: %+v, height %d", r.Verification, c.Height())
		}
	})

	t.Run("valid", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "chain.db")
		c := openChain(t, path, testDifficulty)
		if err := c.Adopt(0, blocks); err != nil {
			t.Fatal(err)
		}
		closeChain(t, c)
		c, r, err := chain.Open(testDifficulty, openStore(t, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !r.OK() || r.Valid != len(blocks) || len(r.Tail) != 0 {
			t.Fatalf("valid store: %+v", r)
		}
		assertChain(t, c, blockHashes(blocks))
	})
}

func TestOpenReportsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 5, testDifficulty, "a", 1000)
	s := openStore(t, path)
	if err := s.Replace(0, blocks[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(3, blocks[3:]); err != nil { // a gap at 2
		t.Fatal(err)
	}
	got, err := s.Load()
	if !errors.Is(err, chain.ErrDamaged) || len(got) != 2 {
		t.Fatalf("Load across a gap: %d blocks, %v; want 2 and ErrDamaged", len(got), err)
	}
	s.Close()
	c, r, err := chain.Open(testDifficulty, openStore(t, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r.Valid != 2 || !errors.Is(r.Err, chain.ErrDamaged) || c.Height() != 2 {
		t.Fatalf("report %+v, height %d: want 2 valid blocks and ErrDamaged", r.Verification, c.Height())
	}
}

func TestOpenInUseAndReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 3, testDifficulty, "a", 1000)
	s := openStore(t, path)
	if err := s.Replace(0, blocks); err != nil {
		t.Fatal(err)
	}
	for name, open := range map[string]func(string) (*store.BoltStore, error){
		"read-write": store.Open, "read-only": store.OpenReadOnly,
	} {
		s2, err := open(path)
		if err == nil {
			s2.Close()
			t.Fatalf("%s open of a store in use succeeded", name)
		}
		if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), path+" is in use by another blockpeer process") {
			t.Errorf("%s open of a store in use: %q", name, err)
		}
	}
	s.Close()
	ro, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.Load(); err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(blocks)) {
		t.Fatalf("read-only Load: %d blocks, %v", len(got), err)
	}
	if err := ro.Replace(0, nil); err == nil {
		t.Fatal("Replace on a read-only store succeeded")
	}
	// Readers share the lock.
	ro2, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	ro2.Close()
}

// TestForkReplacementIsOneTransaction switches the store between two forks
// of one chain over and over while readers load it: every load sees one
// fork whole, never a mix or a truncated chain, and each switch is one
// Replace call.
func TestForkReplacementIsOneTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	base := chain.Extend(nil, 4, testDifficulty, "base", 1)
	forkA := chain.Extend(base, 40, testDifficulty, "A", 100)
	forkB := chain.Extend(base, 41, testDifficulty, "B", 200)
	want := map[string]bool{fmt.Sprint(blockHashes(forkA)): true, fmt.Sprint(blockHashes(forkB)): true}

	rec := &countingStore{BoltStore: openStore(t, path)}
	c, err := chain.New(testDifficulty, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Adopt(0, forkA); err != nil {
		t.Fatal(err)
	}
	rec.n = 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loads, bad int
	var mu sync.Mutex
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := rec.Load()
				mu.Lock()
				loads++
				if err != nil || !want[fmt.Sprint(blockHashes(got))] {
					bad++
				}
				mu.Unlock()
			}
		})
	}
	// A: 44 blocks; B: 45; the next A must be taller again, so alternate
	// between ever taller forks built on the same base.
	tops := []([]*chain.Block){forkB}
	cur := forkB
	for i := range 8 {
		tag := fmt.Sprintf("f%d", i)
		next := chain.Extend(base, len(cur)-len(base)+1, testDifficulty, tag, int64(1000*(i+3)))
		tops = append(tops, next)
		cur = next
	}
	for _, f := range tops {
		mu.Lock()
		want[fmt.Sprint(blockHashes(f))] = true
		mu.Unlock()
	}
	for _, f := range tops {
		if err := c.Adopt(len(base), f[len(base):]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if rec.n != len(tops) {
		t.Errorf("%d fork switches made %d Replace calls, want one each", len(tops), rec.n)
	}
	if bad > 0 || loads == 0 {
		t.Fatalf("%d of %d concurrent loads saw a chain that is neither fork whole", bad, loads)
	}
	t.Logf("%d concurrent loads, each saw one whole fork", loads)
}

// countingStore counts Replace calls. want is read by the readers: they
// only see chains adopted after it was filled.
type countingStore struct {
	*store.BoltStore
	n int
}

func (s *countingStore) Replace(from int, blocks []*chain.Block) error {
	s.n++
	return s.BoltStore.Replace(from, blocks)
}

// realisticChain mines n blocks shaped like the course's: five messages
// of up to 20 characters and a student's name.
func realisticChain(tb testing.TB, n, difficulty int) []*chain.Block {
	tb.Helper()
	out := make([]*chain.Block, 0, n)
	prev := ""
	for h := range n {
		b := &chain.Block{Height: h, MinedBy: "student-xyz", Timestamp: 1730910874 + int64(h)*60,
			Messages: []string{"Keep it", "simple.", fmt.Sprintf("block %d", h), "veni vidi vici", "twenty characters!!!"}}
		if !chain.Mine(prev, b, difficulty, 1<<40) {
			tb.Fatal("mining failed")
		}
		out = append(out, b)
		prev = b.Hash
	}
	return out
}

// BenchmarkOpenStored measures a node's start on a stored 10,000-block
// chain: open the bbolt file, load every block, verify the whole chain
// (and, apart, the load and the verification alone):
//
//	go test -run x -bench OpenStored -benchtime 20x ./chain/
func BenchmarkOpenStored(b *testing.B) {
	const n = 10_000
	blocks := realisticChain(b, n, testDifficulty)
	path := filepath.Join(b.TempDir(), "chain.db")
	s, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Replace(0, blocks); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.Run("open+load+verify", func(b *testing.B) {
		for b.Loop() {
			s, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			c, r, err := chain.Open(testDifficulty, s, nil)
			if err != nil || !r.OK() || c.Height() != n {
				b.Fatalf("Open: height %d, %+v, %v", c.Height(), r, err)
			}
			c.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	})
	b.Run("load", func(b *testing.B) {
		s, err := store.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if got, err := s.Load(); err != nil || len(got) != n {
				b.Fatalf("Load: %d blocks, %v", len(got), err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if v := chain.Verify(blocks, testDifficulty, nil); !v.OK() {
				b.Fatal(v.Err)
			}
		}
	})
}
