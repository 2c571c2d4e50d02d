package peer_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"blockpeer/peer"
)

// An independent peer, written in Python from the spec alone (its own hash
// code, its own JSON), and our node sync from each other: the node adopts
// the Python peer's chain and mines on top of it, and the Python peer
// downloads the node's chain and verifies every block.
func TestInteropWithPythonPeer(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 not installed, and CI must run the interop test: .ci/run installs it")
		}
		t.Skip("python3 not installed: the interop test needs it")
	}
	const difficulty = 3
	node := startNode(t, "gonode", nil, nil, func(c *peer.Config) {
		c.Difficulty = difficulty
		c.Mine, c.MineThreads = true, 1
		c.MinBlockInterval = 200 * time.Millisecond // a few blocks for the Python peer to fetch
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "testdata/pypeer.py", strconv.Itoa(int(node.addr.Port())), strconv.Itoa(difficulty)).Output()
	if err != nil {
		t.Fatalf("python peer: %v\n%s", err, out)
	}
	var got struct {
		OurTop         string `json:"our_top"`
		Served         int    `json:"served"`
		GossipReply    bool   `json:"gossip_reply"`
		NodeHeight     int    `json:"node_height"`
		NodeChainValid bool   `json:"node_chain_valid"`
		SharesOurChain bool   `json:"shares_our_chain"`
		NodeTopMiner   string `json:"node_top_miner"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python peer printed %q: %v", out, err)
	}
	switch {
	case !got.GossipReply:
		t.Error("no GOSSIP_REPLY to the Python peer")
	case got.Served < 50:
		t.Errorf("the node fetched %d blocks from the Python peer, want its 50", got.Served)
	case !got.SharesOurChain || got.NodeHeight <= 50:
		t.Errorf("the node holds %d blocks, not the Python chain with blocks mined on top: %s", got.NodeHeight, out)
	case !got.NodeChainValid:
		t.Errorf("the Python peer found the node's chain invalid: %s", out)
	case got.NodeTopMiner != "gonode":
		t.Errorf("top block mined by %q, want the node", got.NodeTopMiner)
	}
}
