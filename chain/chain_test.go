package chain_test

import (
	"errors"
	"slices"
	"testing"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
)

// testDifficulty keeps mining cheap: about 256 hashes per block.
const testDifficulty = 2

// hashes returns the hash of every block of c, in height order.
func hashes(c *chain.Chain) []string {
	out := make([]string, c.Height())
	for i := range out {
		out[i] = c.HashAt(i)
	}
	return out
}

func blockHashes(blocks []*chain.Block) []string {
	out := make([]string, len(blocks))
	for i, b := range blocks {
		out[i] = b.Hash
	}
	return out
}

// newChain returns a memory-only chain holding blocks, failing on any error.
func newChain(t *testing.T, blocks []*chain.Block) *chain.Chain {
	t.Helper()
	c, err := chain.New(testDifficulty, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for i, b := range blocks {
		if err := c.Append(b); err != nil {
			t.Fatalf("Append block %d: %v", i, err)
		}
	}
	return c
}

// assertChain fails unless c holds exactly the blocks with the given hashes.
func assertChain(t *testing.T, c *chain.Chain, want []string) {
	t.Helper()
	if got := hashes(c); !slices.Equal(got, want) {
		t.Fatalf("chain hashes:\n got %q\nwant %q", got, want)
	}
	if c.Height() != len(want) {
		t.Fatalf("Height = %d, want %d", c.Height(), len(want))
	}
	tip := ""
	if len(want) > 0 {
		tip = want[len(want)-1]
	}
	if c.TipHash() != tip {
		t.Fatalf("TipHash = %q, want %q", c.TipHash(), tip)
	}
	for i, h := range want {
		b, ok := c.Block(i)
		if !ok || b.Hash != h || b.Height != i {
			t.Fatalf("Block(%d) = %+v, %v; want hash %s", i, b, ok, h)
		}
	}
	if _, ok := c.Block(len(want)); ok {
		t.Fatalf("Block(%d) past the tip exists", len(want))
	}
}

func TestNewEmptyChain(t *testing.T) {
	c, err := chain.New(mainDifficulty, nil)
	if err != nil {
		t.Fatalf("New(nil store): %v", err)
	}
	if c.Difficulty() != mainDifficulty {
		t.Errorf("Difficulty = %d", c.Difficulty())
	}
	if c.Height() != 0 {
		t.Errorf("Height = %d", c.Height())
	}
	if c.TipHash() != "" {
		t.Errorf("TipHash of empty chain = %q", c.TipHash())
	}
	for _, h := range []int{-1, 0, 1, -100} {
		if got := c.HashAt(h); got != "" {
			t.Errorf("HashAt(%d) = %q", h, got)
		}
		if b, ok := c.Block(h); ok || b != nil {
			t.Errorf("Block(%d) = %v, %v", h, b, ok)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close without store: %v", err)
	}
}

func TestAppendRealBlocks(t *testing.T) {
	v := vectors.Load(t)
	for _, name := range []string{"fall2024-main", "fall2023-main-chain1"} {
		t.Run(name, func(t *testing.T) {
			g, b1 := v.Find(t, name, 0), v.Find(t, name, 1)
			c, err := chain.New(mainDifficulty, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Block 1 cannot come first.
			wantErr(t, c.Append(b1.Copy()), chain.ErrHeight)
			assertChain(t, c, nil)
			if err := c.Append(g.Copy()); err != nil {
				t.Fatalf("Append genesis: %v", err)
			}
			if c.HashAt(-1) != "" {
				t.Fatalf("HashAt(-1) = %q", c.HashAt(-1))
			}
			if err := c.Append(b1.Copy()); err != nil {
				t.Fatalf("Append block 1: %v", err)
			}
			assertChain(t, c, []string{g.Hash, b1.Hash})
		})
	}
}

func TestAppendMinedChain(t *testing.T) {
	blocks := chain.Extend(nil, 8, testDifficulty, "a", 1700000000)
	c := newChain(t, blocks)
	assertChain(t, c, blockHashes(blocks))
	if c.Difficulty() != testDifficulty {
		t.Fatalf("Difficulty = %d", c.Difficulty())
	}
	// A chain at difficulty 3 also takes a chain mined at 3.
	blocks3 := chain.Extend(nil, 3, 3, "c", 1)
	c3, err := chain.New(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks3 {
		if err := c3.Append(b); err != nil {
			t.Fatalf("Append at difficulty 3: %v", err)
		}
	}
	assertChain(t, c3, blockHashes(blocks3))
}

func TestAppendRefusesBadBlocks(t *testing.T) {
	base := chain.Extend(nil, 4, testDifficulty, "a", 1000)
	other := chain.Extend(nil, 5, testDifficulty, "b", 1000)
	c := newChain(t, base)
	want := blockHashes(base)

	tampered := chain.Extend(base, 1, testDifficulty, "a", 1000)[4].Clone()
	tampered.Messages[0] = "evil"

	unmined := &chain.Block{Height: 4, MinedBy: "x", Messages: []string{"y"}, Nonce: "0", Timestamp: 1}
	unmined.Hash = chain.ComputeHash(base[3].Hash, unmined)
	for chain.MeetsDifficulty(unmined.Hash, testDifficulty) { // make sure it does not meet it
		unmined.Timestamp++
		unmined.Hash = chain.ComputeHash(base[3].Hash, unmined)
	}

	for _, tc := range []struct {
		name string
		b    *chain.Block
		want error
	}{
		{"does not link (other chain's block 4)", other[4], chain.ErrHash},
		{"block already held (height 2)", base[2], chain.ErrHeight},
		{"block from the future (height 5)", chain.Extend(base, 2, testDifficulty, "a", 1000)[5], chain.ErrHeight},
		{"a second genesis", other[0], chain.ErrHeight},
		{"tampered message", tampered, chain.ErrHash},
		{"hash right but difficulty not met", unmined, chain.ErrDifficulty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, c.Append(tc.b), tc.want)
			assertChain(t, c, want)
		})
	}
	// After all those refusals the right block is still taken.
	next := chain.Extend(base, 1, testDifficulty, "a", 1000)[4]
	if err := c.Append(next); err != nil {
		t.Fatalf("Append of the right block after refusals: %v", err)
	}
	assertChain(t, c, append(want, next.Hash))
}

func TestAppendGenesisNeedsDifficulty(t *testing.T) {
	v := vectors.Load(t)
	g := v.Find(t, "fall2024-main", 0)
	// The real genesis does not end with 9 zeros: a difficulty-9 chain
	// (the competition network) refuses it.
	c, err := chain.New(mainDifficulty+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.Append(g.Copy()), chain.ErrDifficulty)
	assertChain(t, c, nil)
}

func TestAdoptTallerFork(t *testing.T) {
	base := chain.Extend(nil, 5, testDifficulty, "a", 1000)
	fork := chain.Extend(base[:3], 4, testDifficulty, "b", 2000) // 7 blocks, forks at 3
	if fork[2] != base[2] || fork[3].Hash == base[3].Hash {
		t.Fatal("precondition: fork should share 3 blocks and differ at 3")
	}
	c := newChain(t, base)
	suffix := fork[3:]
	if err := c.Adopt(3, suffix); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	want := blockHashes(fork)
	assertChain(t, c, want)
	if b, _ := c.Block(4); b.MinedBy != "b" {
		t.Fatalf("block 4 mined by %q, want the fork's", b.MinedBy)
	}
	// The chain does not share the caller's slice (suffix aliases fork).
	orig3 := suffix[0]
	suffix[0] = base[3]
	assertChain(t, c, want)
	// The adopted chain keeps growing.
	suffix[0] = orig3
	next := chain.Extend(fork, 1, testDifficulty, "b", 2000)[7]
	if err := c.Append(next); err != nil {
		t.Fatalf("Append after Adopt: %v", err)
	}
	assertChain(t, c, append(want, next.Hash))
}

func TestAdoptWholeChainAndExtension(t *testing.T) {
	base := chain.Extend(nil, 3, testDifficulty, "a", 1000)
	other := chain.Extend(nil, 4, testDifficulty, "b", 1000)

	// From 0: a different genesis.
	c := newChain(t, base)
	if err := c.Adopt(0, other); err != nil {
		t.Fatalf("Adopt(0): %v", err)
	}
	assertChain(t, c, blockHashes(other))

	// From the tip: a plain extension.
	c = newChain(t, base)
	ext := chain.Extend(base, 2, testDifficulty, "a", 1000)
	if err := c.Adopt(3, ext[3:]); err != nil {
		t.Fatalf("Adopt at the tip: %v", err)
	}
	assertChain(t, c, blockHashes(ext))

	// Onto an empty chain.
	c = newChain(t, nil)
	if err := c.Adopt(0, base); err != nil {
		t.Fatalf("Adopt onto empty: %v", err)
	}
	assertChain(t, c, blockHashes(base))
}

func TestAdoptNotTaller(t *testing.T) {
	base := chain.Extend(nil, 5, testDifficulty, "a", 1000)
	want := blockHashes(base)
	sameHeight := chain.Extend(base[:3], 2, testDifficulty, "b", 2000) // 5 blocks
	shorter := chain.Extend(base[:3], 1, testDifficulty, "b", 2000)    // 4 blocks
	other5 := chain.Extend(nil, 5, testDifficulty, "c", 1000)

	for _, tc := range []struct {
		name   string
		from   int
		suffix []*chain.Block
	}{
		{"same height fork", 3, sameHeight[3:]},
		{"shorter fork", 3, shorter[3:]},
		{"same height from genesis", 0, other5},
		{"nothing at the tip", 5, nil},
		{"nothing at 2", 2, nil},
		{"our own blocks", 1, base[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, base)
			wantErr(t, c.Adopt(tc.from, tc.suffix), chain.ErrNotTaller)
			assertChain(t, c, want)
		})
	}
	t.Run("empty chain, empty candidate", func(t *testing.T) {
		c := newChain(t, nil)
		wantErr(t, c.Adopt(0, nil), chain.ErrNotTaller)
		assertChain(t, c, nil)
	})
}

func TestAdoptInvalidCandidateChangesNothing(t *testing.T) {
	base := chain.Extend(nil, 5, testDifficulty, "a", 1000)
	want := blockHashes(base)
	fork := chain.Extend(base[:3], 5, testDifficulty, "b", 2000) // 8 blocks
	other := chain.Extend(base[:3], 5, testDifficulty, "c", 3000)

	tamperedMiddle := append([]*chain.Block(nil), fork[3:]...)
	bad := tamperedMiddle[2].Clone() // height 5, the middle of 3..7
	bad.Messages[0] = "evil"
	tamperedMiddle[2] = bad

	// A block whose own hash is right but that does not link: taken from
	// another fork at the same height.
	unlinked := append([]*chain.Block(nil), fork[3:]...)
	unlinked[2] = other[5]

	lastBad := append([]*chain.Block(nil), fork[3:]...)
	lb := lastBad[4].Clone()
	lb.Nonce += "1"
	lastBad[4] = lb

	gap := append([]*chain.Block(nil), fork[3:5]...)
	gap = append(gap, fork[6:]...) // height 5 missing

	for _, tc := range []struct {
		name   string
		from   int
		suffix []*chain.Block
		want   error // nil: any error
	}{
		{"tampered block in the middle", 3, tamperedMiddle, chain.ErrHash},
		{"unlinked block in the middle", 3, unlinked, chain.ErrHash},
		{"tampered last block", 3, lastBad, chain.ErrHash},
		{"a height missing", 3, gap, chain.ErrHeight},
		{"wrong fork point (too low)", 2, fork[3:], chain.ErrHeight},
		{"wrong fork point (too high)", 4, fork[3:], chain.ErrHeight},
		{"fork point past the tip", 6, fork[3:], nil},
		{"fork point past the tip, no blocks", 6, nil, nil},
		{"fork point far past the tip, no blocks", 100, nil, nil},
		{"negative fork point", -1, fork, nil},
		{"does not link to our block 2", 3, chain.Extend(chain.Extend(nil, 3, testDifficulty, "z", 1), 4, testDifficulty, "z", 1)[3:], chain.ErrHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, base)
			err := c.Adopt(tc.from, tc.suffix)
			if err == nil {
				t.Fatal("Adopt accepted an invalid candidate")
			}
			if tc.want != nil {
				wantErr(t, err, tc.want)
			}
			if errors.Is(err, chain.ErrNotTaller) {
				t.Fatalf("error %v: the candidate is taller", err)
			}
			assertChain(t, c, want)
		})
	}
}

func TestValidPrefix(t *testing.T) {
	blocks := chain.Extend(nil, 6, testDifficulty, "a", 1000)
	if n := chain.ValidPrefix(blocks, testDifficulty); n != 6 {
		t.Fatalf("ValidPrefix(full) = %d", n)
	}
	if n := chain.ValidPrefix(nil, testDifficulty); n != 0 {
		t.Fatalf("ValidPrefix(nil) = %d", n)
	}
	if n := chain.ValidPrefix(blocks[1:], testDifficulty); n != 0 {
		t.Fatalf("ValidPrefix without genesis = %d", n)
	}
	bad := append([]*chain.Block(nil), blocks...)
	b3 := bad[3].Clone()
	b3.Timestamp++
	bad[3] = b3
	if n := chain.ValidPrefix(bad, testDifficulty); n != 3 {
		t.Fatalf("ValidPrefix with block 3 altered = %d, want 3", n)
	}
	if n := chain.ValidPrefix(blocks, 64); n != 0 {
		t.Fatalf("ValidPrefix at difficulty 64 = %d, want 0", n)
	}
}

// memStore is an in-memory Store that can be made to fail.
type memStore struct {
	blocks     []*chain.Block
	loadErr    error
	replaceErr error
	replaces   int
	closed     bool
}

func (m *memStore) Load() ([]*chain.Block, error) {
	if m.loadErr != nil {
		return nil, m.loadErr
	}
	return append([]*chain.Block(nil), m.blocks...), nil
}

func (m *memStore) Replace(from int, blocks []*chain.Block) error {
	m.replaces++
	if m.replaceErr != nil {
		return m.replaceErr
	}
	if from < 0 || from > len(m.blocks) {
		return errors.New("memStore: replace past the end")
	}
	m.blocks = append(m.blocks[:from:from], blocks...)
	return nil
}

func (m *memStore) Close() error { m.closed = true; return nil }

func TestStoreFailuresChangeNothing(t *testing.T) {
	base := chain.Extend(nil, 4, testDifficulty, "a", 1000)
	ms := &memStore{blocks: base[:3]}
	c, err := chain.New(testDifficulty, ms)
	if err != nil {
		t.Fatal(err)
	}
	assertChain(t, c, blockHashes(base[:3]))

	ms.replaceErr = errors.New("disk full")
	if err := c.Append(base[3]); !errors.Is(err, ms.replaceErr) {
		t.Fatalf("Append with a failing store: %v", err)
	}
	assertChain(t, c, blockHashes(base[:3]))

	fork := chain.Extend(base[:1], 4, testDifficulty, "b", 1000)
	if err := c.Adopt(1, fork[1:]); !errors.Is(err, ms.replaceErr) {
		t.Fatalf("Adopt with a failing store: %v", err)
	}
	assertChain(t, c, blockHashes(base[:3]))

	ms.replaceErr = nil
	if err := c.Adopt(1, fork[1:]); err != nil {
		t.Fatal(err)
	}
	assertChain(t, c, blockHashes(fork))
	if !slices.Equal(blockHashes(ms.blocks), blockHashes(fork)) {
		t.Fatalf("store holds %q, want the fork", blockHashes(ms.blocks))
	}
	// A refused block never reaches the store.
	n := ms.replaces
	if err := c.Append(base[3]); err == nil {
		t.Fatal("Append of a non-linking block succeeded")
	}
	if ms.replaces != n {
		t.Fatal("a refused block was written to the store")
	}
	if err := c.Close(); err != nil || !ms.closed {
		t.Fatalf("Close: %v, store closed %v", err, ms.closed)
	}
}

func TestNewWithStore(t *testing.T) {
	t.Run("load error", func(t *testing.T) {
		ms := &memStore{loadErr: errors.New("boom")}
		if c, err := chain.New(testDifficulty, ms); err == nil || !errors.Is(err, ms.loadErr) {
			t.Fatalf("New = %v, %v; want the load error", c, err)
		}
	})
	t.Run("invalid suffix is not loaded", func(t *testing.T) {
		blocks := chain.Extend(nil, 5, testDifficulty, "a", 1000)
		stored := append([]*chain.Block(nil), blocks...)
		b2 := stored[2].Clone()
		b2.MinedBy = "mallory"
		stored[2] = b2
		ms := &memStore{blocks: stored}
		c, err := chain.New(testDifficulty, ms)
		if err != nil {
			t.Fatal(err)
		}
		assertChain(t, c, blockHashes(blocks[:2]))
		if len(ms.blocks) != 5 {
			t.Fatalf("store keeps %d blocks, want all 5 (nothing deleted on load)", len(ms.blocks))
		}
	})
	t.Run("wrong difficulty loses nothing", func(t *testing.T) {
		blocks := chain.Extend(nil, 3, testDifficulty, "a", 1000)
		ms := &memStore{blocks: blocks, replaceErr: errors.New("read-only")}
		c, err := chain.New(testDifficulty+6, ms)
		if err != nil {
			t.Fatalf("New: %v, want no write at all", err)
		}
		assertChain(t, c, nil)
		if len(ms.blocks) != 3 {
			t.Fatalf("store keeps %d blocks, want 3", len(ms.blocks))
		}
	})
	t.Run("valid store is not rewritten", func(t *testing.T) {
		blocks := chain.Extend(nil, 3, testDifficulty, "a", 1000)
		ms := &memStore{blocks: blocks}
		c, err := chain.New(testDifficulty, ms)
		if err != nil {
			t.Fatal(err)
		}
		assertChain(t, c, blockHashes(blocks))
		if ms.replaces != 0 {
			t.Fatalf("New wrote %d times to a valid store", ms.replaces)
		}
	})
}
