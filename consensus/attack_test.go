package consensus

import (
	"testing"

	"blockpeer/chain"
)

// A liar asked first answers a fork-point probe with our own block, which
// puts the fork point at the top of our chain. The honest backer's block
// there does not link: that is evidence against the fork point, not
// against the honest backer. The search runs again with the honest
// backer, and the sync ends on its chain with no note against it.
func TestSyncForkPointLieRefuted(t *testing.T) {
	ours := mainChain()[:300]
	theirs := chain.Extend(mainChain()[:100], 201, testDifficulty, "fork", 1_700_000_000)
	liar, honest := threeBackers[0], threeBackers[1]
	target := groupOf(theirs, liar, honest)
	local := localChain(t, ours)
	m := newSim(t, NewSync(target, local, DefaultSyncConfig(testDifficulty)), DefaultSyncConfig(testDifficulty))
	m.serve[liar] = ours // answers probes with our blocks, then has no block 300
	m.serve[honest] = theirs
	// The honest backer misses the first search, so the liar places the
	// fork point.
	m.lose = func(r Request) bool { return r.Peer == honest && m.s.Phase() == Searching && m.s.searches == 1 }
	m.run()
	checkDone(t, m.s, local, 100, theirs)
	for _, n := range m.notes {
		if n.Peer == honest && n.Kind != NoteSilent {
			t.Errorf("honest backer noted: %v", n)
		}
	}
	if m.s.searches < 2 {
		t.Errorf("%d searches: the liar's fork point was never refuted", m.s.searches)
	}
}

// A backer that claims the honest chain answers GET_BLOCK 0 with a valid
// genesis of another chain and then goes silent. The sync must not loop on
// the honest backer's blocks that do not link to it: it forgets the
// silent backer's block, ends on the honest chain with a bounded number of
// requests, and never settles (so never keeps, nor serves) the stranger's
// genesis.
func TestSyncStrangerGenesisThenSilent(t *testing.T) {
	src := mainChain()[:300]
	other := chain.Extend(nil, 1, testDifficulty, "other", 1_600_000_000)
	stranger, honest := threeBackers[0], threeBackers[1]
	target := groupOf(src, stranger, honest)
	m := newSim(t, NewSync(target, localChain(t, nil), DefaultSyncConfig(testDifficulty)), DefaultSyncConfig(testDifficulty))
	m.serve[stranger] = other
	m.serve[honest] = src
	first := true
	m.lose = func(r Request) bool {
		if r.Peer == honest && r.Height == 0 && first {
			first = false
			return true // so that the stranger serves block 0
		}
		return r.Peer == stranger && r.Height != 0
	}
	m.hook = func(m *sim) {
		if _, settled := m.s.Settled(); len(settled) > 0 && settled[0].Hash == other[0].Hash {
			t.Fatalf("the stranger's genesis is settled (would be kept and served)")
		}
	}
	m.run()
	checkDone(t, m.s, nil, 0, src)
	if got := m.asked[honest]; got > 3*len(src) {
		t.Errorf("%d requests to the honest backer for %d blocks", got, len(src))
	}
	for _, n := range m.notes {
		if n.Peer == honest {
			t.Errorf("honest backer noted: %v", n)
		}
	}
}

// One invalid block from a backer's address, a forgery for all we know,
// does not get it dropped: it takes MaxLies of them.
func TestSyncOneForgedLieIsNotEnough(t *testing.T) {
	src := mainChain()[:200]
	target := groupOf(src, threeBackers...)
	cfg := DefaultSyncConfig(testDifficulty)
	m := honestSim(t, localChain(t, nil), target, src, cfg)
	reqs := m.poll()
	victim := reqs[0]
	forged := src[victim.Height].Clone()
	forged.Hash = "not a hash"
	if v := m.s.OnBlock(victim.Peer, forged, m.now); v != Lied {
		t.Fatalf("forged block: verdict %v, want Lied", v)
	}
	if n := m.s.TakeNotes(); len(n) != 0 {
		t.Fatalf("one forged block noted %v", n)
	}
	for _, r := range reqs {
		m.answer(r)
	}
	m.run()
	checkDone(t, m.s, nil, 0, src)
	if len(m.notes) != 0 {
		t.Errorf("notes %v after one forged block", m.notes)
	}
	// A real liar still goes: every block it sends is invalid.
	m = honestSim(t, localChain(t, nil), target, src, cfg)
	liar := threeBackers[2]
	m.tamper[liar] = func(b *chain.Block) bool { b.Hash = "nonsense"; return true }
	m.run()
	checkDone(t, m.s, nil, 0, src)
	if n, ok := m.noteFor(liar); !ok || n.Kind != NoteLied || m.tampered[liar] > cfg.MaxLies+cfg.InitialWindow {
		t.Errorf("liar: note %v (%v), %d invalid blocks sent; want dropped as a liar after %d", n, ok, m.tampered[liar], cfg.MaxLies)
	}
}

// Backers whose blocks are well formed but short of our difficulty are on
// another network: they are dropped with a note that says so, not as
// liars.
func TestSyncOtherDifficultyIsNoLie(t *testing.T) {
	src := chain.Extend(nil, 40, 1, "easy", 1_700_000_000)
	target := groupOf(src, threeBackers...)
	m := honestSim(t, localChain(t, nil), target, src, DefaultSyncConfig(testDifficulty))
	m.run()
	if m.s.Phase() != Failed {
		t.Fatalf("phase %v, want failed", m.s.Phase())
	}
	if len(m.notes) == 0 {
		t.Fatal("no notes")
	}
	for _, n := range m.notes {
		if n.Kind != NoteOtherDifficulty || n.Zeros < 1 {
			t.Errorf("note %v (zeros %d), want other difficulty with at least one zero", n, n.Zeros)
		}
	}
}

// A backer whose window is wide again (a sync that started again from
// backers set aside gives them their first window back) can run out of
// strikes while several of its requests expire in one Poll: dropping it
// puts the rest back in the queue, and Poll must not trip over them.
func TestSyncDropInTheMiddleOfExpiries(t *testing.T) {
	src := mainChain()[:100]
	cfg := DefaultSyncConfig(testDifficulty)
	cfg.MaxStrikes = 1
	quiet := threeBackers[0]
	s := NewSync(groupOf(src, quiet), localChain(t, nil), cfg)
	if n := len(s.Poll(t0)); n < 2 {
		t.Fatalf("%d requests in flight, want several", n)
	}
	s.Poll(t0.Add(cfg.RequestTimeout)) // all expire at once; the first drops the backer
	if s.Phase() != Failed {
		t.Fatalf("phase %v, want failed (its only backer dropped)", s.Phase())
	}
}
