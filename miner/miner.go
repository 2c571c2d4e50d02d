// Package miner is blockpeer's fast proof-of-work search: it runs many
// goroutines over disjoint nonce spaces and, for each try, hashes only the
// nonce on top of a saved SHA-256 state of the block's fixed prefix.
//
// It is its own package, apart from chain's simple single-threaded Mine
// helper (which rebuilds and hex-encodes the whole preimage per nonce and is
// meant for test chains), so that chain stays a set of small pure rules and
// the tuned search can be benchmarked and changed on its own. Like chain, it
// touches no socket and reads no clock: the caller supplies the timestamp in
// the Template, and decides when to give up through the context.
package miner

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"blockpeer/chain"
)

// Template is the fixed part of a block to mine.
type Template struct {
	Prev       string   // previous block hash ("" for height 0)
	Height     int      // height of the block to mine
	MinedBy    string   // miner's name
	Messages   []string // 1..10, each <= 20 code points (caller guarantees)
	Timestamp  int64    // Unix seconds, chosen by the caller
	Difficulty int      // trailing '0' hex digits wanted, 0..64
}

// Errors returned by Search besides the context's error.
var (
	// ErrTemplate: the template cannot give a valid block (Search checks
	// it up front rather than mining something chain.Validate rejects).
	ErrTemplate = errors.New("miner: invalid template")
	// ErrExhausted: every goroutine ran through its whole nonce space
	// (10^12 nonces each) without a hit. Mine again with a new timestamp.
	ErrExhausted = errors.New("miner: nonce space exhausted")
)

const (
	// ctrWidth is the number of decimal digits of each goroutine's
	// counter: 10^12 tries per goroutine per template.
	ctrWidth = 12
	// batch is how many tries a goroutine makes between looks at the
	// context, the stop flag and the shared hash counter.
	batch = 4096
)

// Search runs `threads` goroutines (threads <= 0 means runtime.NumCPU()) until one finds a nonce
// whose hash meets the difficulty, or ctx is done (then it returns nil, ctx.Err()).
// hashes, if not nil, is incremented with the number of hashes tried (in batches, e.g. every 4096 tries, so it's cheap).
//
// The returned block passes chain.Validate(b, t.Prev, t.Height, t.Difficulty).
// Its nonce is a string of fewer than 40 decimal digits. All goroutines have
// stopped when Search returns.
func Search(ctx context.Context, t Template, threads int, hashes *atomic.Uint64) (*chain.Block, error) {
	return search(ctx, t, threads, hashes, options{ctrWidth: ctrWidth})
}

// options are knobs for tests and benchmarks; Search uses the defaults.
type options struct {
	ctrWidth int    // digits of each goroutine's counter
	maxTries uint64 // per goroutine; 0 means until the counter runs out
}

func search(ctx context.Context, t Template, threads int, hashes *atomic.Uint64, o options) (*chain.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p, err := prepare(t, threads, o.ctrWidth)
	if err != nil {
		return nil, err
	}

	var (
		wg     sync.WaitGroup
		stop   atomic.Bool
		winner atomic.Pointer[string] // the winning nonce
	)
	done := ctx.Done()
	for id := range threads {
		wg.Go(func() {
			// Built by the goroutine itself, so its hot buffers come from
			// its own P's allocation cache, not a cache line shared with
			// another worker's (false sharing halved the rate on 2 cores).
			w := p.newWorker(id, o.maxTries)
			for !stop.Load() {
				tried, found, more := w.try(batch)
				if hashes != nil {
					hashes.Add(uint64(tried))
				}
				if found {
					if nonce := w.nonce(); winner.CompareAndSwap(nil, &nonce) {
						stop.Store(true)
					}
					return
				}
				if !more {
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	wg.Wait()

	if nonce := winner.Load(); nonce != nil {
		b := &chain.Block{
			Height:    t.Height,
			MinedBy:   t.MinedBy,
			Nonce:     *nonce,
			Messages:  append([]string(nil), t.Messages...),
			Timestamp: t.Timestamp,
		}
		b.Hash = chain.ComputeHash(t.Prev, b)
		// One more hash is nothing next to the search: never hand out a
		// block that the chain package would reject.
		if err := chain.Validate(b, t.Prev, t.Height, t.Difficulty); err != nil {
			return nil, fmt.Errorf("miner: internal error: found block does not validate: %w", err)
		}
		return b, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrExhausted
}

// checkTemplate rejects templates that cannot give a block passing
// chain.Validate, so that Search does not spin on them.
func checkTemplate(t Template) error {
	switch {
	case t.Difficulty < 0 || t.Difficulty > chain.HashHexLen:
		return fmt.Errorf("%w: difficulty %d (want 0..%d)", ErrTemplate, t.Difficulty, chain.HashHexLen)
	case t.Height < 0:
		return fmt.Errorf("%w: negative height %d", ErrTemplate, t.Height)
	case (t.Height == 0) != (t.Prev == ""):
		return fmt.Errorf("%w: previous hash %q for height %d", ErrTemplate, t.Prev, t.Height)
	case t.Timestamp < 0:
		return fmt.Errorf("%w: negative timestamp %d", ErrTemplate, t.Timestamp)
	case len(t.Messages) < 1 || len(t.Messages) > chain.MaxMessages:
		return fmt.Errorf("%w: %d messages (want 1..%d)", ErrTemplate, len(t.Messages), chain.MaxMessages)
	case !utf8.ValidString(t.MinedBy):
		return fmt.Errorf("%w: minedBy is not UTF-8", ErrTemplate)
	}
	for i, m := range t.Messages {
		if !utf8.ValidString(m) || utf8.RuneCountInString(m) > chain.MaxMessageRunes {
			return fmt.Errorf("%w: message %d is not UTF-8 of at most %d characters", ErrTemplate, i, chain.MaxMessageRunes)
		}
	}
	return nil
}

// prepared is a template made ready for mining: the SHA-256 state after
// the fixed prefix, and the layout of the nonce.
//
// A nonce is idDigits + padDigits + counter, all decimal:
//   - idDigits (idWidth digits) is the goroutine's number, which makes the
//     goroutines' nonce spaces disjoint;
//   - padDigits ('0's) are there only when they let the counter start
//     on a 64-byte block boundary, so that each try costs one SHA-256
//     compression instead of two;
//   - counter (ctrWidth digits) is incremented in place for each try.
//
// Everything before the counter is absorbed into each goroutine's saved
// state once, so a try is: restore state, write counter, finish.
type prepared struct {
	diff     int
	state    []byte // marshaled SHA-256 state after the fixed prefix
	idWidth  int
	pad      int
	ctrWidth int
}

// restorer is what crypto/sha256's hasher offers and the hot loop uses.
type restorer interface {
	hash.Hash
	encoding.BinaryUnmarshaler
}

func prepare(t Template, threads, ctrWidth int) (*prepared, error) {
	if err := checkTemplate(t); err != nil {
		return nil, err
	}
	prefix := chain.AppendPrefix(nil, t.Prev, t.MinedBy, t.Messages, t.Timestamp)
	h := sha256.New()
	h.Write(prefix)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("miner: saving SHA-256 state: %w", err)
	}
	p := &prepared{
		diff:     t.Difficulty,
		state:    state,
		idWidth:  len(strconv.Itoa(max(threads-1, 0))),
		ctrWidth: ctrWidth,
	}
	p.pad = bestPad(len(prefix), p.idWidth, ctrWidth)
	if n := p.idWidth + p.pad + ctrWidth; n >= chain.MaxNonceRunes {
		return nil, fmt.Errorf("miner: %d threads give a nonce of %d digits (want < %d)", threads, n, chain.MaxNonceRunes)
	}
	return p, nil
}

// compressions returns how many SHA-256 block compressions finishing a
// hash costs once n bytes are in the buffer of a saved state.
func compressions(n int) int {
	return (n + 9 + 63) / 64 // 0x80, 8 length bytes, rounded up to blocks
}

// bestPad chooses 0 or the padding that moves the counter to a block
// boundary, whichever costs fewer compressions per try within the nonce
// length limit (the shorter nonce on a tie).
func bestPad(prefixLen, idWidth, ctrWidth int) int {
	fixed := prefixLen + idWidth
	best, bestCost := 0, compressions(fixed%64+ctrWidth)
	if pad := (64 - fixed%64) % 64; pad > 0 && idWidth+pad+ctrWidth < chain.MaxNonceRunes {
		if cost := compressions(ctrWidth); cost < bestCost {
			best = pad
		}
	}
	return best
}

// worker is one goroutine's search state. Nothing in try allocates.
type worker struct {
	_     [64]byte // keeps the hot fields below off other allocations' cache lines
	h     restorer
	state []byte // marshaled state after prefix + fixed
	fixed []byte // idDigits + padDigits
	ctr   []byte // the counter's ASCII digits
	sum   []byte // digest buffer, cap 32
	diff  int
	left  uint64 // tries left before the worker stops; ^0 for no limit
	_     [64]byte
}

func (p *prepared) newWorker(id int, maxTries uint64) *worker {
	w := &worker{
		h:    sha256.New().(restorer),
		ctr:  make([]byte, p.ctrWidth),
		sum:  make([]byte, 0, sha256.Size),
		diff: p.diff,
		left: maxTries,
	}
	if maxTries == 0 {
		w.left = ^uint64(0)
	}
	w.fixed = fmt.Appendf(nil, "%0*d", p.idWidth, id)
	for range p.pad {
		w.fixed = append(w.fixed, '0')
	}
	for i := range w.ctr {
		w.ctr[i] = '0'
	}
	if err := w.h.UnmarshalBinary(p.state); err != nil {
		panic("miner: restoring own SHA-256 state: " + err.Error())
	}
	w.h.Write(w.fixed)
	state, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("miner: saving SHA-256 state: " + err.Error())
	}
	w.state = state
	return w
}

// try hashes up to n nonces. It returns how many it tried, whether the last
// one tried meets the difficulty (then w.nonce() is it), and whether the
// worker has nonces left.
func (w *worker) try(n int) (tried int, found, more bool) {
	m := n
	if uint64(m) > w.left {
		m = int(w.left)
	}
	h, state, ctr, sum, diff := w.h, w.state, w.ctr, w.sum, w.diff
	more = true
	for tried < m {
		h.UnmarshalBinary(state) // cannot fail: our own state
		h.Write(ctr)
		sum = h.Sum(sum[:0])
		tried++
		if meetsDifficulty(sum, diff) {
			found = true
			break
		}
		if !increment(ctr) {
			more = false
			break
		}
	}
	w.sum = sum
	w.left -= uint64(tried)
	if w.left == 0 {
		more = false
	}
	return tried, found, more
}

// nonce returns the nonce of the current counter value.
func (w *worker) nonce() string {
	return string(w.fixed) + string(w.ctr)
}

// increment adds one to the decimal ASCII number in d, in place. It reports
// false (and leaves d all '0's) when d was all '9's.
func increment(d []byte) bool {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return true
		}
		d[i] = '0'
	}
	return false
}

// meetsDifficulty reports whether the lower-case hex of the 32-byte digest
// sum ends with n '0's, like chain.MeetsDifficulty on the hex, without
// encoding it: the last n/2 bytes are zero and, for odd n, the low nibble
// of the byte before them.
func meetsDifficulty(sum []byte, n int) bool {
	if n < 0 || n > 2*len(sum) {
		return false
	}
	k := len(sum) - n/2
	for _, b := range sum[k:] {
		if b != 0 {
			return false
		}
	}
	return n%2 == 0 || sum[k-1]&0x0f == 0
}
