package chain_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"blockpeer/chain"
)

func TestVerify(t *testing.T) {
	blocks := chain.Extend(nil, 3000, 1, "v", 1)
	var calls []int
	v := chain.Verify(blocks, 1, func(done, total int) {
		if total != len(blocks) {
			t.Errorf("progress total %d, want %d", total, len(blocks))
		}
		calls = append(calls, done)
	})
	if !v.OK() || v.Valid != 3000 || v.Blocks != 3000 {
		t.Fatalf("Verify of a valid chain: %+v", v)
	}
	if len(calls) == 0 || calls[len(calls)-1] != 3000 {
		t.Fatalf("progress calls %v: want the last to be 3000", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Fatalf("progress goes back: %v", calls)
		}
	}
	if v := chain.Verify(nil, 1, nil); !v.OK() || v.Valid != 0 {
		t.Fatalf("Verify(nil): %+v", v)
	}
	// Several bad blocks, in different workers' ranges: the lowest is reported.
	for _, bad := range [][]int{{0}, {1}, {2999}, {1500, 2}, {2500, 1100, 900}} {
		tampered := append([]*chain.Block(nil), blocks...)
		for _, h := range bad {
			c := blocks[h].Clone()
			c.Timestamp++
			tampered[h] = c
		}
		low := bad[0]
		for _, h := range bad {
			low = min(low, h)
		}
		v := chain.Verify(tampered, 1, nil)
		if v.OK() || v.Valid != low || !errors.Is(v.Err, chain.ErrHash) || !strings.Contains(v.Err.Error(), "block "+strconv.Itoa(low)+":") {
			t.Errorf("bad %v: %+v (%v), want the first bad height %d and a hash error naming it", bad, v, v.Err, low)
		}
		if got := chain.ValidPrefix(tampered, 1); got != low {
			t.Errorf("ValidPrefix with bad %v = %d, want %d", bad, got, low)
		}
	}
	// Too few zeros for a higher difficulty: found at genesis.
	if v := chain.Verify(blocks, 9, nil); v.Valid != 0 || !errors.Is(v.Err, chain.ErrDifficulty) {
		t.Errorf("at difficulty 9: %+v", v)
	}
}

func TestImport(t *testing.T) {
	base := chain.Extend(nil, 5, testDifficulty, "a", 1)
	fork := chain.Extend(base[:3], 4, testDifficulty, "b", 100) // 7 blocks, parts at 3
	rec := &recordingStore{}
	c, err := chain.New(testDifficulty, rec)
	if err != nil {
		t.Fatal(err)
	}
	if from, err := c.Import(base); err != nil || from != 0 {
		t.Fatalf("Import into an empty chain: %d, %v", from, err)
	}
	if from, err := c.Import(base[:4]); !errors.Is(err, chain.ErrNotTaller) || from != 4 {
		t.Fatalf("Import of a prefix: %d, %v; want ErrNotTaller at 4", from, err)
	}
	rec.calls = nil
	if from, err := c.Import(fork); err != nil || from != 3 {
		t.Fatalf("Import of a taller fork: %d, %v", from, err)
	}
	if len(rec.calls) != 1 || rec.calls[0].from != 3 || rec.calls[0].n != 4 {
		t.Fatalf("store writes %+v: want one Replace(3, 4 blocks)", rec.calls)
	}
	assertChain(t, c, blockHashes(fork))
	bad := append([]*chain.Block(nil), chain.Extend(fork, 2, testDifficulty, "b", 100)...)
	bad[8] = bad[8].Clone()
	bad[8].MinedBy = "mallory"
	if _, err := c.Import(bad); !errors.Is(err, chain.ErrHash) || !strings.Contains(err.Error(), "block 8") {
		t.Fatalf("Import of a chain bad at 8: %v", err)
	}
	assertChain(t, c, blockHashes(fork))
}

// recordingStore is a memory Store that records every Replace.
type recordingStore struct {
	blocks []*chain.Block
	calls  []struct{ from, n int }
}

func (s *recordingStore) Load() ([]*chain.Block, error) { return s.blocks, nil }
func (s *recordingStore) Close() error                  { return nil }
func (s *recordingStore) Replace(from int, blocks []*chain.Block) error {
	s.calls = append(s.calls, struct{ from, n int }{from, len(blocks)})
	s.blocks = append(s.blocks[:from:from], blocks...)
	return nil
}
