package store_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"blockpeer/chain"
	"blockpeer/store"
)

// TestOpenChainRecovers: OpenChain on a store whose block 4 was altered
// serves blocks 0..3, saves 4..7 to a chain file beside the store and
// deletes them from it; on a new directory it creates it.
func TestOpenChainRecovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, store.Name(9000, testDifficulty))
	blocks := chain.Extend(nil, 8, testDifficulty, "r", 1000)
	ch, o, err := store.OpenChain(path, testDifficulty, nil)
	if err != nil || !o.OK() || o.Blocks != 0 || ch.Height() != 0 {
		t.Fatalf("OpenChain in a new directory: %+v, %v", o, err)
	}
	stored := append([]*chain.Block(nil), blocks...)
	stored[4] = blocks[4].Clone()
	stored[4].MinedBy = "mallory"
	if err := ch.Adopt(0, blocks[:2]); err != nil {
		t.Fatal(err)
	}
	closeChain(t, ch)
	s := openStore(t, path)
	if err := s.Replace(0, stored); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ch, o, err = store.OpenChain(path, testDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertChain(t, ch, blockHashes(blocks[:4]))
	closeChain(t, ch)
	if o.Valid != 4 || o.Blocks != 8 || o.SaveErr != nil || o.SavedTo != path+".invalid-from-4.json" {
		t.Fatalf("OpenChain of a tampered store: %+v", o)
	}
	tail, err := store.ReadFile(o.SavedTo)
	if err != nil || !reflect.DeepEqual(blockHashes(tail), blockHashes(stored[4:])) {
		t.Errorf("saved tail: %d blocks, %v", len(tail), err)
	}
	if got := loadAll(t, path); !reflect.DeepEqual(blockHashes(got), blockHashes(blocks[:4])) {
		t.Errorf("store after recovery holds %d blocks, want the 4 valid ones", len(got))
	}
}
