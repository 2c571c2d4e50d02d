// Package bench is the performance harness behind `go run . bench`: it
// measures blockpeer's sync, serving, verification, mining and gossip at
// scale, each beside its limit measured in the same run on the same
// machine (a bare UDP client/server pair, a bare echo loop, crypto/sha256),
// and reports the ratio, so the figures mean something on a noisy machine.
//
// Every node it runs is a real peer.Node on 127.0.0.1; it sends nothing
// outside the loopback network.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"blockpeer/peer"
)

// RowNames are the rows Run knows, in the order it runs them.
var RowNames = []string{"verify", "mine", "serve", "busy", "sync", "gossip"}

// Options configures a run. Zero fields take the full-run defaults.
type Options struct {
	Rows   []string // subset of RowNames; nil: all
	Runs   int      // runs per figure (sync: median of Runs); default 5
	Blocks int      // chain length for sync, serve and verify; default 10,000
	Nodes  int      // nodes of the gossip row; default 100
	// Clients is how many clients fetch the chain at once in the busy
	// row; default 50.
	Clients int
	// LoadProcess, when set, is the command (program and arguments) that
	// runs the busy row's clients in another process; the row appends
	// -load-to ADDR -clients N -blocks N (see LoadClients). Nil: they run
	// in this process.
	LoadProcess []string
	// Duration is how long rate figures (serve, mine) measure each side
	// per run; default 1 s.
	Duration time.Duration
	// Steady is how long the gossip row counts datagrams at steady
	// state; default 30 s.
	Steady time.Duration
	// Blocks is how many ANNOUNCEd blocks the gossip row times; default 5.
	Announces int
	// Timings are the nodes' timings for the sync and serve rows (the
	// course's, from the command). GossipTimings are the gossip row's.
	Timings       peer.Timings
	GossipTimings peer.Timings
	CacheDir      string    // where the test chain is cached; default os.TempDir()
	Progress      io.Writer // one line per step; nil: none
}

// Quick returns options for a short run on small sizes (tests, -quick).
func Quick() Options {
	return Options{Runs: 1, Blocks: 1000, Nodes: 10, Clients: 5, Duration: 200 * time.Millisecond,
		Steady: 2 * time.Second, Announces: 2}
}

func (o *Options) fill() error {
	if len(o.Rows) == 0 {
		o.Rows = RowNames
	}
	for _, r := range o.Rows {
		if !slices.Contains(RowNames, r) {
			return fmt.Errorf("bench: unknown row %q (rows: %s)", r, strings.Join(RowNames, ", "))
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Runs, 5)
	def(&o.Blocks, 10_000)
	def(&o.Nodes, 100)
	def(&o.Clients, 50)
	def(&o.Announces, 5)
	if o.Duration <= 0 {
		o.Duration = time.Second
	}
	if o.Steady <= 0 {
		o.Steady = 30 * time.Second
	}
	if o.Timings == (peer.Timings{}) {
		o.Timings = ShortTimings()
	}
	if o.GossipTimings == (peer.Timings{}) {
		o.GossipTimings = ShortTimings()
	}
	if o.CacheDir == "" {
		o.CacheDir = os.TempDir()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// ShortTimings are the timings of the bench's nodes: peer.TestTimings.
func ShortTimings() peer.Timings { return peer.TestTimings() }

// Run runs the chosen rows and returns the table's rows in order.
func Run(ctx context.Context, o Options) ([]Row, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	var rows []Row
	var blocks []*blockSet
	need := func() (*blockSet, error) {
		if blocks == nil {
			fmt.Fprintf(o.Progress, "chain: %d blocks at difficulty %d (cached under %s)\n", o.Blocks, Difficulty, o.CacheDir)
			bs, err := loadChain(o.CacheDir, o.Blocks)
			if err != nil {
				return nil, err
			}
			blocks = []*blockSet{bs}
		}
		return blocks[0], nil
	}
	for _, name := range RowNames {
		if !slices.Contains(o.Rows, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		fmt.Fprintf(o.Progress, "%s ...\n", name)
		var (
			got []Row
			err error
		)
		switch name {
		case "verify":
			var bs *blockSet
			if bs, err = need(); err == nil {
				got, err = verifyRows(bs, o)
			}
		case "mine":
			got, err = mineRows(ctx, o)
		case "serve":
			var bs *blockSet
			if bs, err = need(); err == nil {
				got, err = serveRows(ctx, bs, o)
			}
		case "busy":
			var bs *blockSet
			if bs, err = need(); err == nil {
				got, err = busyRows(bs, o)
			}
		case "sync":
			var bs *blockSet
			if bs, err = need(); err == nil {
				got, err = syncRows(ctx, bs, o)
			}
		case "gossip":
			got, err = gossipRows(ctx, o)
		}
		rows = append(rows, got...)
		if err != nil {
			return rows, fmt.Errorf("bench %s: %w", name, err)
		}
	}
	return rows, nil
}

// errTimeout is a measurement that did not finish in its time bound.
var errTimeout = errors.New("timed out")
