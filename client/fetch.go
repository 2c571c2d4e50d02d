package client

import (
	"fmt"
	"time"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// Pipelining of a range fetch.
const (
	fetchWindow   = 32 // GET_BLOCKs in flight at once
	fetchTries    = 4  // a height unanswered after this many sends is missing
	fetchProgress = 2 * time.Second
)

// fetched is the outcome of a range fetch: Blocks[i] is the block at
// height First+i, nil when the peer never gave it.
type fetched struct {
	First    int
	Blocks   []*chain.Block
	Requests int // GET_BLOCKs sent, resends included
	Resent   int
	NoBlock  int // "no such block" replies (cannot be told apart by height)
	Bad      int // replies that looked like a block but were not one
	Took     time.Duration

	SendErrors    int   // GET_BLOCKs that could not be sent
	LastSendError error // the last reason
}

// missing returns the heights the fetch did not get.
func (f *fetched) missing() []int {
	var out []int
	for i, b := range f.Blocks {
		if b == nil {
			out = append(out, f.First+i)
		}
	}
	return out
}

// fetchRange fetches heights first..last (inclusive) with up to
// fetchWindow requests in flight, resending a request unanswered within
// the resend interval, up to fetchTries sends per height. progress, when
// not nil, is called every fetchProgress with the number of blocks held.
func (c *Client) fetchRange(first, last int, progress func(got, total int, elapsed time.Duration)) *fetched {
	start := time.Now()
	total := last - first + 1
	f := &fetched{First: first, Blocks: make([]*chain.Block, max(total, 0))}
	if total <= 0 {
		return f
	}
	resend := max(c.cfg.Timeout/2, 20*time.Millisecond)
	type flight struct {
		sentAt time.Time
		tries  int
	}
	inFlight := map[int]*flight{}
	next, got, failed := first, 0, 0
	nextProgress := start.Add(fetchProgress)
	send := func(h int, fl *flight) {
		fl.sentAt = time.Now()
		fl.tries++ // a failed send is a try too: resent at its deadline, given up after fetchTries
		if _, err := c.send(c.main, protocol.GetBlock{Height: h}); err != nil {
			f.SendErrors++
			f.LastSendError = err
			return
		}
		f.Requests++
	}
	pos := c.mark()
	for got+failed < total && !c.interrupted() {
		for len(inFlight) < fetchWindow && next <= last {
			fl := &flight{}
			inFlight[next] = fl
			send(next, fl)
			next++
		}
		// The earliest resend deadline bounds the wait.
		deadline := time.Now().Add(resend)
		for _, fl := range inFlight {
			if d := fl.sentAt.Add(resend); d.Before(deadline) {
				deadline = d
			}
		}
		p, ok := c.await(pos, deadline, func(packet) bool { return true })
		if ok {
			pos++
			if c.fromTarget(p) {
				if m, err := protocol.Parse(p.Data); err == nil {
					if r, isReply := m.(protocol.GetBlockReply); isReply {
						switch {
						case r.Block == nil && r.Problem != nil:
							f.Bad++
						case r.Block == nil:
							f.NoBlock++
						case inFlight[r.Block.Height] != nil:
							f.Blocks[r.Block.Height-first] = r.Block
							delete(inFlight, r.Block.Height)
							got++
						}
					}
				}
			}
		}
		now := time.Now()
		for h, fl := range inFlight {
			if now.Sub(fl.sentAt) < resend {
				continue
			}
			if fl.tries >= fetchTries {
				delete(inFlight, h)
				failed++
				continue
			}
			f.Resent++
			send(h, fl)
		}
		if progress != nil && !now.Before(nextProgress) {
			progress(got, total, now.Sub(start))
			nextProgress = now.Add(fetchProgress)
		}
	}
	f.Took = time.Since(start)
	return f
}

// rangeProblem is one block of a range that does not verify.
type rangeProblem struct {
	Height int    `json:"height"`
	Error  string `json:"error"`
}

// verifyRange checks blocks as heights first, first+1, ... on top of prev
// (the hash of block first-1, "" when first is 0): each validates at the
// difficulty and links to the one before. A block that fails is reported
// and the next is checked against the hash it claims, so one bad block
// gives one problem.
func verifyRange(blocks []*chain.Block, first int, prev string, difficulty int) []rangeProblem {
	out := []rangeProblem{}
	for i, b := range blocks {
		h := first + i
		if b == nil {
			out = append(out, rangeProblem{h, "missing: no block in the reply"})
			prev = ""
			continue
		}
		var err error
		if prev == "" && h > 0 { // predecessor missing: only what needs no link
			err = chain.CheckFields(b, difficulty)
			if err == nil && b.Height != h {
				err = fmt.Errorf("%w: block says %d, expected %d", chain.ErrHeight, b.Height, h)
			}
		} else {
			err = chain.Validate(b, prev, h, difficulty)
		}
		if err != nil {
			out = append(out, rangeProblem{h, err.Error()})
		}
		prev = b.Hash
	}
	return out
}

// heightList renders a list of heights compactly: 3, 5-9, 12.
func heightList(hs []int) string {
	s := ""
	for i := 0; i < len(hs); {
		j := i
		for j+1 < len(hs) && hs[j+1] == hs[j]+1 {
			j++
		}
		if s != "" {
			s += ", "
		}
		if j > i {
			s += fmt.Sprintf("%d-%d", hs[i], hs[j])
		} else {
			s += fmt.Sprint(hs[i])
		}
		i = j + 1
	}
	return s
}
