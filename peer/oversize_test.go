package peer_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// oversizeChain is a two-block chain whose block 1 is valid by every rule
// of the spec but encodes over protocol.MaxDatagram: minedBy is 20 emoji
// and it has 10 messages of 20 emoji each (about 1,100 bytes).
func oversizeChain(t testing.TB) []*chain.Block {
	t.Helper()
	blocks := chain.Extend(nil, 1, testDifficulty, "big", 1_700_000_000)
	b := &chain.Block{Height: 1, MinedBy: strings.Repeat("😀", 20), Timestamp: 1_700_000_001}
	for range chain.MaxMessages {
		b.Messages = append(b.Messages, strings.Repeat("🧱", chain.MaxMessageRunes))
	}
	if !chain.Mine(blocks[0].Hash, b, testDifficulty, 1<<30) {
		t.Fatal("could not mine the oversize block")
	}
	blocks = append(blocks, b)
	if n := chain.ValidPrefix(blocks, testDifficulty); n != 2 {
		t.Fatalf("oversize chain: %d of 2 blocks valid", n)
	}
	if _, err := protocol.Encode(protocol.GetBlockReply{Block: b}); err == nil {
		t.Fatal("the oversize block fits in one datagram: the test tests nothing")
	}
	return blocks
}

// A node serves a valid block over 1024 bytes whole (GET_BLOCK_REPLY up
// to 64 KiB, as the spec says), so a fresh node syncs past it; the send is
// logged once for the block, not once per request.
func TestServesAndSyncsOversizeBlock(t *testing.T) {
	blocks := oversizeChain(t)
	logs := &logBuf{}
	src := startNode(t, "src", blocks, nil, func(c *peer.Config) {
		c.Log = zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.DebugLevel)
	})

	r := newRaw(t)
	for range 3 {
		r.send(src.addr, protocol.GetBlock{Height: 1})
		m := r.recvType(protocol.TypeGetBlockReply, 2*time.Second)
		if m == nil {
			t.Fatal("GET_BLOCK 1: no reply (the oversize block was not served)")
		}
		if got := m.(protocol.GetBlockReply).Block; got == nil || got.Hash != blocks[1].Hash || got.MinedBy != blocks[1].MinedBy {
			t.Fatalf("GET_BLOCK 1: got %s, want the oversize block", jsonString(got))
		}
	}

	fresh := startNode(t, "fresh", nil, []netip.AddrPort{src.addr})
	eventually(t, 10*time.Second, "the fresh node to sync past the oversize block", func() bool {
		return fresh.status(t).Tip == blocks[1].Hash
	})
	if n := logs.count("over 1024 bytes"); n != 1 {
		t.Errorf("%d log lines about the oversize block, want 1:\n%s", n, logs.buf.String())
	}
}

// A GOSSIP that encodes over 1024 bytes (a 200-byte name of control
// characters, escaped to six bytes each) is forwarded whole: the node it is
// forwarded to answers the originator.
func TestForwardsOversizeGossip(t *testing.T) {
	a := startNode(t, "a", nil, nil)
	b := startNode(t, "b", nil, []netip.AddrPort{a.addr})
	eventually(t, 5*time.Second, "a to know b", func() bool { return len(a.status(t).Peers) == 1 })

	origin := newRaw(t)
	g := protocol.Gossip{Host: "127.0.0.1", Port: int(origin.addr.Port()), ID: uuid.NewString(), Name: strings.Repeat("\x01", protocol.MaxNameBytes)}
	data, err := protocol.EncodeRelay(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= protocol.MaxDatagram {
		t.Fatalf("the GOSSIP is %d bytes: the test tests nothing", len(data))
	}
	origin.sendRaw(a.addr, data)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		m, from := origin.recv(time.Until(deadline))
		if r, ok := m.(protocol.GossipReply); ok && from == b.addr && r.Name == "b" {
			return
		}
	}
	t.Fatalf("b never answered the originator: a did not forward the oversize GOSSIP (a forwarded %d)", a.status(t).Counters.GossipForwarded)
}

// A name is refused when peers would drop our GOSSIP for it, or when our
// GOSSIP or a block we mine would not fit in one datagram with it.
func TestCheckName(t *testing.T) {
	for _, ok := range []string{"xyz", strings.Repeat("n", protocol.MaxNameBytes), strings.Repeat("😀", protocol.MaxNameBytes/4),
		strings.Repeat(`"`, protocol.MaxNameBytes)} { // quotes escape to 2 bytes: 400 bytes fit
		if err := peer.CheckName(ok); err != nil {
			t.Errorf("CheckName(%.20q... %d bytes): %v", ok, len(ok), err)
		}
	}
	for _, tc := range []struct{ name, mention string }{
		{"", "required"},
		{"  ", "required"},
		{"\xff", "UTF-8"},
		{strings.Repeat("n", protocol.MaxNameBytes+1), "201 bytes long; at most 200"},
		{strings.Repeat("\x01", protocol.MaxNameBytes), "GOSSIP"},                   // 1,200 bytes escaped
		{strings.Repeat("\x01", 100) + strings.Repeat("n", 100), "a block we mine"}, // 700: the GOSSIP fits, a block does not
	} {
		err := peer.CheckName(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("CheckName(%d bytes): error %v, want one mentioning %q", len(tc.name), err, tc.mention)
		}
	}
	// New checks it.
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ch, err := chain.New(testDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := peer.Config{Name: strings.Repeat("n", 300), Advertise: tr.LocalAddr(), Difficulty: testDifficulty, Timings: peer.TestTimings()}
	if _, err := peer.New(cfg, tr, ch); err == nil || !strings.Contains(err.Error(), "300 bytes") {
		t.Errorf("New with a 300-byte name: error %v", err)
	}
	cfg.Name, cfg.MineMessage = "n", strings.Repeat("m", 21)
	if _, err := peer.New(cfg, tr, ch); err == nil || !strings.Contains(err.Error(), "mined message") {
		t.Errorf("New with a 21-character mined message: error %v", err)
	}
}

// A block too large for any datagram (a 70,000-byte minedBy: valid, as the
// spec sets no bound) cannot be served; the node says so, once.
func TestBlockTooLargeForAnyDatagramIsLogged(t *testing.T) {
	blocks := chain.Extend(nil, 1, testDifficulty, "huge", 1_700_000_000)
	b := &chain.Block{Height: 1, MinedBy: strings.Repeat("m", 70_000), Messages: []string{"huge"}, Timestamp: 1_700_000_001}
	if !chain.Mine(blocks[0].Hash, b, testDifficulty, 1<<30) {
		t.Fatal("could not mine the huge block")
	}
	blocks = append(blocks, b)
	logs := &logBuf{}
	src := startNode(t, "src", blocks, nil, func(c *peer.Config) {
		c.Log = zerolog.New(logs).Level(zerolog.DebugLevel)
	})
	r := newRaw(t)
	for range 2 {
		r.send(src.addr, protocol.GetBlock{Height: 1})
		r.send(src.addr, protocol.Stats{}) // answered after the GET_BLOCK: the node has handled it
		if r.recvType(protocol.TypeStatsReply, 2*time.Second) == nil {
			t.Fatal("no STATS_REPLY")
		}
	}
	if n := logs.count("GET_BLOCK_REPLY not sent: too large even to pass on whole"); n != 1 {
		t.Errorf("%d log lines about the block too large to send, want 1:\n%.2000s", n, logs.buf.String())
	}
}

// A valid block close to the 64 KiB limit is taken from an ANNOUNCE,
// served and synced like any other.
func TestBlockNear64KiBIsAnnouncedServedAndSynced(t *testing.T) {
	blocks := chain.Extend(nil, 1, testDifficulty, "big", 1_700_000_000)
	b := &chain.Block{Height: 1, MinedBy: strings.Repeat("m", 65_000), Messages: []string{"big"}, Timestamp: 1_700_000_001}
	if !chain.Mine(blocks[0].Hash, b, testDifficulty, 1<<30) {
		t.Fatal("could not mine the block")
	}
	data, err := protocol.EncodeRelay(protocol.Announce{Block: b})
	if err != nil {
		t.Fatal(err)
	}
	src := startNode(t, "src", blocks, nil)
	newRaw(t).sendRaw(src.addr, data)
	eventually(t, 5*time.Second, "src to append the announced block", func() bool { return src.status(t).Tip == b.Hash })
	fresh := startNode(t, "fresh", nil, []netip.AddrPort{src.addr})
	eventually(t, 10*time.Second, "the fresh node to sync the block", func() bool { return fresh.status(t).Tip == b.Hash })
}
