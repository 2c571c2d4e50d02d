package store_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"blockpeer/chain"
	"blockpeer/store"
)

func TestNames(t *testing.T) {
	if got := store.Name(8993, 8); got != "chain-8993-d8.db" {
		t.Errorf("Name = %q", got)
	}
	peers := []string{"a:1", "b:2"}
	legacy := store.LegacyName(peers, 8993, 8)
	if !regexpMatch(`^chain-8993-d8-[0-9a-f]{8}\.db$`, legacy) {
		t.Errorf("LegacyName = %q", legacy)
	}
	if got := store.LegacyName([]string{"b:2", "a:1"}, 8993, 8); got != legacy {
		t.Errorf("LegacyName depends on the order: %q vs %q", got, legacy)
	}
	if got := store.LegacyName(peers, 8993, 9); got == legacy {
		t.Errorf("LegacyName ignores the difficulty")
	}
	for name, want := range map[string]store.File{
		"chain-8993-d8.db":          {Path: "chain-8993-d8.db", Port: 8993, Difficulty: 8},
		"/x/chain-9000-d2.db":       {Path: "/x/chain-9000-d2.db", Port: 9000, Difficulty: 2},
		"chain-8993-d8-0a1b2c3d.db": {Path: "chain-8993-d8-0a1b2c3d.db", Port: 8993, Difficulty: 8, Legacy: true},
	} {
		if got, ok := store.ParseName(name); !ok || got != want {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	}
	for _, name := range []string{"chain.db", "chain-8993-d8.db.migrated", "chain-x-d8.db", "chain-8993-d8-0a1b.db"} {
		if got, ok := store.ParseName(name); ok {
			t.Errorf("ParseName(%q) = %+v, want no match", name, got)
		}
	}
}

// TestMigrate folds the stores an older blockpeer named by -peers list
// into one store per port and difficulty: every chain is kept under its
// genesis, the same network's taller copy wins, the store the same -peers
// used becomes current, and stores of other ports are left alone.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	a := chain.Extend(nil, 5, testDifficulty, "network a", 1000)
	b := chain.Extend(nil, 7, testDifficulty, "network b", 2000)
	peersA, peersA2, peersB := []string{"127.0.0.1:9100"}, []string{"localhost:9100"}, []string{"10.0.0.1:8999"}
	writeLegacyStore(t, filepath.Join(dir, store.LegacyName(peersA, 9000, 2)), a, nil)
	writeLegacyStore(t, filepath.Join(dir, store.LegacyName(peersA2, 9000, 2)), a[:3], nil) // the same network, reached another way
	writeLegacyStore(t, filepath.Join(dir, store.LegacyName(peersB, 9000, 2)), b, nil)
	other := filepath.Join(dir, store.LegacyName(peersB, 9001, 2))
	writeLegacyStore(t, other, b, nil)

	got, err := store.Migrate(dir, 9000, 2, store.LegacyName(peersA, 9000, 2))
	if err != nil || len(got) != 3 {
		t.Fatalf("Migrate: %+v, %v; want 3 old stores folded", got, err)
	}
	files, err := store.Find(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.File{
		{Path: filepath.Join(dir, "chain-9000-d2.db"), Port: 9000, Difficulty: 2},
		{Path: other, Port: 9001, Difficulty: 2, Legacy: true},
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("after Migrate the directory holds %+v, want %+v", files, want)
	}
	for _, p := range [][]string{peersA, peersA2, peersB} {
		if _, err := os.Stat(filepath.Join(dir, store.LegacyName(p, 9000, 2)+".migrated")); err != nil {
			t.Errorf("old store not kept as .migrated: %v", err)
		}
	}

	s, err := store.OpenReadOnly(filepath.Join(dir, store.Name(9000, 2)))
	if err != nil {
		t.Fatal(err)
	}
	chains, err := s.Chains()
	if err != nil || len(chains) != 2 {
		t.Fatalf("Chains: %+v, %v; want networks a and b", chains, err)
	}
	if chains[0].Genesis != a[0].Hash || !chains[0].Current || chains[0].Blocks != 5 {
		t.Errorf("current chain %+v: want network a's 5 blocks (the same -peers, the taller copy)", chains[0])
	}
	if chains[1].Genesis != b[0].Hash || chains[1].Blocks != 7 {
		t.Errorf("other chain %+v: want network b's 7 blocks", chains[1])
	}
	s.Close()

	// A second run finds nothing left to fold; the node opens the store.
	if got, err := store.Migrate(dir, 9000, 2, ""); err != nil || len(got) != 0 {
		t.Errorf("second Migrate: %+v, %v", got, err)
	}
	c := openChain(t, filepath.Join(dir, store.Name(9000, 2)), testDifficulty)
	defer c.Close()
	assertChain(t, c, blockHashes(a))

	if got, err := store.Migrate(filepath.Join(dir, "none"), 9000, 2, ""); err != nil || got != nil {
		t.Errorf("Migrate of a missing directory: %+v, %v", got, err)
	}
}
