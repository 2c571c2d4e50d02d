package peer

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// FuzzHandle feeds arbitrary datagrams to a node's handler, as hostile
// peers could, in every state: idle, mid-round and mid-sync. data holds up
// to 8 datagrams separated by NUL bytes (which JSON text cannot contain),
// handled 100 ms apart with timers run in between; bits 2 to 7 of state
// say which come from the member the node syncs from and which from a
// stranger. The node must not panic, its chain must stay valid and never
// shrink, its tables must keep their caps, and it must still answer a
// STATS from a third address.
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
	// The adversarial catalogue (adversary_test.go): what bad peers send.
	// Sequences: a sync served block by block, and the whole catalogue.
	var served []string
	for _, b := range blocks {
		enc, _ := protocol.Encode(protocol.GetBlockReply{Block: b})
		served = append(served, string(enc))
	}
	f.Add([]byte(strings.Join(served, "\x00")), uint8(2))
	f.Add([]byte(strings.Join(catalogueDatagrams(blocks)[:8], "\x00")), uint8(0xff))
	for _, s := range catalogueDatagrams(blocks) {
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
		n.learn(from, "p", true, 100, now)
		switch state % 3 {
		case 1: // collecting STATS replies
			n.startConsensus(now, "fuzz")
		case 2: // syncing toward a taller chain backed by the sender
			n.startConsensus(now, "fuzz")
			n.onStatsReply(from, statsOf(blocks), now)
		}
		stranger := netip.MustParseAddrPort("127.0.0.1:10")
		height := ch.Height()
		for i, d := range bytes.SplitN(data, []byte{0}, 8) {
			src := from
			if state>>(2+i%6)&1 == 1 {
				src = stranger
			}
			now = now.Add(100 * time.Millisecond)
			n.handle(Packet{From: src, Data: d}, now)
			n.tick(now)
			if ch.Height() < height {
				t.Fatalf("chain shrank from %d to %d blocks", height, ch.Height())
			}
			height = ch.Height()
		}
		n.tick(now.Add(2 * time.Second))
		if got := chain.ValidPrefix(chainBlocks(ch), 1); got != ch.Height() || ch.Height() < 5 {
			t.Fatalf("chain of %d blocks, %d valid", ch.Height(), got)
		}
		lim := n.cfg.Limits
		if n.members.Len() > n.cfg.Limits.MaxPeers || len(n.mine.words) > lim.QueuedWords || n.offenders.Len() > lim.Offenders ||
			n.seen.Len() > lim.SeenIDs || n.replies.Len() > lim.ReplySources {
			t.Fatalf("a table over its cap: %d peers, %d words, %d offenders, %d ids, %d limiter entries",
				n.members.Len(), len(n.mine.words), n.offenders.Len(), n.seen.Len(), n.replies.Len())
		}
		served := n.stats.StatsServed
		n.handle(Packet{From: netip.MustParseAddrPort("127.0.0.1:11"), Data: []byte(`{"type":"STATS"}`)}, now)
		if n.stats.StatsServed != served+1 {
			t.Fatal("STATS from a third address not answered")
		}
	})
}

// catalogueDatagrams are the hostile datagrams of the adversarial
// catalogue, around a chain of blocks: odd STATS heights, broken blocks,
// forged gossip and plain junk.
func catalogueDatagrams(blocks []*chain.Block) []string {
	top := blocks[len(blocks)-1]
	out := []string{
		`{"type":"STATS_REPLY","height":999999,"hash":"` + strings.Repeat("ab", 32) + `"}`,
		`{"type":"STATS_REPLY","height":"7","hash":"` + top.Hash + `"}`,
		`{"type":"STATS_REPLY","height":-1,"hash":null}`,
		`{"type":"STATS_REPLY","height":null,"hash":"None"}`,
		`{"type":"STATS_REPLY","height":6.5,"hash":"` + top.Hash + `"}`,
		`{"type":"STATS_REPLY","height":9223372036854775808,"hash":"` + top.Hash + `"}`,
		`{"type":"GET_BLOCK_REPLY","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`,
		`{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"fuzz","nonce":"` + strings.Repeat("1", 41) + `","messages":["a"],"hash":"` + top.Hash + `","timestamp":1}`,
		`{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"fuzz","nonce":"1","messages":["a","a","a","a","a","a","a","a","a","a","a"],"hash":"` + top.Hash + `","timestamp":1}`,
		`{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"` + strings.Repeat("m", 300) + `","nonce":"1","messages":["` + strings.Repeat("é", 21) + `"],"hash":"` + top.Hash + `","timestamp":1}`,
		`{"type":"ANNOUNCE","height":99,"minedBy":"x","nonce":"1","messages":["a"],"hash":"` + top.Hash + `","timestamp":1}`,
		`{"type":"GOSSIP","host":"127.0.0.1","port":0,"id":"a","name":"n"}`,
		`{"type":"GOSSIP","host":"` + strings.Repeat("h", 300) + `","port":9,"id":"b","name":"n"}`,
		`{"type":"GOSSIP","host":"127.0.0.1","port":9000,"id":"c","name":"us"}`,
		`{"type":"WHAT"}`, `{"type":"STATS"`, strings.Repeat("[", 5000), "\x00\x01garbage",
	}
	for _, b := range blocks {
		enc, _ := protocol.Encode(protocol.GetBlockReply{Block: b})
		out = append(out, string(enc))
	}
	return out
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
