package store

import (
	"fmt"
	"os"
	"path/filepath"

	"blockpeer/chain"
)

// Opened says what OpenChain found in the database and what it did.
type Opened struct {
	chain.LoadReport
	OtherNetworks int    // chains of other networks (genesis hashes) kept beside the current one
	SavedTo       string // the invalid tail was saved to this chain file and deleted from the store
	SaveErr       error  // the invalid tail could not be saved: it stays in the store, unserved
}

// OpenChain opens the chain database at path (creating its directory)
// and the chain on it: the current chain's longest valid prefix, verified
// as a whole (progress may be nil). A stored chain that fails verification
// is recovered: the blocks from the first invalid one up are saved to the
// chain file path.invalid-from-H.json beside the database, for a person to
// inspect, and deleted from the database; damaged records (a gap, bytes
// that are no block) are deleted. If the save fails, the invalid blocks
// stay in the database, never served, until the chain grows over them.
// Closing the chain closes the database.
func OpenChain(path string, difficulty int, progress func(verified, total int)) (*chain.Chain, Opened, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, Opened{}, fmt.Errorf("chain directory: %w", err)
	}
	db, err := Open(path)
	if err != nil {
		return nil, Opened{}, err
	}
	var o Opened
	if chains, err := db.Chains(); err == nil && len(chains) > 1 {
		o.OtherNetworks = len(chains) - 1
	}
	ch, report, err := chain.Open(difficulty, db, progress)
	if err != nil {
		db.Close()
		return nil, o, err
	}
	o.LoadReport = report
	if report.OK() {
		return ch, o, nil
	}
	if len(report.Tail) > 0 {
		saved := fmt.Sprintf("%s.invalid-from-%d.json", path, report.Valid)
		if err := WriteFile(saved, report.Tail); err != nil {
			o.SaveErr = err
			return ch, o, nil
		}
		o.SavedTo = saved
	}
	if err := ch.DropStoredTail(); err != nil {
		ch.Close()
		return nil, o, err
	}
	return ch, o, nil
}
