// Command blockpeer is a peer of the course's gossip blockchain network:
// it joins by GOSSIP, finds the tallest valid chain by STATS, downloads it
// with pipelined GET_BLOCKs, verifies it, serves it and follows new blocks.
//
//	go run . -port 8993 -name xyz      join the course network
//	go run . lab                       a whole network on 127.0.0.1
//	go run . check HOST:PORT           a conformance report for any peer
//	go run . export | verify | bench   chain files and the performance table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/peer"
	"blockpeer/status"
	"blockpeer/store"
)

func main() {
	var cmd string
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	var err error
	switch cmd {
	case "export": // short and holding no socket: Ctrl-C kills them as usual
		err = runExport(os.Args[2:], os.Stdout, os.Stderr)
	case "verify":
		err = runVerify(os.Args[2:], os.Stdin, os.Stdout)
	default:
		// The others stop cleanly on the first Ctrl-C (or SIGTERM), each
		// within a second; a second Ctrl-C kills at once.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		context.AfterFunc(ctx, stop)
		err = runWithContext(ctx, cmd)
	}
	var status exitStatus
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &status):
		os.Exit(int(status)) // the command has said why
	case err != nil:
		fmt.Fprintln(os.Stderr, "blockpeer:", err)
		os.Exit(2)
	}
}

// exitStatus is an error whose command has already told the user what
// happened: main exits with the status and prints nothing more. Every
// command ends through main's one exit path.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// runWithContext runs the commands that stop when ctx is cancelled.
func runWithContext(ctx context.Context, cmd string) error {
	switch cmd {
	case "lab":
		return runLab(ctx, os.Args[2:], os.Stdout)
	case "ask", "shell", "check":
		return runTool(ctx, cmd, os.Args[2:]) // client tools: see tools.go
	case "bench":
		return runBench(ctx, os.Args[2:], os.Stdout)
	}
	return runNode(ctx, os.Args[1:], os.Stdout)
}

// nodeFlags are the command line of a node.
type nodeFlags struct {
	port        int
	name        string
	host        string
	peers       string
	peerList    []string // -peers checked, or nil for the course's well-known peers
	difficulty  int
	logLevel    string
	logFormat   string
	data        string
	dataSet     bool // -data given explicitly
	mine        bool
	mineThreads int
	newChain    bool
	httpAddr    string
	consensus   time.Duration
	chainFile   string
}

func parseNodeFlags(args []string, out io.Writer) (*nodeFlags, error) {
	f := &nodeFlags{}
	fs := flag.NewFlagSet("blockpeer", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer -name NAME [flags]   join a network\n       blockpeer lab [flags]          run a whole network on 127.0.0.1 (blockpeer lab -h)\n"+
			"       blockpeer export [flags]       write a stored chain as a chain file to stdout (blockpeer export -h)\n"+
			"       blockpeer verify FILE          check a chain file (blockpeer verify -h)\n"+
			"       blockpeer ask|shell|check HOST:PORT ...   poke at one peer, check its conformance (blockpeer check -h)\n"+
			"       blockpeer bench [flags]        measure sync, serve, verify, mine and gossip beside their limits (blockpeer bench -h)\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&f.port, "port", defaultPort, "UDP port to listen on")
	fs.StringVar(&f.name, "name", "", "our name in GOSSIP (required)")
	fs.StringVar(&f.host, "host", "", "address to advertise in GOSSIP (default: this machine's outbound interface address; a loopback address also binds only loopback)")
	fs.StringVar(&f.peers, "peers", "", "comma-separated host:port list of peers to join through (default: the course's well-known peers)")
	fs.IntVar(&f.difficulty, "difficulty", defaultDifficulty, "trailing zero hex digits a block hash needs (8 on the course networks, 9 on the competition network)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "", "log format: console or json (default: console when stdout is a terminal)")
	fs.StringVar(&f.data, "data", defaultDataDir(), `directory for the chain database, one file per network and port ("" keeps the chain in memory only)`)
	fs.BoolVar(&f.mine, "mine", false, "mine blocks on top of our chain and ANNOUNCE them")
	fs.IntVar(&f.mineThreads, "mine-threads", 0, "mining threads (default: all cores)")
	fs.BoolVar(&f.newChain, "new-chain", false, "with -mine and no chain yet, mine a fresh genesis block (start a new network)")
	fs.StringVar(&f.httpAddr, "http", "", "serve the status page on this address, e.g. 127.0.0.1:8080")
	fs.DurationVar(&f.consensus, "consensus-interval", peer.CourseTimings().ConsensusInterval, "how often to run a consensus")
	fs.StringVar(&f.chainFile, "chain", "", "start from the chain in this chain file (as written by 'blockpeer export'), verified first; kept when taller than the stored chain")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.dataSet = f.dataSet || fl.Name == "data" })
	switch {
	case len(rest) > 0:
		return nil, fmt.Errorf("unexpected argument %q (see -h)", rest[0])
	case strings.TrimSpace(f.name) == "":
		return nil, errors.New("-name is required: the name other peers see for us, e.g. -name xyz")
	case f.port < 0 || f.port > 65535:
		return nil, fmt.Errorf("-port %d is not a UDP port", f.port)
	case f.difficulty < 0 || f.difficulty > 64:
		return nil, fmt.Errorf("-difficulty %d is out of 0..64", f.difficulty)
	case f.consensus <= 0:
		return nil, errors.New("-consensus-interval must be positive")
	}
	if err := peer.CheckName(f.name); err != nil {
		return nil, fmt.Errorf("-name refused: %w", err)
	}
	if f.peers != "" {
		if f.peerList, err = parsePeers(f.peers); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// runNode runs a node: `blockpeer -name NAME [flags]`.
func runNode(ctx context.Context, args []string, out io.Writer) error {
	f, err := parseNodeFlags(args, out)
	if err != nil {
		return err
	}
	log, err := newLogger(out, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	seeds, err := seedPeers(ctx, f.peerList, log)
	if err != nil {
		return err
	}
	tr, advertise, err := listenNode(f.host, f.port, seeds)
	if err != nil {
		return err
	}
	defer tr.Close()
	ch, err := loadNodeChain(f, seeds, int(advertise.Port()), log)
	if err != nil {
		return err
	}
	defer ch.Close()
	timings := peer.CourseTimings()
	timings.ConsensusInterval = f.consensus
	node, err := peer.New(peer.Config{
		Name: f.name, Advertise: advertise, Seeds: seeds, Difficulty: f.difficulty,
		Timings: timings, Log: log,
		Limits: peer.DefaultLimits(),
		Mine:   f.mine, MineThreads: f.mineThreads, MineGenesis: f.newChain,
	}, tr, ch)
	if err != nil {
		return err
	}
	if f.httpAddr != "" {
		stopHTTP, _, err := status.Serve(f.httpAddr, status.Handler([]status.Source{node}),
			func(err error) { log.Error().Err(err).Msg("status page stopped") })
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	return node.Run(ctx)
}

// seedPeers resolves the peers the node joins through: peerList, the
// -peers the user typed, where one that does not resolve is a mistake;
// or, when it is nil, the course's well-known peers that resolve.
func seedPeers(ctx context.Context, peerList []string, log zerolog.Logger) ([]netip.AddrPort, error) {
	if peerList == nil {
		return resolveWellKnownPeers(ctx, wellKnownPeers, log), nil
	}
	return resolvePeers(ctx, peerList)
}

// listenNode opens the node's UDP socket for -host and -port, and
// returns it with the address the node advertises (with the port the
// system chose, for -port 0).
func listenNode(host string, port int, seeds []netip.AddrPort) (*peer.UDP, netip.AddrPort, error) {
	advertise, bind, err := peer.ChooseAddrs(host, port, seeds)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	tr, err := peer.ListenUDP(bind)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if port == 0 {
		advertise = netip.AddrPortFrom(advertise.Addr(), tr.LocalAddr().Port())
	}
	return tr, advertise, nil
}

// loadNodeChain opens the chain of the node advertising port: stored
// under -data (in memory for a lab, when -data is not given and every
// seed is on this machine), with the -chain file imported.
func loadNodeChain(f *nodeFlags, seeds []netip.AddrPort, port int, log zerolog.Logger) (*chain.Chain, error) {
	if !f.dataSet && allLoopback(seeds) {
		// A lab's chain is new every run: a stored one would only mask it.
		f.data = ""
		log.Info().Msg("all peers are on this machine (a lab): chain kept in memory; -data DIR to keep it")
	}
	storePath, err := nodeStore(f, port, log)
	if err != nil {
		return nil, err
	}
	ch, err := openNodeChain(storePath, f.difficulty, log)
	if err != nil {
		return nil, err
	}
	if f.chainFile != "" {
		if err := importChainFile(ch, f.chainFile, log); err != nil {
			ch.Close()
			return nil, err
		}
	}
	return ch, nil
}

// nodeStore returns the path of the node's chain database ("" for none),
// after folding in the stores an older blockpeer named after its -peers
// list (the one this -peers list used is served).
func nodeStore(f *nodeFlags, port int, log zerolog.Logger) (string, error) {
	if f.data == "" {
		return "", nil
	}
	path := filepath.Join(f.data, store.Name(port, f.difficulty))
	used := f.peerList
	if used == nil {
		used = wellKnownPeers
	}
	migrated, err := store.Migrate(f.data, port, f.difficulty, store.LegacyName(used, port, f.difficulty))
	for _, m := range migrated {
		log.Info().Str("from", m.From).Str("genesis", chain.ShortHash(m.Genesis)).Int("blocks", m.Blocks).Str("into", path).
			Msg("chain database of the old naming folded in (kept as .migrated)")
	}
	return path, err
}

func defaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "blockpeer")
}

var zerologSetup sync.Once

// newLogger builds the zerolog logger: console on a terminal, JSON otherwise.
func newLogger(out io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	terminal := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	if format == "" {
		format = "json"
		if terminal {
			format = "console"
		}
	}
	var w io.Writer
	switch format {
	case "console":
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000", NoColor: !terminal}
	case "json":
		w = out
	default:
		return zerolog.Nop(), fmt.Errorf("-log-format %q: want console or json", format)
	}
	zerologSetup.Do(func() { // the library's settings are globals: set once
		zerolog.TimeFieldFormat = time.RFC3339Nano
		zerolog.DurationFieldUnit = time.Second
		zerolog.DurationFieldInteger = false
	})
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
