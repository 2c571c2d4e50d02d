package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
)

// serveWindow is the load client's requests in flight (a syncing
// blockpeer keeps up to 64 per backer).
const serveWindow = 64

// serveRows: GET_BLOCK replies per second a node holding the test chain
// sustains against a pipelined load client, beside the bare loop that
// answers stored replies, in turns.
func serveRows(ctx context.Context, bs *blockSet, o Options) ([]Row, error) {
	n, err := startNode(nodeSpec{name: "server", blocks: bs.blocks, timings: o.Timings, unlimited: true})
	if err != nil {
		return nil, err
	}
	defer n.stop()
	bare, err := startBareServer(bs.replies)
	if err != nil {
		return nil, err
	}
	defer bare.close()
	total := time.Duration(o.Runs) * o.Duration
	v, l, err := paired(total, 100*time.Millisecond,
		func(d time.Duration) (float64, error) { return loadClient(n.addr, bs.requests, serveWindow, d) },
		func(d time.Duration) (float64, error) { return loadClient(bare.addr(), bs.requests, serveWindow, d) })
	if err != nil {
		return nil, err
	}
	if v == 0 {
		return nil, errors.New("the node answered no GET_BLOCK")
	}
	return []Row{{Name: "serve GET_BLOCK", Value: v, Unit: "replies/s", Limit: l,
		LimitName: "bare UDP loop answering stored replies", Target: ">= 70%", Met: met(v >= 0.7*l),
		Note: fmt.Sprintf("%d in flight, best 100 ms turns of %v in turns, GOMAXPROCS %d", serveWindow, total, runtime.GOMAXPROCS(0))}}, nil
}

// syncWindow is the bare pair's requests in flight: what a syncing
// blockpeer may keep at most with three backers (3 x 64).
const syncWindow = 192

// syncCase is one sync figure: how the sources misbehave.
type syncCase struct {
	name   string
	loss   float64 // on every source's send path
	silent bool    // the third source answers STATS, never a block
	target float64 // seconds; 0: only "completes"
}

// syncRows: a fresh node syncs the test chain from 3 sources over UDP on
// loopback, median of Runs, in each case; beside the bare pair fetching
// the same heights.
func syncRows(ctx context.Context, bs *blockSet, o Options) ([]Row, error) {
	n := len(bs.blocks)
	bare, err := startBareServer(bs.replies)
	if err != nil {
		return nil, err
	}
	var lims []float64
	for range o.Runs {
		d, err := bareFetch(bare.addr(), bs.requests, syncWindow, time.Minute)
		if err != nil {
			bare.close()
			return nil, err
		}
		lims = append(lims, d.Seconds())
	}
	bare.close()
	limit := median(lims)
	rows := []Row{{Name: fmt.Sprintf("bare pair: %s round trips", thousands(int64(n))), Value: limit, Unit: "s",
		LowerIsBetter: true, Note: fmt.Sprintf("%d in flight, one client and one server goroutine; %s round trips/s",
			syncWindow, thousands(int64(float64(n)/limit)))}}
	cases := []syncCase{
		{name: "no loss", target: 0.5},
		{name: "10% loss", loss: 0.10, target: 2},
		{name: "30% loss", loss: 0.30},
		{name: "1 of 3 sources silent", silent: true},
	}
	for i, c := range cases {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		fetch, join, err := syncCaseRuns(bs, o, c, uint64(i+1))
		if err != nil {
			return rows, fmt.Errorf("%s: %w", c.name, err)
		}
		r := Row{Name: fmt.Sprintf("sync %s blocks, %s", thousands(int64(n)), c.name), Value: fetch, Unit: "s",
			Limit: limit, LimitName: "bare pair, no loss", LowerIsBetter: true,
			Note: fmt.Sprintf("join to synced %s (median of %d)", FormatValue(join, "s"), o.Runs)}
		if c.target > 0 {
			r.Target = fmt.Sprintf("<= %s", FormatValue(c.target*float64(n)/10_000, "s"))
			if c.loss == 0 {
				r.Target += ", <= 3x"
			}
			r.Met = met(fetch <= c.target*float64(n)/10_000 && (c.loss > 0 || fetch <= 3*limit))
		} else {
			r.Target, r.Met = "completes", "ok"
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// syncCaseRuns starts the 3 sources of c, then syncs a fresh node Runs
// times; it returns the medians of the fetch time (the chain's choice to
// its adoption, as the node reports it) and of the join time (start to
// synced).
func syncCaseRuns(bs *blockSet, o Options, c syncCase, seed uint64) (fetch, join float64, err error) {
	n := len(bs.blocks)
	var seeds []netip.AddrPort
	for i := range 3 {
		silent := c.silent && i == 2
		loss := c.loss
		s, err := startNode(nodeSpec{name: fmt.Sprintf("source%d", i), blocks: bs.blocks, timings: o.Timings,
			wrap: wrapLossy(loss, silent, seed*10+uint64(i))})
		if err != nil {
			return 0, 0, err
		}
		defer s.stop()
		seeds = append(seeds, s.addr)
	}
	var fetches, joins []float64
	for run := range o.Runs {
		start := time.Now()
		fresh, err := startNode(nodeSpec{name: fmt.Sprintf("fresh%d", run), seeds: seeds, timings: o.Timings})
		if err != nil {
			return 0, 0, err
		}
		for {
			h, err := height(fresh.Node)
			if err != nil {
				fresh.stop()
				return 0, 0, err
			}
			if h >= n {
				break
			}
			if time.Since(start) > 2*time.Minute {
				fresh.stop()
				return 0, 0, fmt.Errorf("height %d of %d after 2 minutes: %w", h, n, errTimeout)
			}
			time.Sleep(time.Millisecond)
		}
		joins = append(joins, time.Since(start).Seconds())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := fresh.Status(ctx)
		cancel()
		if err == nil && st.LastSync != nil {
			fetches = append(fetches, st.LastSync.Seconds)
		}
		if err := fresh.stop(); err != nil {
			return 0, 0, err
		}
	}
	if len(fetches) == 0 {
		return 0, 0, errors.New("the node reported no sync")
	}
	return median(fetches), median(joins), nil
}
