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

// rateOver repeats pass until d has passed and returns units per second,
// where each pass does units of work.
func rateOver(d time.Duration, units int, pass func() error) (float64, error) {
	start := time.Now()
	done := 0
	for {
		if err := pass(); err != nil {
			return 0, err
		}
		done += units
		if el := time.Since(start); el >= d {
			return float64(done) / el.Seconds(), nil
		}
	}
}

// verifyRows: chain.ValidPrefix over the test chain (every block's fields,
// difficulty and recomputed hash) beside sha256.Sum256 over the same
// preimages.
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
	var ours, raw []float64
	var sink byte
	for range o.Runs {
		r, err := rateOver(o.Duration/2, n, func() error {
			if got := chain.ValidPrefix(bs.blocks, Difficulty); got != n {
				return fmt.Errorf("test chain invalid at block %d", got)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		ours = append(ours, r)
		r, _ = rateOver(o.Duration/2, n, func() error {
			for _, p := range pre {
				sum := sha256.Sum256(p)
				sink ^= sum[0]
			}
			return nil
		})
		raw = append(raw, r)
	}
	_ = sink
	bpb := float64(total) / float64(n) // bytes per block
	o1, r1 := median(ours), median(raw)
	return []Row{
		{Name: fmt.Sprintf("verify %s blocks", thousands(int64(n))), Value: o1, Unit: "blocks/s", Limit: r1,
			LimitName: "crypto/sha256 of each preimage", Target: ">= 80%", Met: met(o1 >= 0.8*r1),
			Note: fmt.Sprintf("%.0f ns/block beside %.0f ns", 1e9/o1, 1e9/r1)},
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

// minerRate runs miner.Search with threads for d; tries per second.
func minerRate(ctx context.Context, threads int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var hashes atomic.Uint64
	start := time.Now()
	_, err := miner.Search(ctx, mineTemplate, threads, &hashes)
	el := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("search: %v (want the deadline)", err)
	}
	return float64(hashes.Load()) / el.Seconds(), nil
}

// sha55Rate hashes a 55-byte message (one SHA-256 compression) on threads
// goroutines for d; hashes per second.
func sha55Rate(threads int, d time.Duration) float64 {
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
	return float64(total.Load()) / time.Since(start).Seconds()
}

// mineRows: the miner's tries/s on one core and on all, beside one
// compression per core.
func mineRows(ctx context.Context, o Options) ([]Row, error) {
	cores := runtime.NumCPU()
	var one, all, lim1, limAll []float64
	for range o.Runs {
		r, err := minerRate(ctx, 1, o.Duration)
		if err != nil {
			return nil, err
		}
		one = append(one, r)
		lim1 = append(lim1, sha55Rate(1, o.Duration))
		if r, err = minerRate(ctx, cores, o.Duration); err != nil {
			return nil, err
		}
		all = append(all, r)
		limAll = append(limAll, sha55Rate(cores, o.Duration))
	}
	o1, l1, oa, la := median(one), median(lim1), median(all), median(limAll)
	return []Row{
		{Name: "mine, 1 core", Value: o1, Unit: "tries/s", Limit: l1, LimitName: "sha256 of 55 bytes, 1 core",
			Target: ">= 90%", Met: met(o1 >= 0.9*l1)},
		{Name: fmt.Sprintf("mine, %d cores", cores), Value: oa, Unit: "tries/s", Limit: la,
			LimitName: fmt.Sprintf("sha256 of 55 bytes, %d cores", cores), Target: ">= 90%", Met: met(oa >= 0.9*la),
			Note: fmt.Sprintf("%.2fx one core (sha256 alone: %.2fx)", oa/o1, la/l1)},
	}, nil
}
