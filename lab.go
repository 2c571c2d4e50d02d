package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/lab"
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
	logLevel := fs.String("log-level", "", "the nodes' own log lines on the console at this level: debug, info, warn or error (default: errors only; the lab prints one line per network event)")
	logFormat := fs.String("log-format", "", "log format: console or json (default: console when stdout is a terminal)")
	logFile := fs.String("log-file", "", "write every node's log lines (at -log-level, default debug) to this file, as JSON")
	scenario := fs.String("scenario", "", "run the lab commands of this file (one a line, see 'help' in the lab) once the lab runs")
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
	// The banner's first line comes before anything slow.
	fmt.Fprintf(out, "\nblockpeer lab: starting %d nodes on 127.0.0.1, difficulty %d...\n", *nodes+1, *difficulty)
	log, closeLog, err := labLogger(out, *logLevel, *logFormat, *logFile)
	if err != nil {
		return err
	}
	defer closeLog()
	var seedChain []*chain.Block
	if *chainFile != "" {
		if seedChain, err = store.ReadFile(*chainFile); err != nil {
			return fmt.Errorf("lab -chain: %w", err)
		}
	}
	l, err := lab.New(lab.Config{
		Nodes: *nodes, BasePort: *basePort, Difficulty: *difficulty, MineThreads: *threads, BlockInterval: *interval,
		Prefix: "lab-", Log: log, SeedChain: seedChain, Console: out,
	})
	if err != nil {
		return err
	}
	page := "(none)"
	if *httpAddr != "" {
		h := status.HandlerWith(nil, status.Options{Nodes: labSources(l), Lab: l.Handler()})
		stop, url, err := status.Serve(*httpAddr, h, func(err error) { log.Error().Err(err).Msg("status page stopped") })
		if err != nil {
			l.Close()
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
	var script io.Reader
	if *scenario != "" {
		f, err := os.Open(*scenario)
		if err != nil {
			l.Close()
			return fmt.Errorf("lab -scenario: %w", err)
		}
		defer f.Close()
		script = f
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if script != nil {
		go func() {
			time.Sleep(100 * time.Millisecond) // Run has started the nodes
			if err := l.RunScript(runCtx, script, out); err != nil && runCtx.Err() == nil {
				fmt.Fprintf(out, "scenario %s: %v\n", *scenario, err)
			}
		}()
	}
	if isTerminal(os.Stdin) {
		go labConsole(runCtx, l, os.Stdin, out)
	}
	return l.Run(runCtx)
}

// labSources lists the lab's nodes for the status page, as they are at
// each request (the lab adds nodes as it runs).
func labSources(l *lab.Lab) func() []status.Source {
	return func() []status.Source {
		srcs := l.Sources()
		out := make([]status.Source, len(srcs))
		for i, s := range srcs {
			out[i] = s
		}
		return out
	}
}

// labConsole runs the commands typed on the lab's terminal. What a
// command does is told in the lab's story; help and errors are printed.
func labConsole(ctx context.Context, l *lab.Lab, in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		msg, err := l.Do(ctx, line)
		switch {
		case err != nil:
			fmt.Fprintf(out, "  %v\n", err)
		case line == "help":
			fmt.Fprintln(out, msg)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// labLogger is the nodes' logger: on the console at -log-level (errors
// only when it is not given), and into -log-file at -log-level (debug
// when not given).
func labLogger(out io.Writer, level, format, file string) (zerolog.Logger, func(), error) {
	consoleLevel := level
	if consoleLevel == "" {
		consoleLevel = "error"
	}
	console, err := newLogger(out, consoleLevel, format)
	if err != nil {
		return console, func() {}, err
	}
	if file == "" {
		return console, func() {}, nil
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return console, func() {}, fmt.Errorf("lab -log-file: %w", err)
	}
	fileLevel := zerolog.DebugLevel
	if level != "" {
		fileLevel, _ = zerolog.ParseLevel(level) // newLogger checked it
	}
	cl, _ := zerolog.ParseLevel(consoleLevel)
	both := zerolog.MultiLevelWriter(
		&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: logWriter(out, format)}, Level: cl},
		&zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: f}, Level: fileLevel})
	return zerolog.New(both).Level(min(cl, fileLevel)).With().Timestamp().Logger(), func() { f.Close() }, nil
}

// logWriter is what newLogger writes to out through, for a format it
// accepted: console lines on a terminal (or when asked), JSON otherwise.
func logWriter(out io.Writer, format string) io.Writer {
	f, ok := out.(*os.File)
	terminal := ok && isTerminal(f)
	if format == "console" || (format == "" && terminal) {
		return zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000", NoColor: !terminal}
	}
	return out
}

func printLabBanner(out io.Writer, l *lab.Lab, difficulty int, seedRole, page string) {
	fmt.Fprintf(out, "blockpeer lab: %d nodes on 127.0.0.1, difficulty %d\n\n", len(l.Nodes), difficulty)
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
	fmt.Fprintf(out, "  scenarios:    type help here, or use the page's buttons (add, stop, partition, heal, liar, loss, delay, word)\n")
	fmt.Fprintf(out, "  stop:         Ctrl-C\n\n")
}
