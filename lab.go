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
	lf, err := parseLabFlags(args, out)
	if err != nil {
		return err
	}
	// The banner's first line comes before anything slow.
	fmt.Fprintf(out, "\nblockpeer lab: starting %d nodes on 127.0.0.1, difficulty %d...\n", lf.nodes+1, lf.difficulty)
	log, closeLog, err := labLogger(out, lf.logLevel, lf.logFormat, lf.logFile)
	if err != nil {
		return err
	}
	defer closeLog()
	seedChain, err := readSeedChain(lf.chainFile)
	if err != nil {
		return err
	}
	l, err := lab.New(lab.Config{
		Nodes: lf.nodes, BasePort: lf.basePort, Difficulty: lf.difficulty, MineThreads: lf.threads, BlockInterval: lf.interval,
		Prefix: "lab-", Log: log, SeedChain: seedChain, Console: out,
	})
	if err != nil {
		return err
	}
	page, stopPage, err := serveLabPage(lf.httpAddr, l, log)
	if err != nil {
		l.Close()
		return err
	}
	defer stopPage()
	printLabBanner(out, l, lf.difficulty, seedRole(seedChain, lf.chainFile), page)
	script, err := openScenario(lf.scenario)
	if err != nil {
		l.Close()
		return err
	}
	if script != nil {
		defer script.Close()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if script != nil {
		go runScenario(runCtx, l, script, lf.scenario, out)
	}
	if isTerminal(os.Stdin) {
		go labConsole(runCtx, l, os.Stdin, out)
	}
	return l.Run(runCtx)
}

// labFlags are the lab's command line.
type labFlags struct {
	nodes, difficulty, basePort, threads                        int
	httpAddr, chainFile, logLevel, logFormat, logFile, scenario string
	interval                                                    time.Duration
}

// parseLabFlags parses the lab's command line and checks it.
func parseLabFlags(args []string, out io.Writer) (*labFlags, error) {
	lf := &labFlags{}
	fs := flag.NewFlagSet("blockpeer lab", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer lab [flags]\n\nRuns a seed node that mines a fresh chain (or, with -chain, a chain file's)\nand -nodes peers that join it, all on 127.0.0.1, with one status page for all of them.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&lf.nodes, "nodes", 4, "ordinary peers besides the seed")
	fs.IntVar(&lf.difficulty, "difficulty", 6, "trailing zero hex digits of the lab chain's hashes")
	fs.IntVar(&lf.basePort, "base-port", 9100, "the seed's UDP port; peers take the next ones (use another for a second lab)")
	fs.StringVar(&lf.httpAddr, "http", "127.0.0.1:8080", `status page address ("" for none)`)
	fs.IntVar(&lf.threads, "mine-threads", 0, "the seed's mining threads (default: all cores)")
	fs.DurationVar(&lf.interval, "block-interval", 3*time.Second, "least time between two of the seed's blocks: it rests in between, so the demo moves at a readable pace (0: mine flat out)")
	fs.StringVar(&lf.chainFile, "chain", "", "the seed starts from the chain in this chain file (as written by 'blockpeer export'), verified first at -difficulty")
	fs.StringVar(&lf.logLevel, "log-level", "", "the nodes' own log lines on the console at this level: debug, info, warn or error (default: errors only; the lab prints one line per network event)")
	fs.StringVar(&lf.logFormat, "log-format", "", "log format: console or json (default: console when stdout is a terminal)")
	fs.StringVar(&lf.logFile, "log-file", "", "write every node's log lines (at -log-level, default debug) to this file, as JSON")
	fs.StringVar(&lf.scenario, "scenario", "", "run the lab commands of this file (one a line, see 'help' in the lab) once the lab runs")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(rest) > 0:
		return nil, fmt.Errorf("lab: unexpected argument %q (see lab -h)", rest[0])
	case lf.interval < 0:
		return nil, errors.New("lab: -block-interval must not be negative")
	case lf.difficulty < 1 || lf.difficulty > 10:
		return nil, fmt.Errorf("lab: -difficulty %d: want 1 to 10 (6 mines a block every few seconds)", lf.difficulty)
	}
	return lf, nil
}

// readSeedChain reads the chain file the seed starts from: none when
// file is "".
func readSeedChain(file string) ([]*chain.Block, error) {
	if file == "" {
		return nil, nil
	}
	blocks, err := store.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("lab -chain: %w", err)
	}
	return blocks, nil
}

// serveLabPage serves the status page of every node of l on addr, and
// returns its address (or "(none)" when addr is "") and what stops it.
func serveLabPage(addr string, l *lab.Lab, log zerolog.Logger) (string, func(), error) {
	if addr == "" {
		return "(none)", func() {}, nil
	}
	h := status.HandlerWith(nil, status.Options{Nodes: labSources(l), Lab: l.Handler()})
	stop, url, err := status.Serve(addr, h, func(err error) { log.Error().Err(err).Msg("status page stopped") })
	if err != nil {
		return "", nil, err
	}
	return url, stop, nil
}

// seedRole is what the banner says the seed does: mine a fresh chain,
// or serve the seedChain read from chainFile.
func seedRole(seedChain []*chain.Block, chainFile string) string {
	if len(seedChain) > 0 {
		return fmt.Sprintf("seed (serves the %d blocks of %s and mines on top)", len(seedChain), chainFile)
	}
	return "seed (mines a fresh chain)"
}

// openScenario opens the -scenario file: nil when file is "".
func openScenario(file string) (*os.File, error) {
	if file == "" {
		return nil, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("lab -scenario: %w", err)
	}
	return f, nil
}

// runScenario runs the lab commands of script, read from the file name,
// once Run has started the nodes, and prints the error that stops it
// unless the lab is stopping.
func runScenario(ctx context.Context, l *lab.Lab, script io.Reader, name string, out io.Writer) {
	time.Sleep(100 * time.Millisecond) // Run has started the nodes
	if err := l.RunScript(ctx, script, out); err != nil && ctx.Err() == nil {
		fmt.Fprintf(out, "scenario %s: %v\n", name, err)
	}
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
