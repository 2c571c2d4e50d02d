package store_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
	"blockpeer/store"
)

func openStore(t *testing.T, path string) *store.BoltStore {
	t.Helper()
	s, err := store.Open(path)
	if err != nil {
		t.Fatalf("OpenBoltStore(%s): %v", path, err)
	}
	return s
}

// openChain opens the store at path and a chain on it; closing the chain
// closes the store.
func openChain(t *testing.T, path string, difficulty int) *chain.Chain {
	t.Helper()
	c, err := chain.New(difficulty, openStore(t, path))
	if err != nil {
		t.Fatalf("New on %s: %v", path, err)
	}
	return c
}

func closeChain(t *testing.T, c *chain.Chain) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// loadAll opens the store at path, loads it and closes it again.
func loadAll(t *testing.T, path string) []*chain.Block {
	t.Helper()
	s := openStore(t, path)
	defer s.Close()
	blocks, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return blocks
}

func TestBoltStoreEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	c := openChain(t, path, testDifficulty)
	assertChain(t, c, nil)
	closeChain(t, c)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file not created: %v", err)
	}
	if blocks := loadAll(t, path); len(blocks) != 0 {
		t.Fatalf("empty store loads %d blocks", len(blocks))
	}
}

func TestBoltStoreReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 6, testDifficulty, "a", 1700000000)

	c := openChain(t, path, testDifficulty)
	for i, b := range blocks {
		if err := c.Append(b); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	assertChain(t, c, blockHashes(blocks))
	closeChain(t, c)

	c = openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(blocks))
	for i, want := range blocks {
		got, _ := c.Block(i)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("reloaded block %d = %+v, want %+v", i, got, want)
		}
	}
	// It keeps growing after the reload, and that survives too.
	more := chain.Extend(blocks, 2, testDifficulty, "a", 1700000000)
	for _, b := range more[6:] {
		if err := c.Append(b); err != nil {
			t.Fatalf("Append after reopen: %v", err)
		}
	}
	closeChain(t, c)
	c = openChain(t, path, testDifficulty)
	defer c.Close()
	assertChain(t, c, blockHashes(more))
}

// TestBoltStoreRealAndAwkwardBlocks round-trips real blocks and blocks whose
// strings JSON escapes (HTML characters, U+2028, multi-byte, quotes).
func TestBoltStoreRealAndAwkwardBlocks(t *testing.T) {
	v := vectors.Load(t)
	dir := t.TempDir()

	t.Run("real", func(t *testing.T) {
		path := filepath.Join(dir, "real.db")
		g, b1 := v.Find(t, "fall2024-main", 0), v.Find(t, "fall2024-main", 1)
		c := openChain(t, path, mainDifficulty)
		for _, b := range []vectors.Block{g, b1} {
			if err := c.Append(b.Copy()); err != nil {
				t.Fatal(err)
			}
		}
		closeChain(t, c)
		c = openChain(t, path, mainDifficulty)
		defer c.Close()
		assertChain(t, c, []string{g.Hash, b1.Hash})
		got, _ := c.Block(0)
		if !reflect.DeepEqual(got, g.Copy()) {
			t.Fatalf("genesis reloaded as %+v", got)
		}
	})

	t.Run("awkward strings", func(t *testing.T) {
		path := filepath.Join(dir, "awkward.db")
		msgs := [][]string{
			{"<b>&amp;</b>", `"quoted" \ back`},
			{"line\u2028sep\u2029", "tab\tnl\n", "\x00nul"},
			{"éèêë", "😀😀", "日本語"},
			{""},
			{},
		}
		var blocks []*chain.Block
		for i, m := range msgs {
			prev := ""
			if i > 0 {
				prev = blocks[i-1].Hash
			}
			b := &chain.Block{Height: i, MinedBy: "Zoë <z@x>", Messages: m, Timestamp: 1<<40 + int64(i)}
			if !chain.Mine(prev, b, testDifficulty, 1<<20) {
				t.Fatal("mining failed")
			}
			blocks = append(blocks, b)
		}
		if chain.ValidPrefix(blocks, testDifficulty) != len(blocks) {
			t.Fatal("precondition: awkward blocks do not validate")
		}
		c := openChain(t, path, testDifficulty)
		if err := c.Adopt(0, blocks); err != nil {
			t.Fatal(err)
		}
		closeChain(t, c)
		c = openChain(t, path, testDifficulty)
		defer c.Close()
		assertChain(t, c, blockHashes(blocks))
		for i, want := range blocks {
			got, _ := c.Block(i)
			if got.MinedBy != want.MinedBy || len(got.Messages) != len(want.Messages) {
				t.Fatalf("block %d reloaded as %+v, want %+v", i, got, want)
			}
			for j := range want.Messages {
				if got.Messages[j] != want.Messages[j] {
					t.Fatalf("block %d message %d reloaded as %q, want %q", i, j, got.Messages[j], want.Messages[j])
				}
			}
		}
	})
}

func TestBoltStoreAdoptSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	base := chain.Extend(nil, 6, testDifficulty, "a", 1000)
	fork := chain.Extend(base[:2], 5, testDifficulty, "b", 5000) // 7 blocks, forks at 2

	c := openChain(t, path, testDifficulty)
	if err := c.Adopt(0, base); err != nil {
		t.Fatal(err)
	}
	if err := c.Adopt(2, fork[2:]); err != nil {
		t.Fatalf("Adopt fork: %v", err)
	}
	assertChain(t, c, blockHashes(fork))
	closeChain(t, c)

	c = openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(fork))
	for i := 2; i < len(fork); i++ {
		if b, _ := c.Block(i); b.MinedBy != "b" {
			t.Fatalf("reloaded block %d mined by %q, want the fork's", i, b.MinedBy)
		}
	}
	// A refused candidate is not stored either.
	other := chain.Extend(base[:2], 3, testDifficulty, "c", 9000) // 5 blocks: not taller
	if err := c.Adopt(2, other[2:]); err == nil {
		t.Fatal("Adopt of a shorter fork succeeded")
	}
	closeChain(t, c)
	if got := blockHashes(loadAll(t, path)); !reflect.DeepEqual(got, blockHashes(fork)) {
		t.Fatalf("stored chain %q, want the fork %q", got, blockHashes(fork))
	}
}

// TestBoltStoreCorruptChainIsTruncated writes a stored chain whose block 3 is
// altered: New loads only the valid prefix, and the next block appended
// replaces the invalid rest in the store.
func TestBoltStoreCorruptChainIsTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 6, testDifficulty, "a", 1000)

	s := openStore(t, path)
	if err := s.Replace(0, blocks); err != nil {
		t.Fatal(err)
	}
	tampered := blocks[3].Clone()
	tampered.Messages[0] = "evil"
	if err := s.Replace(3, append([]*chain.Block{tampered}, blocks[4:]...)); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Load()
	if err != nil || len(stored) != 6 || stored[3].Messages[0] != "evil" {
		t.Fatalf("precondition: store holds %d blocks (err %v)", len(stored), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	c := openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(blocks[:3]))
	closeChain(t, c)

	c = openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(blocks[:3]))
	// The chain continues from the valid prefix.
	if err := c.Append(blocks[3]); err != nil {
		t.Fatalf("Append the real block 3: %v", err)
	}
	closeChain(t, c)
	if got := loadAll(t, path); len(got) != 4 {
		t.Fatalf("store holds %d blocks, want 4", len(got))
	}
}

func TestBoltStoreReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 6, testDifficulty, "a", 1000)
	s := openStore(t, path)
	defer s.Close()
	if err := s.Replace(0, blocks); err != nil {
		t.Fatal(err)
	}
	// Replace keeps what is below from and drops everything above.
	if err := s.Replace(2, blocks[2:3]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(blockHashes(got), blockHashes(blocks[:3])) {
		t.Fatalf("after Replace(2, 1 block): %q", blockHashes(got))
	}
	// Replace with nothing truncates.
	if err := s.Replace(1, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got) != 1 {
		t.Fatalf("after Replace(1, nil): %d blocks", len(got))
	}
	// Load stops at a gap.
	if err := s.Replace(3, blocks[3:5]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got) != 1 {
		t.Fatalf("Load across a gap: %d blocks, want 1", len(got))
	}
	// Filling the gap rewrites from there.
	if err := s.Replace(1, blocks[1:]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); !reflect.DeepEqual(blockHashes(got), blockHashes(blocks)) {
		t.Fatalf("after refill: %q", blockHashes(got))
	}
	if err := s.Replace(0, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(); len(got) != 0 {
		t.Fatalf("after Replace(0, nil): %d blocks", len(got))
	}
}

// writeLegacyStore writes a database of the old layout (one chain in a
// bucket "blocks") with bbolt directly; records maps height to raw bytes.
func writeLegacyStore(t *testing.T, path string, blocks []*chain.Block, raw map[int][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("blocks"))
		if err != nil {
			return err
		}
		for h, b := range blocks {
			v, err := json.Marshal(b)
			if err != nil {
				return err
			}
			if r, ok := raw[h]; ok {
				v = r
			}
			if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(h)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBoltStoreUndecodableRecord puts garbage in a store of the old layout
// with bbolt directly: the open moves it under its genesis as it is, Load
// stops before the garbage and New keeps the prefix.
func TestBoltStoreUndecodableRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 5, testDifficulty, "a", 1000)
	writeLegacyStore(t, path, blocks, map[int][]byte{2: []byte("{not json")})

	c := openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(blocks[:2]))
	// The chain can be rebuilt over the garbage.
	for _, b := range blocks[2:] {
		if err := c.Append(b); err != nil {
			t.Fatalf("Append over garbage: %v", err)
		}
	}
	closeChain(t, c)
	c = openChain(t, path, testDifficulty)
	defer c.Close()
	assertChain(t, c, blockHashes(blocks))
}

// TestBoltStoreOldLayout: a store written before chains were keyed by
// genesis is read as it is by a read-only open (export), and a read-write
// open moves its chain under its genesis, current.
func TestBoltStoreOldLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 4, testDifficulty, "old", 1000)
	writeLegacyStore(t, path, blocks, nil)

	ro, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ro.Load()
	chains, cerr := ro.Chains()
	ro.Close()
	if err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(blocks)) {
		t.Fatalf("read-only Load of an old store: %d blocks, %v", len(got), err)
	}
	if cerr != nil || len(chains) != 1 || chains[0].Genesis != blocks[0].Hash || chains[0].Blocks != 4 || chains[0].Tip != blocks[3].Hash || !chains[0].Current {
		t.Fatalf("Chains of an old store: %+v, %v", chains, cerr)
	}

	s := openStore(t, path)
	if got := s.Current(); got != blocks[0].Hash {
		t.Errorf("after migration the current chain is %q, want the genesis %q", got, blocks[0].Hash)
	}
	if got, err := s.Load(); err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(blocks)) {
		t.Fatalf("Load after migration: %d blocks, %v", len(got), err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("blocks")) != nil {
			t.Errorf("the old bucket is still there after migration")
		}
		return nil
	})
}

// TestBoltStoreKeepsEveryNetwork: a chain of another genesis adopted from
// height 0 becomes current and the first network's chain stays whole;
// going back to the first network keeps the second's.
func TestBoltStoreKeepsEveryNetwork(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	a := chain.Extend(nil, 6, testDifficulty, "network a", 1000)
	b := chain.Extend(nil, 9, testDifficulty, "network b", 2000)
	c := openChain(t, path, testDifficulty)
	if err := c.Adopt(0, a); err != nil {
		t.Fatal(err)
	}
	if err := c.Adopt(0, b); err != nil { // taller, another genesis: a sync on another network
		t.Fatal(err)
	}
	closeChain(t, c)

	s := openStore(t, path)
	chains, err := s.Chains()
	if err != nil || len(chains) != 2 {
		t.Fatalf("Chains: %+v, %v; want two", chains, err)
	}
	if chains[0].Genesis != b[0].Hash || !chains[0].Current || chains[0].Blocks != 9 || chains[0].Tip != b[8].Hash {
		t.Errorf("first listed %+v, want network b, current, 9 blocks", chains[0])
	}
	if chains[1].Genesis != a[0].Hash || chains[1].Current || chains[1].Blocks != 6 || chains[1].Tip != a[5].Hash || chains[1].LastUsed.IsZero() {
		t.Errorf("second listed %+v, want network a, 6 blocks, with a time of use", chains[1])
	}
	if got, err := s.LoadChain(a[0].Hash); err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(a)) {
		t.Errorf("LoadChain(a): %d blocks, %v; want network a whole", len(got), err)
	}
	if got, _ := s.LoadChain("no such genesis"); len(got) != 0 {
		t.Errorf("LoadChain of an unknown genesis: %d blocks", len(got))
	}
	s.Close()

	c = openChain(t, path, testDifficulty)
	assertChain(t, c, blockHashes(b))
	longerA := chain.Extend(a, 6, testDifficulty, "network a", 1000) // 12 blocks
	if err := c.Adopt(0, longerA); err != nil {
		t.Fatal(err)
	}
	closeChain(t, c)
	s = openStore(t, path)
	defer s.Close()
	if got, err := s.LoadChain(b[0].Hash); err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(b)) {
		t.Errorf("network b after going back to a: %d blocks, %v", len(got), err)
	}
	if got, err := s.Load(); err != nil || !reflect.DeepEqual(blockHashes(got), blockHashes(longerA)) {
		t.Errorf("current chain: %d blocks, %v; want network a's 12", len(got), err)
	}
}

// TestBoltStoreOpenTwice: a second open of a file in use fails at once
// instead of waiting for the lock forever.
func TestBoltStoreOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	s1 := openStore(t, path)

	type result struct {
		s   *store.BoltStore
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		s, err := store.Open(path)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			r.s.Close()
			t.Fatal("second OpenBoltStore of a file in use succeeded")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("second open took %v to fail", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second OpenBoltStore hangs on a file in use")
	}

	// Once the first is closed, the file opens again.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, path)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBoltStoreBadPath(t *testing.T) {
	dir := t.TempDir()
	if s, err := store.Open(filepath.Join(dir, "no", "such", "dir", "chain.db")); err == nil {
		s.Close()
		t.Fatal("OpenBoltStore in a missing directory succeeded")
	}
	if s, err := store.Open(dir); err == nil {
		s.Close()
		t.Fatal("OpenBoltStore of a directory succeeded")
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a bbolt file, not at all, not even close......"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(garbage); err == nil {
		s.Close()
		t.Fatal("OpenBoltStore of a garbage file succeeded")
	}
}

// BenchmarkAdoptStored measures adopting a 5,000-block chain into a chain
// kept in bbolt (one transaction, as after a sync from genesis):
//
//	go test -run x -bench AdoptStored ./chain/
func BenchmarkAdoptStored(b *testing.B) {
	blocks := chain.Extend(nil, 5000, testDifficulty, "bench", 1000)
	for b.Loop() {
		b.StopTimer()
		s, err := store.Open(filepath.Join(b.TempDir(), "chain.db"))
		if err != nil {
			b.Fatal(err)
		}
		c, err := chain.New(testDifficulty, s)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.Adopt(0, blocks); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}
