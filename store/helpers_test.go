package store_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"testing"

	"blockpeer/chain"
)

// testDifficulty keeps mining in tests fast.
const testDifficulty = 2

// mainDifficulty is the difficulty of the course's main network.
const mainDifficulty = 8

// vectorsPath is the shared file of real blocks, relative to this package.
const vectorsPath = "../../shared/vectors.json"

// vecBlock is a block of the shared vectors.
type vecBlock struct {
	Chain string `json:"chain"`
	chain.Block
}

func (v vecBlock) block() *chain.Block { return v.Block.Clone() }

type vectors struct {
	Blocks []vecBlock `json:"blocks"`
}

// loadVectors reads the shared real blocks; a missing file fails the test.
func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		tb.Fatalf("cannot read the shared test vectors %s: %v", vectorsPath, err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil || len(v.Blocks) == 0 {
		tb.Fatalf("cannot decode %s (%d blocks): %v", vectorsPath, len(v.Blocks), err)
	}
	return &v
}

// findBlock returns the vector block of chainName at height.
func (v *vectors) findBlock(tb testing.TB, chainName string, height int) vecBlock {
	tb.Helper()
	for _, b := range v.Blocks {
		if b.Chain == chainName && b.Height == height {
			return b
		}
	}
	tb.Fatalf("vectors: no block %s/%d", chainName, height)
	return vecBlock{}
}

func blockHashes(blocks []*chain.Block) []string {
	out := make([]string, len(blocks))
	for i, b := range blocks {
		out[i] = b.Hash
	}
	return out
}

func hashes(c *chain.Chain) []string {
	var out []string
	for h := range c.Height() {
		out = append(out, c.HashAt(h))
	}
	return out
}

// assertChain fails unless c holds blocks with the hashes want, in order.
func assertChain(t *testing.T, c *chain.Chain, want []string) {
	t.Helper()
	if got := hashes(c); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("chain %q, want %q", got, want)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
