package peer

import (
	"net/netip"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// FuzzHandle feeds arbitrary datagrams to a node's handler, as a hostile
// peer could, in every state: idle, mid-round and mid-sync. The node must
// not panic, and its chain must stay valid and never shrink.
func FuzzHandle(f *testing.F) {
	blocks := chain.Extend(nil, 6, 1, "fuzz", 1_700_000_000)
	for _, s := range []string{
		`{"type":"GOSSIP","host":"127.0.0.1","port":9,"id":"x","name":"n"}`,
		`{"type":"GOSSIP_REPLY","host":"0.0.0.0","port":"9","name":null}`,
		`{"type":"STATS"}`, `{"type":"STATS_REPLY","height":99,"hash":"` + blocks[5].Hash + `"}`,
		`{"type":"GET_BLOCK","height":-1}`, `{"type":"GET_BLOCK","height":"3"}`,
		`{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`,
		`{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"fuzz","nonce":"0","messages":[],"hash":"None","timestamp":1}`,
		`{"type":"ANNOUNCE","height":6,"minedBy":"x","nonce":"1","messages":["a"],"hash":"` + blocks[5].Hash + `","timestamp":1}`,
		`{"type":"CONSENSUS"}`, `{"type":"NEW_WORD","word":"hello"}`, `[]`, `{}`, `null`, "\xff",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, state uint8) {
		net := NewMemNet(1, 0, 0, 0)
		tr, err := net.Listen(9000)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		ch, _ := chain.New(1, nil)
		if err := ch.Adopt(0, blocks[:5]); err != nil {
			t.Fatal(err)
		}
		from := netip.MustParseAddrPort("127.0.0.1:9")
		n, err := New(Config{
			Name: "fuzz", Advertise: tr.LocalAddr(), Seeds: []netip.AddrPort{from}, Difficulty: 1,
			Timings: Timings{GossipInterval: time.Second, PeerTimeout: time.Minute, ConsensusInterval: time.Minute,
				StatsWindow: time.Second, RequestTimeout: time.Second, SeenIDTTL: time.Minute, Tick: time.Second},
			Mine: true, MineThreads: 1, RandSeed: 1,
		}, tr, ch)
		if err != nil {
			t.Fatal(err)
		}
		defer n.stopMining()
		now := time.Unix(1_700_000_000, 0)
		n.touch(from, "p", now)
		switch state % 3 {
		case 1: // collecting STATS replies
			n.startConsensus(now, "fuzz")
		case 2: // syncing toward a taller chain backed by the sender
			n.startConsensus(now, "fuzz")
			n.onStatsReply(from, statsOf(blocks), now)
		}
		n.handle(Packet{From: from, Data: data}, now)
		n.tick(now.Add(2 * time.Second))
		if got := chain.ValidPrefix(chainBlocks(ch), 1); got != ch.Height() || ch.Height() < 5 {
			t.Fatalf("chain of %d blocks, %d valid", ch.Height(), got)
		}
	})
}

func statsOf(blocks []*chain.Block) protocol.StatsReply {
	return protocol.StatsReply{Height: len(blocks), Hash: blocks[len(blocks)-1].Hash}
}

func chainBlocks(c *chain.Chain) []*chain.Block {
	out := make([]*chain.Block, c.Height())
	for i := range out {
		out[i], _ = c.Block(i)
	}
	return out
}
