package peer_test

import (
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// TestSyncKeepsVerifiedBlocks: a peer reports a chain of 300 blocks but
// serves only the first 200, then stops answering GET_BLOCK. The sync is
// abandoned, yet the 200 verified blocks make a valid chain taller than our
// empty one: they are kept (and, with a store, stored), so the next sync
// starts above them.
func TestSyncKeepsVerifiedBlocks(t *testing.T) {
	const served, claimed = 200, 300
	blocks := chain.Extend(nil, claimed, testDifficulty, "keep", 1000)
	src := newRaw(t)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := src.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := protocol.Parse(buf[:n])
			if err != nil {
				continue
			}
			var reply protocol.Message
			switch m := m.(type) {
			case protocol.Stats:
				reply = protocol.StatsReply{Height: claimed, Hash: blocks[claimed-1].Hash}
			case protocol.GetBlock:
				if m.Height < 0 || m.Height >= served {
					continue // stalls
				}
				reply = protocol.GetBlockReply{Block: blocks[m.Height]}
			default:
				continue
			}
			data, _ := protocol.Encode(reply)
			src.conn.WriteToUDPAddrPort(data, from)
		}
	}()
	n := startNode(t, "a", nil, nil)
	// Make a find the source and ask it for its chain: a GOSSIP_REPLY adds
	// it, and a taller STATS_REPLY starts a consensus.
	src.send(n.addr, protocol.GossipReply{Host: "127.0.0.1", Port: int(src.addr.Port()), Name: "src"})

	start := time.Now()
	eventually(t, 10*time.Second, "the verified blocks to be kept", func() bool { return n.status(t).Height >= served })
	st := n.status(t)
	if st.Height != served || st.Tip != blocks[served-1].Hash {
		t.Fatalf("height %d, tip %s: want the %d served blocks", st.Height, st.Tip, served)
	}
	t.Logf("kept the %d verified blocks %v after the start; the sync could not finish", served, time.Since(start).Round(time.Millisecond))
}
