package peer_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// lanedFeed is a Laned transport whose lanes a test fills before the node
// runs; it records what the node sends, in order.
type lanedFeed struct {
	addr     netip.AddrPort
	bulk     chan peer.Packet
	priority chan peer.Packet
	mu       sync.Mutex
	sent     []sentDatagram
	news     chan struct{}
	once     sync.Once
}

type sentDatagram struct {
	to  netip.AddrPort
	msg protocol.Message
}

func newLanedFeed(bulk, priority int) *lanedFeed {
	return &lanedFeed{
		addr:     netip.MustParseAddrPort("127.0.0.1:9000"),
		bulk:     make(chan peer.Packet, bulk),
		priority: make(chan peer.Packet, priority),
		news:     make(chan struct{}, 1),
	}
}

func (f *lanedFeed) Send(to netip.AddrPort, data []byte) error {
	m, err := protocol.Parse(data)
	if err != nil {
		return fmt.Errorf("the node sent an unparsable datagram %q: %w", data, err)
	}
	f.mu.Lock()
	f.sent = append(f.sent, sentDatagram{to, m})
	f.mu.Unlock()
	select {
	case f.news <- struct{}{}:
	default:
	}
	return nil
}
func (f *lanedFeed) Packets() <-chan peer.Packet  { return f.bulk }
func (f *lanedFeed) Priority() <-chan peer.Packet { return f.priority }
func (f *lanedFeed) LocalAddr() netip.AddrPort    { return f.addr }
func (f *lanedFeed) Close() error {
	f.once.Do(func() { close(f.bulk); close(f.priority) })
	return nil
}

// waitSent waits until the node has sent at least n datagrams and returns
// what it sent.
func (f *lanedFeed) waitSent(t *testing.T, n int) []sentDatagram {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		sent := append([]sentDatagram(nil), f.sent...)
		f.mu.Unlock()
		if len(sent) >= n {
			return sent
		}
		select {
		case <-f.news:
		case <-deadline:
			t.Fatalf("the node sent %d datagrams in 5 s, want %d", len(sent), n)
		}
	}
}

// A STATS that arrives behind a backlog of GET_BLOCKs is answered before
// any of them: it waits in the priority lane, which the node serves first.
func TestStatsAnsweredBeforeGetBlockBacklog(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	tr := newLanedFeed(500, 1)
	client := netip.MustParseAddrPort("127.0.0.1:9100")
	for i := range 500 {
		tr.bulk <- peer.Packet{From: client, Data: fmt.Appendf(nil, `{"type":"GET_BLOCK","height":%d}`, i%5)}
	}
	probe := netip.MustParseAddrPort("127.0.0.1:9999")
	tr.priority <- peer.Packet{From: probe, Data: []byte(`{"type":"STATS"}`)}
	startNodeOn(t, tr, "busy", blocks, nil)

	sent := tr.waitSent(t, 501)
	first := sent[0]
	reply, ok := first.msg.(protocol.StatsReply)
	if !ok || first.to != probe {
		t.Fatalf("first datagram sent: %T to %s, want the STATS_REPLY to %s", first.msg, first.to, probe)
	}
	if reply.Height != len(blocks) || reply.Hash != blocks[len(blocks)-1].Hash {
		t.Fatalf("STATS_REPLY %+v, want height %d", reply, len(blocks))
	}
	for i, s := range sent[1:501] {
		r, ok := s.msg.(protocol.GetBlockReply)
		if !ok || s.to != client || r.Block == nil || r.Block.Height != i%5 {
			t.Fatalf("datagram %d: %T to %s, want the GET_BLOCK_REPLY of height %d to %s", i+1, s.msg, s.to, i%5, client)
		}
	}
}

// A flood on the priority lane slows the bulk lane, it does not stop it:
// a GET_BLOCK waiting behind 200 STATS is answered before the last of them.
func TestPriorityLaneCannotStarveBulk(t *testing.T) {
	blocks := chain.Extend(nil, 5, testDifficulty, "chain", 1_700_000_000)
	tr := newLanedFeed(1, 200)
	client := netip.MustParseAddrPort("127.0.0.1:9100")
	tr.bulk <- peer.Packet{From: client, Data: []byte(`{"type":"GET_BLOCK","height":3}`)}
	flooder := netip.MustParseAddrPort("127.0.0.1:9200")
	for range 200 {
		tr.priority <- peer.Packet{From: flooder, Data: []byte(`{"type":"STATS"}`)}
	}
	startNodeOn(t, tr, "flooded", blocks, nil)

	sent := tr.waitSent(t, 201)
	for i, s := range sent {
		if _, ok := s.msg.(protocol.GetBlockReply); ok {
			if i >= 200 {
				t.Fatalf("GET_BLOCK_REPLY sent after all 200 STATS_REPLYs (datagram %d)", i)
			}
			return
		}
	}
	t.Fatal("no GET_BLOCK_REPLY sent")
}

func TestUrgent(t *testing.T) {
	for _, c := range []struct {
		data string
		want bool
	}{
		{`{"type":"STATS"}`, true},
		{`{ "type" : "STATS_REPLY", "height": 3, "hash": "ab"}`, true},
		{`{"host":"127.0.0.1","port":1,"id":"x","name":"y","type":"GOSSIP"}`, true},
		{`{"type":"GOSSIP_REPLY","host":"127.0.0.1","port":1,"name":"y"}`, true},
		{`{"type":"CONSENSUS"}`, true},
		{`{"type":"GET_BLOCK","height":1}`, false},
		{`{"type":"GET_BLOCK_REPLY","height":1}`, false},
		{`{"type":"ANNOUNCE","height":1}`, false},
		{`{"type":"NEW_WORD","word":"x"}`, false},
		{`{"type":"stats"}`, false},
		{`{"type":["STATS"]}`, false},
		{`not json`, false},
		{``, false},
		{`{"type":"STATS","pad":"` + strings.Repeat("x", 600) + `"}`, false}, // large: bulk
	} {
		if got := peer.Urgent([]byte(c.data)); got != c.want {
			t.Errorf("Urgent(%.60q) = %v, want %v", c.data, got, c.want)
		}
	}
}

// The UDP transport stamps each datagram with its receive time and puts a
// STATS on its priority lane, where it is found while a backlog of
// GET_BLOCKs waits unread on the bulk lane.
func TestUDPPriorityLaneAndReceiveTime(t *testing.T) {
	u, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prio := u.Priority() // as Run does first: the lane is split off once it is read
	before := time.Now()
	for i := range 300 {
		if _, err := c.WriteToUDPAddrPort(fmt.Appendf(nil, `{"type":"GET_BLOCK","height":%d}`, i), u.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WriteToUDPAddrPort([]byte(`{"type":"STATS"}`), u.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-prio:
		if string(p.Data) != `{"type":"STATS"}` {
			t.Fatalf("priority lane: %q, want the STATS", p.Data)
		}
		from := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if p.From.Port() != from.Port() {
			t.Fatalf("priority lane: from %s, want %s", p.From, from)
		}
		if p.At.Before(before) || p.At.After(time.Now()) {
			t.Fatalf("packet stamped %v, want between %v and now", p.At, before)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no STATS on the priority lane within 5 s")
	}
	select {
	case p := <-u.Packets():
		if !strings.Contains(string(p.Data), "GET_BLOCK") || p.At.IsZero() {
			t.Fatalf("bulk lane: %q stamped %v, want a stamped GET_BLOCK", p.Data, p.At)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no GET_BLOCK on the bulk lane within 5 s")
	}
}

// TestUDPWithoutPriorityReaderLosesNothing: a transport that wraps UDP and
// does not pass its priority lane on (a test's or the bench's lossy
// wrapper) still gets every datagram, urgent ones too, on Packets.
func TestUDPWithoutPriorityReaderLosesNothing(t *testing.T) {
	u, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	r := newRaw(t)
	r.send(u.LocalAddr(), protocol.Stats{})
	select {
	case p := <-u.Packets():
		if !strings.Contains(string(p.Data), "STATS") {
			t.Fatalf("got %q", p.Data)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a STATS never reached Packets while nobody read the priority lane")
	}
}
