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

// Words of four-byte characters (80 bytes each) fill a datagram before ten
// of them do: the miner puts in its block as many as fit in 1024 bytes with
// its name, and the rest, in their order, in the next. (Ten such words and
// this name make a block of about 1,130 bytes.)
func TestMiningHoldsBackWordsThatDoNotFit(t *testing.T) {
	name := "a miner with a long name, " + strings.Repeat("x", 74)
	miner := startNode(t, name, nil, nil, mining, func(c *peer.Config) {
		c.MinBlockInterval = 700 * time.Millisecond // the words queue up while it rests
	})
	r := newRaw(t)
	r.send(miner.addr, protocol.Gossip{Host: "127.0.0.1", Port: int(r.addr.Port()), ID: "w1", Name: "watcher"})
	eventually(t, 5*time.Second, "a first block", func() bool { return miner.status(t).Height >= 1 })
	var words []string
	for i := range 12 {
		w := strings.Repeat("🧱", chain.MaxMessageRunes-1) + string(rune('a'+i))
		words = append(words, w)
		r.send(miner.addr, protocol.NewWord{Word: w})
	}
	var mined []string // the words, in the order of the blocks
	most := 0
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for len(mined) < len(words) && time.Now().Before(deadline) {
		r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		m, err := protocol.Parse(buf[:n])
		a, ok := m.(protocol.Announce)
		if err != nil || !ok {
			continue
		}
		if n > protocol.MaxDatagram {
			t.Errorf("block %d announced in %d bytes, over %d", a.Block.Height, n, protocol.MaxDatagram)
		}
		if a.Block.MinedBy != name {
			t.Errorf("block %d mined by %q", a.Block.Height, a.Block.MinedBy)
		}
		if len(a.Block.Messages) > 0 && a.Block.Messages[0] != "blockpeer" {
			mined = append(mined, a.Block.Messages...)
			most = max(most, len(a.Block.Messages))
		}
	}
	if !slices.Equal(mined, words) {
		t.Fatalf("words mined %d of %d, or out of order: %q", len(mined), len(words), mined)
	}
	if most >= chain.MaxMessages || most < 2 {
		t.Errorf("at most %d words in a block: want several, and fewer than %d (they do not fit)", most, chain.MaxMessages)
	}
}
