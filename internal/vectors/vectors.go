// Package vectors reads the protocol spec's test vectors (vectors.json in
// the shared directory beside the module, next to protocol.md) for the
// tests of every package that checks itself against real blocks of the
// course's chains. A missing or malformed file fails the test, never skips
// it: these are the interoperability vectors. Only tests import it.
package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"blockpeer/chain"
)

// Block is a block of the vectors: a real block of one of the course's
// chains, with the hash of the block below it.
type Block struct {
	Chain    string  `json:"chain"`
	PrevHash *string `json:"prev_hash"`
	Verified bool    `json:"verified"` // the spec's authors checked its hash
	chain.Block
}

// Prev returns the hash of the block below ("" below a genesis block).
func (b Block) Prev() string {
	if b.PrevHash == nil {
		return ""
	}
	return *b.PrevHash
}

// Copy returns a copy of the block, for a test to use or change.
func (b Block) Copy() *chain.Block { return b.Block.Clone() }

// Name returns "chain/height", for messages.
func (b Block) Name() string { return fmt.Sprintf("%s/%d", b.Chain, b.Height) }

// Negative is a block whose claimed hash is not its SHA-256.
type Negative struct {
	What         string   `json:"what"`
	MinedBy      string   `json:"minedBy"`
	Messages     []string `json:"messages"`
	Nonce        string   `json:"nonce"`
	Timestamp    int64    `json:"timestamp"`
	ClaimedHash  string   `json:"claimed_hash"`
	ActualSHA256 string   `json:"actual_sha256"`
}

// Vectors are the file's contents.
type Vectors struct {
	Blocks       []Block           `json:"blocks"`
	PreimagesHex map[string]string `json:"preimages_hex"`
	Negative     []Negative        `json:"negative"`
}

// Path returns the vectors' path: shared/vectors.json beside the module's
// directory, found from the working directory (a package's, under go
// test) up to go.mod.
func Path() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("vectors: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "vectors.json"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("vectors: no go.mod above the working directory")
		}
		dir = up
	}
}

// Load reads the vectors, failing tb when they are missing, malformed or
// hold no block.
func Load(tb testing.TB) *Vectors {
	tb.Helper()
	path, err := Path()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("cannot read the shared test vectors (they must exist beside protocol.md): %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("cannot decode %s: %v", path, err)
	}
	if len(v.Blocks) == 0 {
		tb.Fatalf("%s holds no blocks", path)
	}
	return &v
}

// Find returns the block of chainName at height, failing tb when there is
// none.
func (v *Vectors) Find(tb testing.TB, chainName string, height int) Block {
	tb.Helper()
	for _, b := range v.Blocks {
		if b.Chain == chainName && b.Height == height {
			return b
		}
	}
	tb.Fatalf("vectors: no block %s/%d", chainName, height)
	return Block{}
}
