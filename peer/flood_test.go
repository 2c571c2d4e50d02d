package peer_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
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

// feedTransport is a Transport a test feeds datagrams into directly (as
// fast as the node reads them: the channel blocks, nothing is lost) and
// that throws away what the node sends, except to the probe address.
type feedTransport struct {
	addr, probe netip.AddrPort
	in          chan peer.Packet
	toProbe     chan []byte
	sent        atomic.Int64
	once        sync.Once
}

func newFeed() *feedTransport {
	return &feedTransport{
		addr:    netip.MustParseAddrPort("127.0.0.1:9000"),
		probe:   netip.MustParseAddrPort("127.0.0.1:9999"),
		in:      make(chan peer.Packet, 1024),
		toProbe: make(chan []byte, 16),
	}
}

func (f *feedTransport) Send(to netip.AddrPort, data []byte) error {
	f.sent.Add(1)
	if to == f.probe {
		select {
		case f.toProbe <- append([]byte(nil), data...):
		default:
		}
	}
	return nil
}
func (f *feedTransport) Packets() <-chan peer.Packet        { return f.in }
func (f *feedTransport) LocalAddr() netip.AddrPort          { return f.addr }
func (f *feedTransport) Close() error                       { f.once.Do(func() { close(f.in) }); return nil }
func (f *feedTransport) feed(from netip.AddrPort, d []byte) { f.in <- peer.Packet{From: from, Data: d} }

// answersStats sends a STATS from the probe address and waits for the
// node's STATS_REPLY.
func (f *feedTransport) answersStats(t *testing.T, blocks []*chain.Block) {
	t.Helper()
	f.feed(f.probe, []byte(`{"type":"STATS"}`))
	for {
		select {
		case d := <-f.toProbe:
			m, err := protocol.Parse(d)
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := m.(protocol.StatsReply); ok {
				if s.Height != len(blocks) || s.Hash != blocks[len(blocks)-1].Hash {
					t.Fatalf("STATS_REPLY %+v", s)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no STATS_REPLY within 5s")
		}
	}
}

// TestFloodBoundedMemory feeds a node 20,000 junk datagrams (from four
// sources) and 40,000 GOSSIPs with fresh ids (twice the seen-id table's
// cap, from 3,000 origins: three times the peer table's), with bans off so
// that it reads every one and fills every table. Its heap
// must stay within floodHeapBound of where it started, its peer table within
// its cap, and it must answer STATS after every 1,000 datagrams. The
// datagrams go straight into the node's event loop (no sockets: the
// catalogue tests floods over real UDP), so the test takes seconds.
func TestFloodBoundedMemory(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	lim := peer.DefaultLimits()
	lim.BanScore = 1e12 // nobody banned: every datagram is read
	tr := newFeed()
	node := runNode(t, "node", tr, blocks, nil, func(c *peer.Config) {
		c.Limits = lim
		c.Log = zerolog.Nop() // 300,000 debug lines would be the test's main cost under -v
	})
	before := heapAlloc()
	start := time.Now()

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
	// fill the seen ids and the peers. Under -race the flood costs 10x.
	const junkCount, gossipCount = 20_000, 40_000
	for i := range junkCount {
		from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(5000+i%4))
		tr.feed(from, []byte(junk[i%len(junk)]))
		if i%1000 == 999 {
			tr.answersStats(t, blocks)
		}
	}
	flooder := netip.MustParseAddrPort("127.0.0.3:7000")
	for i := range gossipCount {
		tr.feed(flooder, fmt.Appendf(nil, `{"type":"GOSSIP","host":"127.0.0.1","port":%d,"id":"flood-%08d","name":"f"}`, 20_000+i%3_000, i))
		if i%1000 == 999 {
			tr.answersStats(t, blocks)
		}
	}
	took := time.Since(start)
	after := heapAlloc()
	st := node.status(t)
	t.Logf("flood of %d datagrams in %v: heap %.1f MB before, %.1f MB after; %d peers; %d sent; counters %+v",
		st.Counters.Received, took.Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20), len(st.Peers), tr.sent.Load(), st.Counters)
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
	if st.Counters.GossipForwarded > 3*(lim.ForwardBurst+int(lim.ForwardRate*took.Seconds())+1) {
		t.Fatalf("%d GOSSIPs forwarded in %v, over the forward rate", st.Counters.GossipForwarded, took)
	}
}
