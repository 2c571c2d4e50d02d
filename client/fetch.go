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
	r := &rangeFetch{c: c, f: &fetched{First: first, Blocks: make([]*chain.Block, max(total, 0))},
		next: first, last: last, inFlight: map[int]*flight{}, resend: max(c.cfg.Timeout/2, 20*time.Millisecond)}
	if total <= 0 {
		return r.f
	}
	nextProgress := start.Add(fetchProgress)
	pos := c.mark()
	for r.got+r.failed < total && !c.interrupted() {
		r.fill()
		if p, ok := c.await(pos, r.deadline(), func(packet) bool { return true }); ok {
			pos++
			r.take(p)
		}
		now := time.Now()
		r.resendExpired(now)
		if progress != nil && !now.Before(nextProgress) {
			progress(r.got, total, now.Sub(start))
			nextProgress = now.Add(fetchProgress)
		}
	}
	r.f.Took = time.Since(start)
	return r.f
}

// rangeFetch is one fetchRange in progress: the requests in flight, each
// resent at its deadline and given up after fetchTries.
type rangeFetch struct {
	c           *Client
	f           *fetched
	next, last  int // the lowest height never asked; the last to fetch
	got, failed int
	inFlight    map[int]*flight
	resend      time.Duration
}

type flight struct {
	sentAt time.Time
	tries  int
}

// send asks for height h; a failed send is a try too (resent at its
// deadline, given up after fetchTries).
func (r *rangeFetch) send(h int, fl *flight) {
	fl.sentAt = time.Now()
	fl.tries++
	if _, err := r.c.send(r.c.main, protocol.GetBlock{Height: h}); err != nil {
		r.f.SendErrors++
		r.f.LastSendError = err
		return
	}
	r.f.Requests++
}

// fill asks for heights until fetchWindow are in flight.
func (r *rangeFetch) fill() {
	for len(r.inFlight) < fetchWindow && r.next <= r.last {
		fl := &flight{}
		r.inFlight[r.next] = fl
		r.send(r.next, fl)
		r.next++
	}
}

// deadline is the earliest resend deadline: it bounds the wait.
func (r *rangeFetch) deadline() time.Time {
	d := time.Now().Add(r.resend)
	for _, fl := range r.inFlight {
		if t := fl.sentAt.Add(r.resend); t.Before(d) {
			d = t
		}
	}
	return d
}

// take books a datagram received: a block asked for, a "no such block" or
// a malformed block.
func (r *rangeFetch) take(p packet) {
	if !r.c.fromTarget(p) {
		return
	}
	m, err := protocol.Parse(p.Data)
	if err != nil {
		return
	}
	rep, isReply := m.(protocol.GetBlockReply)
	switch {
	case !isReply:
	case rep.Block == nil && rep.Problem != nil:
		r.f.Bad++
	case rep.Block == nil:
		r.f.NoBlock++
	case r.inFlight[rep.Block.Height] != nil:
		r.f.Blocks[rep.Block.Height-r.f.First] = rep.Block
		delete(r.inFlight, rep.Block.Height)
		r.got++
	}
}

// resendExpired resends what got no answer in time, and gives up on what
// ran out of tries.
func (r *rangeFetch) resendExpired(now time.Time) {
	for h, fl := range r.inFlight {
		if now.Sub(fl.sentAt) < r.resend {
			continue
		}
		if fl.tries >= fetchTries {
			delete(r.inFlight, h)
			r.failed++
			continue
		}
		r.f.Resent++
		r.send(h, fl)
	}
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
