package chain

import (
	"fmt"
	"runtime"
	"sync"
)

// Verification is the result of checking blocks as one chain from genesis.
type Verification struct {
	Blocks int   // blocks checked
	Valid  int   // leading blocks that form a valid chain
	Err    error // why block Valid is not valid; nil when every block is
}

// OK reports whether every block checked is valid.
func (v Verification) OK() bool { return v.Err == nil }

// verifyChunk is how many blocks one worker checks at a time.
const verifyChunk = 1024

// Verify checks blocks as a chain from genesis at difficulty: every block
// must validate on top of the one before it. As each block carries its own
// hash, every check needs only the block and its predecessor's hash, so
// the work is spread over all cores. progress, when not nil, is called
// after each batch of blocks with how many leading blocks are verified so
// far and the total; it runs on the caller's goroutine.
func Verify(blocks []*Block, difficulty int, progress func(verified, total int)) Verification {
	v := Verification{Blocks: len(blocks)}
	workers := max(1, runtime.GOMAXPROCS(0))
	batch := workers * verifyChunk
	for start := 0; start < len(blocks); start += batch {
		end := min(start+batch, len(blocks))
		if bad, err := verifyRange(blocks, start, end, difficulty, workers); err != nil {
			v.Valid, v.Err = bad, fmt.Errorf("block %d: %w", bad, err)
			return v
		}
		v.Valid = end
		if progress != nil {
			progress(end, len(blocks))
		}
	}
	return v
}

// verifyRange checks blocks[start:end] in parallel and returns the lowest
// invalid height with its error.
func verifyRange(blocks []*Block, start, end, difficulty, workers int) (int, error) {
	type failure struct {
		height int
		err    error
	}
	fails := make([]failure, workers)
	var wg sync.WaitGroup
	per := (end - start + workers - 1) / workers
	for w := range workers {
		lo, hi := start+w*per, min(start+(w+1)*per, end)
		fails[w].height = -1
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				prev := ""
				if i > 0 {
					prev = blocks[i-1].Hash
				}
				if err := Validate(blocks[i], prev, i, difficulty); err != nil {
					fails[w] = failure{i, err}
					return
				}
			}
		})
	}
	wg.Wait()
	for _, f := range fails { // in height order: the first failure is the lowest
		if f.height >= 0 {
			return f.height, f.err
		}
	}
	return -1, nil
}
