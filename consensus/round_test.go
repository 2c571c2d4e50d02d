package consensus

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
)

func roundPeer(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(9000+i))
}

// fakeKey is a chain nobody holds: a made-up hash ending in zeros.
func fakeKey(height, i int) Key {
	h := fmt.Sprintf("%064x", i+1)
	return Key{Height: height, Hash: "f" + h[1:64-testDifficulty] + strings.Repeat("0", testDifficulty)}
}

// serveProofs answers a round's proof requests from chains, the chain each
// peer holds (peers not in chains are silent); it returns the blocks sent.
func serveProofs(r *Round, reqs []Request, chains map[netip.AddrPort][]*chain.Block) int {
	sent := 0
	for _, q := range reqs {
		if c, ok := chains[q.Peer]; ok && q.Height < len(c) {
			r.OnBlock(c[q.Height].Clone())
			sent++
		}
	}
	return sent
}

// Ten silent peers each claim a chain of a million blocks. Their claims
// cost one short wait, in parallel, not a doomed sync each: the round
// chooses the honest chain, whose top block its backers show, as soon as
// the proofs' time (ten round trips) is up.
func TestRoundSilentClaimsCostOneWait(t *testing.T) {
	src := mainChain()[:120]
	honestKey := Key{Height: len(src), Hash: src[len(src)-1].Hash}
	var asked []netip.AddrPort
	for i := range 13 {
		asked = append(asked, roundPeer(i))
	}
	r := NewRound("test", t0, asked, RoundConfig{Difficulty: testDifficulty, Window: time.Second})
	at := t0.Add(2 * time.Millisecond)
	chains := map[netip.AddrPort][]*chain.Block{}
	for i, p := range asked {
		k := honestKey
		if i >= 3 {
			k = fakeKey(1_000_000+i, i)
		} else {
			chains[p] = src
		}
		if !r.OnStats(p, k, true, at) {
			t.Fatalf("reply from %v not counted", p)
		}
	}
	if r.OnStats(roundPeer(99), honestKey, true, at) {
		t.Fatal("a reply from a peer never asked counted")
	}
	reqs := r.Poll(at, 0, nil)
	if r.Phase() != Proving || len(reqs) == 0 {
		t.Fatalf("phase %v with %d proof requests after every reply", r.Phase(), len(reqs))
	}
	serveProofs(r, reqs, chains)
	if !r.Proven(honestKey) {
		t.Fatal("honest chain not proven by its top blocks")
	}
	// The tallest claims are unproven: wait, but only ten round trips.
	if r.Poll(at.Add(time.Millisecond), 0, nil); r.Phase() == Decided {
		t.Fatal("decided before the proofs' time was up, with taller claims unproven")
	}
	r.Poll(at.Add(100*time.Millisecond), 0, nil)
	if r.Phase() != Decided {
		t.Fatalf("phase %v after the proofs' time", r.Phase())
	}
	g, ok := r.Choice()
	if !ok || g.Key != honestKey || len(g.Backers) != 3 {
		t.Fatalf("choice %v, %v; want the honest chain and its 3 backers", g, ok)
	}
	// The honest sync fails: nothing else is proven, nothing chosen.
	if g, ok := r.Skip(honestKey); ok {
		t.Fatalf("after skipping the honest chain: chose %v, want nothing", g)
	}
}

// A claim proves itself by its top block's proof of work on top of the
// block below it: a block that merely carries the claimed hash is no
// proof. A proven chain is chosen at once when no claim is taller.
func TestRoundProofNeedsProofOfWork(t *testing.T) {
	src := mainChain()[:50]
	honestKey := Key{Height: len(src), Hash: src[len(src)-1].Hash}
	liar, honest := roundPeer(1), roundPeer(2)
	fake := fakeKey(500, 7)
	r := NewRound("test", t0, []netip.AddrPort{liar, honest}, RoundConfig{Difficulty: testDifficulty})
	r.OnStats(liar, fake, true, t0)
	r.OnStats(honest, honestKey, true, t0)
	reqs := r.Poll(t0, 0, nil)
	// The liar sends blocks that carry its claimed hash and fit every
	// field check, but were never mined.
	for _, q := range reqs {
		if q.Peer == liar {
			b := src[q.Height%len(src)].Clone()
			b.Height = q.Height
			b.Hash = fake.Hash
			r.OnBlock(b)
		}
	}
	if r.Proven(fake) {
		t.Fatal("a block that only carries the claimed hash proved the claim")
	}
	// A liar that backs the honest chain too sends its top blocks first,
	// with the right hashes on made-up contents: the honest copies still
	// count.
	for _, q := range reqs {
		if q.Peer == honest {
			b := src[q.Height].Clone()
			b.Messages = []string{"made up"}
			r.OnBlock(b)
		}
	}
	if r.Proven(honestKey) {
		t.Fatal("blocks with made-up contents proved the honest claim")
	}
	serveProofs(r, reqs, map[netip.AddrPort][]*chain.Block{honest: src})
	r.Poll(t0.Add(time.Second), 0, nil)
	if g, ok := r.Choice(); r.Phase() != Decided || !ok || g.Key != honestKey {
		t.Fatalf("phase %v, choice %v %v; want the honest chain, proven, over the liar's taller claim", r.Phase(), g, ok)
	}
	// With no taller claim, a proven chain is chosen as soon as its
	// proof is in.
	r = NewRound("test", t0, []netip.AddrPort{honest}, RoundConfig{Difficulty: testDifficulty})
	r.OnStats(honest, honestKey, true, t0)
	serveProofs(r, r.Poll(t0, 0, nil), map[netip.AddrPort][]*chain.Block{honest: src})
	r.Poll(t0.Add(time.Millisecond), 0, nil)
	if g, ok := r.Choice(); r.Phase() != Decided || !ok || g.Key != honestKey {
		t.Fatalf("phase %v, choice %v %v; want the honest chain at once", r.Phase(), g, ok)
	}
}

// When no claim is proven (the proofs were lost), the chain backed by the
// most peers is fetched; peers at another difficulty are named.
func TestRoundFallbackAndOtherDifficulty(t *testing.T) {
	src := mainChain()[:30]
	k := Key{Height: len(src), Hash: src[len(src)-1].Hash}
	peers := []netip.AddrPort{roundPeer(1), roundPeer(2), roundPeer(3)}
	r := NewRound("test", t0, peers, RoundConfig{Difficulty: testDifficulty})
	r.OnStats(peers[0], fakeKey(900, 1), true, t0)
	r.OnStats(peers[1], k, true, t0)
	r.OnStats(peers[2], k, true, t0)
	r.Poll(t0, 0, nil)
	r.Poll(t0.Add(time.Second), 0, nil)
	if g, ok := r.Choice(); !ok || g.Key != k {
		t.Fatalf("nothing proven: choice %v %v, want the chain of two backers", g, ok)
	}

	easy := chain.Extend(nil, 20, 1, "easy", 1_700_000_000)
	for easy[19].Hash[62] == '0' { // want exactly one zero at the top
		easy = chain.Extend(easy[:19], 1, 1, fmt.Sprint("easy", len(easy)), 1_700_000_000)
	}
	ek := Key{Height: 20, Hash: easy[19].Hash}
	r = NewRound("test", t0, peers, RoundConfig{Difficulty: testDifficulty})
	for _, p := range peers {
		r.OnStats(p, ek, true, t0)
	}
	reqs := r.Poll(t0, 0, nil)
	serveProofs(r, reqs, map[netip.AddrPort][]*chain.Block{peers[0]: easy, peers[1]: easy})
	r.Poll(t0.Add(time.Second), 0, nil)
	if z := r.OtherDifficulty(); z != 1 {
		t.Fatalf("OtherDifficulty = %d, want 1", z)
	}
}
