package lab

import (
	"context"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// TestLiarForgeStopsWithItsContext: the liar mines its top block at the
// lab's difficulty, which at a high difficulty takes minutes of one
// thread. Its context being done must end the search within a moment: a
// lab's stop waits for the liar. (It mined a million tries at a time
// between looks at the context, which under -race on a busy machine held
// a lab's stop past its 2 s.)
func TestLiarForgeStopsWithItsContext(t *testing.T) {
	const seedDifficulty, liarDifficulty = 2, 12 // 16^12 tries: never found
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.New(seedDifficulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Adopt(0, chain.Extend(nil, 5, seedDifficulty, "seed", 1_700_000_000)); err != nil {
		t.Fatal(err)
	}
	seed, err := peer.New(peer.Config{Name: "seed", Advertise: tr.LocalAddr(), Difficulty: seedDifficulty, Timings: peer.TestTimings()}, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopSeed := context.WithCancel(context.Background())
	seedDone := make(chan struct{})
	go func() { defer close(seedDone); seed.Run(runCtx) }()
	t.Cleanup(func() { stopSeed(); <-seedDone; tr.Close() })

	lr := &liar{name: "liar"}
	ctx, cancel := context.WithCancel(context.Background())
	forged := make(chan struct{})
	go func() { defer close(forged); lr.forge(ctx, func() *peer.Node { return seed }, 2, liarDifficulty) }()
	time.Sleep(200 * time.Millisecond) // into the search
	cancel()
	select {
	case <-forged:
	case <-time.After(time.Second):
		t.Fatal("the liar's forge still ran a second after its context was done")
	}
	if lr.blocks != nil {
		t.Fatal("a lie was kept without its mined top block")
	}
}
