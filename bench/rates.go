package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"blockpeer/chain"
	"blockpeer/miner"
)

// median returns the median of xs (the mean of the middle two for an
// even count); NaN-free input assumed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// paired measures two sides in turns, a then b, each for about slice per
// turn, until total has passed, and returns each side's best turn: the
// most units per second it did in one turn. On a machine shared with other
// work the best turn is the one least disturbed; taking turns often gives
// both sides the same chances of one. A side returns the units it did in
// a turn of at least d.
func paired(total, slice time.Duration, a, b func(d time.Duration) (float64, error)) (bestA, bestB float64, err error) {
	turn := func(side func(time.Duration) (float64, error), best *float64) error {
		t := time.Now()
		u, err := side(slice)
		if err != nil {
			return err
		}
		*best = max(*best, u/time.Since(t).Seconds())
		return nil
	}
	for start := time.Now(); time.Since(start) < total; {
		if err := turn(a, &bestA); err != nil {
			return 0, 0, err
		}
		if err := turn(b, &bestB); err != nil {
			return 0, 0, err
		}
	}
	return bestA, bestB, nil
}

// repeat runs pass until d has passed; it returns the units done.
func repeat(d time.Duration, units int, pass func() error) (float64, error) {
	done := 0
	for start := time.Now(); done == 0 || time.Since(start) < d; done += units {
		if err := pass(); err != nil {
			return 0, err
		}
	}
	return float64(done), nil
}

// verifyRows: chain.ValidPrefix over the test chain (every block's fields,
// difficulty and recomputed hash) beside sha256.Sum256 over the same
// preimages, in turns.
func verifyRows(bs *blockSet, o Options) ([]Row, error) {
	pre := make([][]byte, len(bs.blocks))
	total := 0
	for h, b := range bs.blocks {
		pre[h] = chain.Preimage(bs.blocks[max(h-1, 0)].Hash, b)
		if h == 0 {
			pre[h] = chain.Preimage("", b)
		}
		total += len(pre[h])
	}
	n := len(bs.blocks)
	var sink byte
	o1, r1, err := paired(time.Duration(o.Runs)*o.Duration, 0, // one pass over the chain per turn
		func(d time.Duration) (float64, error) {
			return repeat(d, n, func() error {
				if got := chain.ValidPrefix(bs.blocks, Difficulty); got != n {
					return fmt.Errorf("test chain invalid at block %d", got)
				}
				return nil
			})
		},
		func(d time.Duration) (float64, error) {
			return repeat(d, n, func() error {
				// On as many cores as chain.Verify uses, split the same way.
				workers := max(1, runtime.GOMAXPROCS(0))
				per := (n + workers - 1) / workers
				sinks := make([]byte, workers)
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						var x byte // local: neighbours in sinks would share a cache line
						for _, p := range pre[min(w*per, n):min((w+1)*per, n)] {
							sum := sha256.Sum256(p)
							x ^= sum[0]
						}
						sinks[w] = x
					})
				}
				wg.Wait()
				for _, x := range sinks {
					sink ^= x
				}
				return nil
			})
		})
	if err != nil {
		return nil, err
	}
	_ = sink
	bpb := float64(total) / float64(n) // bytes per block
	return []Row{
		{Name: fmt.Sprintf("verify %s blocks", thousands(int64(n))), Value: o1, Unit: "blocks/s", Limit: r1,
			LimitName: "crypto/sha256 of each preimage", Target: ">= 80%", Met: met(o1 >= 0.8*r1),
			Note: fmt.Sprintf("both on %d cores: %.0f ns/block beside %.0f ns, best turns of %v in turns", max(1, runtime.GOMAXPROCS(0)), 1e9/o1, 1e9/r1, time.Duration(o.Runs)*o.Duration)},
		{Name: "verify bytes", Value: o1 * bpb, Unit: "B/s", Limit: r1 * bpb,
			LimitName: "the same bytes", Target: ">= 80%", Met: met(o1 >= 0.8*r1),
			Note: fmt.Sprintf("%.0f preimage bytes/block", bpb)},
	}, nil
}

// mineTemplate is a typical block at an impossible difficulty: a search
// runs until its context ends.
var mineTemplate = miner.Template{
	Prev: "fa3b9d1c2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d00000000", Height: 1000, MinedBy: "blockpeer",
	Messages:  []string{"hello from blockpeer", "second message"},
	Timestamp: 1_731_000_000, Difficulty: 64,
}

// minerTries runs miner.Search with threads for d; it returns the tries.
func minerTries(ctx context.Context, threads int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var hashes atomic.Uint64
	_, err := miner.Search(ctx, mineTemplate, threads, &hashes)
	if !errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("search: %v (want the deadline)", err)
	}
	return float64(hashes.Load()), nil
}

// sha55Hashes hashes a 55-byte message (one SHA-256 compression) on
// threads goroutines for d; it returns the hashes.
func sha55Hashes(threads int, d time.Duration) float64 {
	var total atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range threads {
		wg.Go(func() {
			msg := make([]byte, 55)
			var sink byte
			n := uint64(0)
			for time.Since(start) < d {
				for range 4096 {
					msg[0]++
					sum := sha256.Sum256(msg)
					sink ^= sum[0]
				}
				n += 4096
			}
			msg[1] = sink
			total.Add(n)
		})
	}
	wg.Wait()
	return float64(total.Load())
}

// mineRows: the miner's tries/s on one core and on all, beside one
// compression per core, in turns of 20 ms.
func mineRows(ctx context.Context, o Options) ([]Row, error) {
	cores := runtime.NumCPU()
	total := time.Duration(o.Runs) * o.Duration
	side := func(threads int) (float64, float64, error) {
		return paired(total, 20*time.Millisecond,
			func(d time.Duration) (float64, error) { return minerTries(ctx, threads, d) },
			func(d time.Duration) (float64, error) { return sha55Hashes(threads, d), nil })
	}
	o1, l1, err := side(1)
	if err != nil {
		return nil, err
	}
	oa, la, err := side(cores)
	if err != nil {
		return nil, err
	}
	return []Row{
		{Name: "mine, 1 core", Value: o1, Unit: "tries/s", Limit: l1, LimitName: "sha256 of 55 bytes, 1 core",
			Target: ">= 90%", Met: met(o1 >= 0.9*l1), Note: fmt.Sprintf("best 20 ms turns of %v in turns", total)},
		{Name: fmt.Sprintf("mine, %d cores", cores), Value: oa, Unit: "tries/s", Limit: la,
			LimitName: fmt.Sprintf("sha256 of 55 bytes, %d cores", cores), Target: ">= 90%", Met: met(oa >= 0.9*la),
			Note: fmt.Sprintf("%.2fx one core (sha256 alone: %.2fx)", oa/o1, la/l1)},
	}, nil
}
