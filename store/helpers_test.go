package store_test

import (
	"reflect"
	"regexp"
	"testing"

	"blockpeer/chain"
)

// testDifficulty keeps mining in tests fast.
const testDifficulty = 2

// mainDifficulty is the difficulty of the course's main network.
const mainDifficulty = 8

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
