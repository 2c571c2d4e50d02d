package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/lab"
	"blockpeer/peer"
	"blockpeer/status"
	"blockpeer/store"
)

// runLab runs `blockpeer lab`: a whole network on 127.0.0.1.
func runLab(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("blockpeer lab", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer lab [flags]\n\nRuns a seed node that mines a fresh chain (or, with -chain, a chain file's)\nand -nodes peers that join it, all on 127.0.0.1, with one status page for all of them.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	nodes := fs.Int("nodes", 4, "ordinary peers besides the seed")
	difficulty := fs.Int("difficulty", 6, "trailing zero hex digits of the lab chain's hashes")
	basePort := fs.Int("base-port", 9100, "the seed's UDP port; peers take the next ones (use another for a second lab)")
	httpAddr := fs.String("http", "127.0.0.1:8080", `status page address ("" for none)`)
	threads := fs.Int("mine-threads", 0, "the seed's mining threads (default: all cores)")
	interval := fs.Duration("block-interval", 3*time.Second, "least time between two of the seed's blocks: it rests in between, so the demo moves at a readable pace (0: mine flat out)")
	chainFile := fs.String("chain", "", "the seed starts from the chain in this chain file (as written by 'blockpeer export'), verified first at -difficulty")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "", "log format: console or json (default: console when stdout is a terminal)")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("lab: unexpected argument %q (see lab -h)", rest[0])
	}
	if *interval < 0 {
		return errors.New("lab: -block-interval must not be negative")
	}
	if *difficulty < 1 || *difficulty > 10 {
		return fmt.Errorf("lab: -difficulty %d: want 1 to 10 (6 mines a block every few seconds)", *difficulty)
	}
	log, err := newLogger(out, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	var seedChain []*chain.Block
	if *chainFile != "" {
		if seedChain, err = store.ReadFile(*chainFile); err != nil {
			return fmt.Errorf("lab -chain: %w", err)
		}
	}
	l, err := lab.New(lab.Config{
		Nodes: *nodes, BasePort: *basePort, Difficulty: *difficulty, MineThreads: *threads, BlockInterval: *interval,
		Prefix: "lab-", Log: log, SeedChain: seedChain,
	})
	if err != nil {
		return err
	}
	page := "(none)"
	if *httpAddr != "" {
		stop, url, err := startStatusServer(*httpAddr, l.Nodes, log)
		if err != nil {
			return err
		}
		defer stop()
		page = url
	}
	seedRole := "seed (mines a fresh chain)"
	if len(seedChain) > 0 {
		seedRole = fmt.Sprintf("seed (serves the %d blocks of %s and mines on top)", len(seedChain), *chainFile)
	}
	printLabBanner(out, l, *difficulty, seedRole, page)
	return l.Run(ctx)
}

func printLabBanner(out io.Writer, l *lab.Lab, difficulty int, seedRole, page string) {
	fmt.Fprintf(out, "\nblockpeer lab: %d nodes on 127.0.0.1, difficulty %d\n\n", len(l.Nodes), difficulty)
	for i, n := range l.Nodes {
		role := "peer (joins through the seed)"
		if i == 0 {
			role = seedRole
		}
		fmt.Fprintf(out, "  %-10s %-16s %s\n", n.Name(), n.Addr(), role)
	}
	seed := l.Seed.Addr()
	fmt.Fprintf(out, "\n  status page:  %s\n", page)
	fmt.Fprintf(out, "  join it:      go run . -port 9000 -name me -peers %s -difficulty %d\n", seed, difficulty)
	fmt.Fprintf(out, "  talk to it:   nc -u 127.0.0.1 %d   then type  {\"type\":\"STATS\"}  or  {\"type\":\"GET_BLOCK\",\"height\":0}\n", l.Seed.Port())
	fmt.Fprintf(out, "  give a word:  echo '{\"type\":\"NEW_WORD\",\"word\":\"hello\"}' | nc -u -w1 127.0.0.1 %d\n", l.Seed.Port())
	fmt.Fprintf(out, "  stop:         Ctrl-C\n\n")
}

// startStatusServer listens on addr (failing at once if it is taken) and
// serves the status page; stop shuts it down.
func startStatusServer(addr string, nodes []*peer.Node, log zerolog.Logger) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("status page on %s: %w (choose another with -http)", addr, err)
	}
	sources := make([]status.Source, len(nodes))
	for i, n := range nodes {
		sources[i] = n
	}
	srv := &http.Server{Handler: status.Handler(sources), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("status page stopped")
		}
	}()
	url = "http://" + ln.Addr().String() + "/"
	log.Info().Str("url", url).Msg("status page")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
	}, url, nil
}
