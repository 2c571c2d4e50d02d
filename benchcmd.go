package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"blockpeer/bench"
	"blockpeer/lab"
	"blockpeer/peer"
)

// runBench runs `blockpeer bench`: the performance table.
func runBench(ctx context.Context, args []string, out io.Writer) error {
	bf, err := parseBenchFlags(args, out)
	if err != nil {
		return err
	}
	if bf.loadTo != "" {
		return runBenchLoad(bf.loadTo, bf.clients, bf.blocks)
	}
	o, err := bf.options()
	if err != nil {
		return err
	}
	if bf.cpuProfile != "" {
		f, err := os.Create(bf.cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	began := time.Now()
	fmt.Fprintf(out, "machine: %s; load average before: %s\n", bench.Machine(), bench.LoadAverage())
	table, err := bench.Run(ctx, o)
	format := bench.Format
	if bf.markdown {
		format = bench.FormatMarkdown
	}
	if len(table) > 0 {
		if ferr := format(out, table); ferr != nil {
			return ferr
		}
	}
	fmt.Fprintf(out, "took %v; load average after: %s\n", time.Since(began).Round(time.Second), bench.LoadAverage())
	return err
}

// benchFlags are the bench's command line.
type benchFlags struct {
	quick, markdown                 bool
	rows, cache, cpuProfile, loadTo string
	runs, blocks, nodes, clients    int
	steady                          time.Duration
}

func parseBenchFlags(args []string, out io.Writer) (*benchFlags, error) {
	bf := &benchFlags{}
	fs := flag.NewFlagSet("blockpeer bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer bench [flags]\n\nMeasures sync, serve, verify, mine, gossip and STATS under load at scale on 127.0.0.1, each beside\nits limit measured in the same run, and prints the table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&bf.quick, "quick", false, "a short run on small sizes (1,000 blocks, 10 nodes, one run)")
	fs.StringVar(&bf.rows, "rows", strings.Join(bench.RowNames, ","), "rows to run, comma-separated")
	fs.IntVar(&bf.runs, "runs", 0, "runs per figure; figures are medians (default 5, -quick 1)")
	fs.IntVar(&bf.blocks, "blocks", 0, "chain length for sync, serve and verify (default 10000, -quick 1000)")
	fs.IntVar(&bf.nodes, "nodes", 0, "nodes of the gossip row (default 100, -quick 10)")
	fs.IntVar(&bf.clients, "clients", 0, "clients fetching the chain at once in the busy row (default 50, -quick 5)")
	fs.DurationVar(&bf.steady, "steady", 0, "how long the gossip row counts datagrams (default 30s, -quick 2s)")
	fs.StringVar(&bf.cache, "cache", os.TempDir(), "directory where the test chain is cached")
	fs.BoolVar(&bf.markdown, "markdown", false, "print the table as Markdown")
	fs.StringVar(&bf.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&bf.loadTo, "load-to", "", "internal: be the busy row's load process, fetching from this 127.0.0.1 address")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("bench: unexpected argument %q (see bench -h)", rest[0])
	}
	return bf, nil
}

// options turns the flags into the bench's options.
func (bf *benchFlags) options() (bench.Options, error) {
	o := bench.Options{}
	if bf.quick {
		o = bench.Quick()
	}
	o.Rows = strings.Split(bf.rows, ",")
	for _, set := range []struct {
		v   int
		dst *int
	}{{bf.runs, &o.Runs}, {bf.blocks, &o.Blocks}, {bf.nodes, &o.Nodes}, {bf.clients, &o.Clients}} {
		if set.v < 0 {
			return o, fmt.Errorf("bench: negative count %d", set.v)
		}
		if set.v > 0 {
			*set.dst = set.v
		}
	}
	if bf.steady > 0 {
		o.Steady = bf.steady
	}
	o.CacheDir = bf.cache
	if self, err := os.Executable(); err == nil {
		o.LoadProcess = []string{self, "bench"}
	}
	o.Timings = peer.CourseTimings()
	o.GossipTimings = lab.Timings()
	o.Progress = os.Stderr
	return o, nil
}

// runBenchLoad is `blockpeer bench -load-to ADDR`: the busy row's clients,
// in their own process. It loads only loopback addresses.
func runBenchLoad(to string, clients, blocks int) error {
	addr, err := netip.ParseAddrPort(to)
	if err != nil || !addr.Addr().IsLoopback() {
		return fmt.Errorf("bench: -load-to %q: want a 127.0.0.1 address", to)
	}
	if clients <= 0 || blocks <= 0 {
		return fmt.Errorf("bench: -load-to needs -clients and -blocks")
	}
	return bench.LoadClients(addr, clients, blocks)
}
