package peer_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// floodHeapBound is the most the heap may grow while a node takes the
// flood of TestFloodBoundedMemory: its tables are full by then (20,000
// gossip ids, 1,000 peers, thousands of rate-limiter and offender
// entries), and stay so.
const floodHeapBound = 32 << 20

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodBoundedMemory feeds a node 20,000 junk datagrams (from four
// sources) and 40,000 GOSSIPs with fresh ids (twice the seen-id table's
// cap, from 3,000 origins: three times the peer table's), 10 a
// millisecond, with bans off so that it reads every one and fills every
// table. Its heap must stay within floodHeapBound of where it started,
// its peer table within its cap, and it must answer STATS after every
// 1,000 datagrams. The node is driven by the Harness (no sockets, a fake
// clock): the catalogue and the bench flood it over real UDP.
func TestFloodBoundedMemory(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	lim := peer.DefaultLimits()
	lim.BanScore = 1e12 // nobody banned: every datagram is read
	h := peer.NewHarness(t, blocks, peer.Config{Difficulty: testDifficulty, Limits: lim})
	probe := netip.MustParseAddrPort("127.0.0.1:9999")
	before := heapAlloc()
	start := h.Now()

	junk := []string{
		"not json at all",
		`{"type":"STATS_REPLY","height":5,"ha`,
		strings.Repeat("[", 500) + strings.Repeat("]", 500),
		`{"type":"WHAT_IS_THIS","x":1}`,
		`{"type":"STATS_REPLY","height":99,"hash":"` + strings.Repeat("0", 64) + `"}`,
		`{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`,
		`{"type":"GOSSIP","host":"127.0.0.1","port":0,"id":"x","name":"y"}`,
		`{"type":"ANNOUNCE","height":1,"minedBy":"x","nonce":"1","messages":["a"],"hash":"zz","timestamp":1}`,
	}
	// Junk fills no table (it is never anyone's offence); the GOSSIPs
	// fill the seen ids and the peers.
	const junkCount, gossipCount = 20_000, 40_000
	feed := func(i int, from netip.AddrPort, d []byte) {
		h.InRaw(from, d)
		if i%10 == 9 {
			h.Advance(time.Millisecond)
		}
		if i%1000 == 999 {
			answersStatsTo(t, h, probe, blocks)
			h.Reset() // what it sent so far is counted in its status
		}
	}
	for i := range junkCount {
		feed(i, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(5000+i%4)), []byte(junk[i%len(junk)]))
	}
	flooder := netip.MustParseAddrPort("127.0.0.3:7000")
	for i := range gossipCount {
		feed(i, flooder, fmt.Appendf(nil, `{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"flood-%08d","name":"f"}`, 20_000+i%3_000, i))
	}
	took := h.Now().Sub(start)
	after := heapAlloc()
	st := h.Status()
	t.Logf("flood of %d datagrams in %v of fake time: heap %.1f MB before, %.1f MB after; %d peers; counters %+v",
		st.Counters.Received, took, float64(before)/(1<<20), float64(after)/(1<<20), len(st.Peers), st.Counters)
	if want := junkCount + gossipCount; st.Counters.Received < want {
		t.Fatalf("the node read %d datagrams, want %d", st.Counters.Received, want)
	}
	if after > before && after-before > floodHeapBound {
		t.Fatalf("heap grew by %.1f MB, bound %d MB", float64(after-before)/(1<<20), floodHeapBound>>20)
	}
	if len(st.Peers) > 1000 || len(st.Peers) == 0 {
		t.Fatalf("%d peers after 3,000 origins, want at most the cap, 1000", len(st.Peers))
	}
	// 40,000 fresh ids from one sender: forwarded only at the forward rate.
	if st.Counters.GossipForwarded > lim.ForwardBurst+int(lim.ForwardRate*took.Seconds())+1 {
		t.Fatalf("%d GOSSIPs forwarded in %v, over the forward rate", st.Counters.GossipForwarded, took)
	}
}
