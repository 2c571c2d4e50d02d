package peer_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

func mining(c *peer.Config) {
	c.Mine, c.MineGenesis, c.MineThreads = true, true, 1
}

// A mining node puts NEW_WORDs in its blocks (at most 10 a block), refuses
// oversize words, mines a default message when none are queued, and
// ANNOUNCEs what it finds to its peers.
func TestMiningWithNewWords(t *testing.T) {
	// Difficulty 4 keeps blocks slow enough (tens of ms) for words to land.
	miner := startNode(t, "miner", nil, nil, mining, func(c *peer.Config) { c.Difficulty = 4 })
	r := newRaw(t)
	// Join as a peer, so that the miner announces to us.
	r.send(miner.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(r.addr.Port()), ID: "w1", Name: "watcher"})
	long := strings.Repeat("x", 21)
	r.send(miner.addr, protocol.NewWord{Word: long})
	words := []string{"alpha", "beta", "gamma", "délta", "ε", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}
	for _, w := range words {
		r.send(miner.addr, protocol.NewWord{Word: w})
	}
	seen := map[string]bool{}
	var announced int
	deadline := time.Now().Add(20 * time.Second)
	for (len(seen) < len(words) || !seen["blockpeer"]) && time.Now().Before(deadline) {
		m, _ := r.recv(100 * time.Millisecond)
		a, ok := m.(protocol.Announce)
		if !ok {
			continue
		}
		announced++
		b := a.Block
		if len(b.Messages) == 0 || len(b.Messages) > chain.MaxMessages || len(b.Nonce) >= chain.MaxNonceRunes {
			t.Fatalf("mined block breaks the rules: %s", jsonString(b))
		}
		if slices.Contains(b.Messages, long) {
			t.Fatalf("an oversize word was mined: %s", jsonString(b))
		}
		for _, w := range b.Messages {
			seen[w] = true
		}
	}
	for _, w := range words {
		if !seen[w] && w != "blockpeer" {
			t.Errorf("word %q never mined (announced %d blocks)", w, announced)
		}
	}
	// The announced blocks are the miner's chain, and it validates.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	blocks, err := miner.Blocks(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ptrs := make([]*chain.Block, len(blocks))
	for i := range blocks {
		ptrs[i] = &blocks[i]
	}
	if n := chain.ValidPrefix(ptrs, 4); n != len(blocks) || n == 0 {
		t.Fatalf("miner's chain: %d of %d blocks valid", n, len(blocks))
	}
	if !seen["blockpeer"] {
		t.Error("no block with the default message once the words ran out")
	}
}

// A node without a chain mines nothing unless told to start a new chain:
// it must sync a network's genesis, not invent its own.
func TestNoGenesisWithoutNewChain(t *testing.T) {
	n := startNode(t, "n", nil, nil, func(c *peer.Config) { c.Mine, c.MineThreads = true, 1 })
	time.Sleep(300 * time.Millisecond)
	if h := n.status(t).Height; h != 0 {
		t.Fatalf("height %d: mined a genesis without MineGenesis", h)
	}
	if n.status(t).Mining.Active {
		t.Fatal("miner active with no chain to mine on")
	}
}

// A paced miner rests between its blocks.
func TestMinBlockIntervalPacesTheMiner(t *testing.T) {
	n := startNode(t, "paced", nil, nil, mining, func(c *peer.Config) {
		c.MinBlockInterval = time.Second // difficulty 2 alone would give thousands a second
	})
	eventually(t, 5*time.Second, "a first block", func() bool { return n.status(t).Height >= 1 })
	time.Sleep(1500 * time.Millisecond)
	// In 1.5 s after the first block, at most two more can be found.
	if h := n.status(t).Height; h > 3 {
		t.Fatalf("height %d 1.5 s after the first block with a 1 s interval", h)
	}
}
