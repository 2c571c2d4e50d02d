package peer_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// BenchmarkSync measures a fresh node's whole join over real UDP on
// loopback (s/join): GOSSIP, the first consensus (the test timings' 100 ms
// join delay and 150 ms STATS window), then the pipelined download and
// verification of the chain from three source nodes, which alone is
// s/fetch (from the choice of the chain to its adoption).
//
//	go test -run x -bench Sync -benchtime 5x ./peer/
func BenchmarkSync(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) {
			blocks := chain.Extend(nil, n, testDifficulty, "bench", 1_700_000_000)
			var seeds []netip.AddrPort
			for i := range 3 {
				seeds = append(seeds, startNode(b, fmt.Sprintf("s%d", i), blocks, nil).addr)
			}
			var total, fetch time.Duration
			for b.Loop() {
				tr, err := peer.ListenUDP("127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				fresh := startNodeOn(b, tr, "fresh", nil, seeds)
				for height(b, fresh) < n {
					if time.Since(start) > time.Minute {
						b.Fatalf("no sync of %d blocks within a minute", n)
					}
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
				if ls := fresh.status(b).LastSync; ls != nil {
					fetch += time.Duration(ls.Seconds * float64(time.Second))
				}
				fresh.stop()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/join")
			b.ReportMetric(fetch.Seconds()/float64(b.N), "s/fetch")
			b.ReportMetric(float64(n*b.N)/fetch.Seconds(), "blocks/s")
		})
	}
}

func height(tb testing.TB, n *testNode) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := n.Height(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// BenchmarkGossipNamingFreshAddresses measures what one GOSSIP naming an
// address never seen costs a node whose peer table is full (1,000
// members): the attacker's cheapest way to make it work. Each one evicts
// the member named the longest ago.
//
//	go test -run x -bench GossipNaming ./peer/
func BenchmarkGossipNamingFreshAddresses(b *testing.B) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	h := peer.NewHarness(b, blocks, peer.Config{Difficulty: testDifficulty})
	from := netip.MustParseAddrPort("127.0.0.3:7000")
	datagram := func(i int) []byte {
		return fmt.Appendf(nil, `{"type":"GOSSIP","host":"127.0.0.%d","port":%d,"id":"g-%d","name":"f"}`, 2+i/50_000, 10_000+i%50_000, i)
	}
	for i := range 1000 {
		h.InRaw(from, datagram(i))
	}
	i := 1000
	for b.Loop() {
		h.InRaw(from, datagram(i))
		if i++; i%1000 == 0 {
			h.Reset()
		}
	}
	if n := len(h.Status().Peers); n < 900 {
		b.Fatalf("%d peers: the table was not full", n)
	}
}
