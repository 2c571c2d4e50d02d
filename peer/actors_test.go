package peer_test

// Helpers for scenarios in the Sim with actors (peers that are no Node:
// attackers, bad peers, victims), shared by the attack and catalogue
// tests.

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/protocol"
)

// noBlockReply is a GET_BLOCK_REPLY with every field null: "I have no such
// block", as some course peers say it.
const noBlockReply = `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`

// local returns 127.0.0.1:port. The Sim's nodes are at 20000 and up: the
// actors take ports below (asked first by a node, which goes through
// backers in address order) or from 30000.
func local(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
}

// attackSim returns a Sim at timings on a network like the loopback's:
// every datagram takes 200 µs, none is lost, duplicated or reordered.
func attackSim(t *testing.T, timings peer.Timings) *peer.Sim {
	log := zerolog.Nop()
	if *simLog && testing.Verbose() {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(simLogLevel())
	}
	return peer.NewSim(peer.SimConfig{Seed: 1, Timings: timings, Difficulty: testDifficulty, Log: log,
		MinDelay: 200 * time.Microsecond, MaxDelay: 200 * time.Microsecond})
}

// addNode adds a node to sim, its config changed by tweak when given.
func addNode(t *testing.T, sim *peer.Sim, name string, seeds []netip.AddrPort, blocks []*chain.Block, tweak ...func(*peer.Config)) *peer.SimNode {
	t.Helper()
	n, err := sim.AddNodeWith(name, seeds, blocks, func(c *peer.Config) {
		for _, f := range tweak {
			f(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// actor has handle receive the messages delivered to addr (datagrams
// that do not parse are dropped).
func actor(t *testing.T, sim *peer.Sim, addr netip.AddrPort, handle func(from netip.AddrPort, m protocol.Message)) {
	t.Helper()
	err := sim.AddActor(addr, func(from netip.AddrPort, data []byte) {
		if m, err := protocol.Parse(data); err == nil {
			handle(from, m)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sendAs sends m from the address from (anyone's) to to.
func sendAs(t *testing.T, sim *peer.Sim, from, to netip.AddrPort, m protocol.Message) {
	t.Helper()
	sim.SendAs(from, to, []byte(encode(t, m)))
}

// every runs f now and then every period of virtual time, for as long as
// the scenario runs the Sim.
func every(sim *peer.Sim, period time.Duration, f func()) {
	var next func()
	next = func() {
		f()
		sim.After(period, next)
	}
	next()
}

// freshPorts returns a source of addresses never used before, from port
// first up (wrapping to first after 65535).
func freshPorts(first uint16) func() netip.AddrPort {
	p := first - 1
	return func() netip.AddrPort {
		if p++; p == 0 {
			p = first
		}
		return local(p)
	}
}

// noOffenceAgainst fails t when n holds an offence against addr.
func noOffenceAgainst(t *testing.T, n *peer.SimNode, addr netip.AddrPort, who string) {
	t.Helper()
	for _, o := range n.Offenders() {
		if o.Addr == addr.String() {
			t.Fatalf("%s (%s) has an offence: score %.2f, banned until %v", who, addr, o.Score, o.BannedUntil)
		}
	}
}

// notMarkedBad fails t when n's last round shows the chain ending in hash
// as bad.
func notMarkedBad(t *testing.T, n *peer.SimNode, hash string) {
	t.Helper()
	for _, g := range n.Status().Consensus {
		if g.Hash == hash && g.Bad {
			t.Fatalf("the honest chain %.12s was marked bad", hash)
		}
	}
}

// holdsChain fails t unless n's chain is valid and is want.
func holdsChain(t *testing.T, n *peer.SimNode, want []*chain.Block) {
	t.Helper()
	got := n.Blocks()
	if v := chain.ValidPrefix(got, testDifficulty); v != len(got) {
		t.Fatalf("%s: chain of %d blocks has only %d valid", n.Name(), len(got), v)
	}
	if len(got) != len(want) || got[len(got)-1].Hash != want[len(want)-1].Hash {
		t.Fatalf("%s: chain of %d blocks, want %d ending %.12s", n.Name(), len(got), len(want), want[len(want)-1].Hash)
	}
}

// reaches runs sim for at most within of virtual time until n holds the
// chain ending in want's top block, checks that chain, and returns the
// virtual time it took.
func reaches(t *testing.T, sim *peer.Sim, n *peer.SimNode, want []*chain.Block, within time.Duration, what string) time.Duration {
	t.Helper()
	start := sim.Elapsed()
	top := want[len(want)-1].Hash
	if !sim.RunUntil(within, 10*time.Millisecond, func() bool { return n.Tip() == top }) {
		st := n.Status()
		t.Fatalf("not done after %v waiting for %s: height %d (want %d), sync %s, last round %s, offenders %s",
			within, what, st.Height, len(want), jsonString(st.Sync), jsonString(st.Consensus), jsonString(n.Offenders()))
	}
	holdsChain(t, n, want)
	return sim.Elapsed() - start
}
