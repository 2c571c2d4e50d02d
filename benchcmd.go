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
	fs := flag.NewFlagSet("blockpeer bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer bench [flags]\n\nMeasures sync, serve, verify, mine, gossip and STATS under load at scale on 127.0.0.1, each beside\nits limit measured in the same run, and prints the table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "a short run on small sizes (1,000 blocks, 10 nodes, one run)")
	rows := fs.String("rows", strings.Join(bench.RowNames, ","), "rows to run, comma-separated")
	runs := fs.Int("runs", 0, "runs per figure; figures are medians (default 5, -quick 1)")
	blocks := fs.Int("blocks", 0, "chain length for sync, serve and verify (default 10000, -quick 1000)")
	nodes := fs.Int("nodes", 0, "nodes of the gossip row (default 100, -quick 10)")
	clients := fs.Int("clients", 0, "clients fetching the chain at once in the busy row (default 50, -quick 5)")
	steady := fs.Duration("steady", 0, "how long the gossip row counts datagrams (default 30s, -quick 2s)")
	cache := fs.String("cache", os.TempDir(), "directory where the test chain is cached")
	markdown := fs.Bool("markdown", false, "print the table as Markdown")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	loadTo := fs.String("load-to", "", "internal: be the busy row's load process, fetching from this 127.0.0.1 address")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("bench: unexpected argument %q (see bench -h)", rest[0])
	}
	if *loadTo != "" {
		return runBenchLoad(*loadTo, *clients, *blocks)
	}
	o := bench.Options{}
	if *quick {
		o = bench.Quick()
	}
	o.Rows = strings.Split(*rows, ",")
	for _, set := range []struct {
		v   int
		dst *int
	}{{*runs, &o.Runs}, {*blocks, &o.Blocks}, {*nodes, &o.Nodes}, {*clients, &o.Clients}} {
		if set.v < 0 {
			return fmt.Errorf("bench: negative count %d", set.v)
		}
		if set.v > 0 {
			*set.dst = set.v
		}
	}
	if *steady > 0 {
		o.Steady = *steady
	}
	o.CacheDir = *cache
	if self, err := os.Executable(); err == nil {
		o.LoadProcess = []string{self, "bench"}
	}
	o.Timings = peer.CourseTimings()
	o.GossipTimings = lab.Timings()
	o.Progress = os.Stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
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
	if *markdown {
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
