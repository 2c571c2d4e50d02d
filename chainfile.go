package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
)

// exitStatus is an error whose command has already told the user what
// happened: main exits with the status and prints nothing more.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// loadProgressEvery is how often a long load of the stored chain logs its
// progress.
const loadProgressEvery = time.Second

// openNodeChain opens the node's chain: in memory when path is "", else the
// store at path, whose chain is loaded and verified as a whole. A stored
// chain that fails verification is reported (height and why) and the node
// keeps its valid prefix; the invalid tail is saved to a chain file beside
// the store and deleted from the store.
func openNodeChain(path string, difficulty int, log zerolog.Logger) (*chain.Chain, error) {
	if path == "" {
		return chain.New(difficulty, nil)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("chain directory: %w", err)
	}
	store, err := chain.OpenBoltStore(path)
	if err != nil {
		return nil, err
	}
	log.Info().Str("path", path).Msg("chain database")
	start := time.Now()
	lastLine := start
	progress := func(verified, total int) {
		if now := time.Now(); now.Sub(lastLine) >= loadProgressEvery && verified < total {
			lastLine = now
			log.Info().Int("verified", verified).Int("total", total).Msg("verifying the stored chain")
		}
	}
	ch, report, err := chain.Open(difficulty, store, progress)
	if err != nil {
		store.Close()
		return nil, err
	}
	took := time.Since(start)
	if report.Blocks == 0 && report.OK() {
		log.Info().Msg("no stored chain yet")
		return ch, nil
	}
	if report.OK() {
		log.Info().Int("height", ch.Height()).Str("tip", shortHash(ch.TipHash())).Dur("took", took.Round(time.Millisecond)).
			Float64("blocks_per_s", float64(int64(float64(report.Valid)/max(took.Seconds(), 1e-6)))).Msg("stored chain loaded and verified")
		return ch, nil
	}
	ev := log.Warn().Int("first_bad_height", report.Valid).AnErr("why", report.Err).Int("stored", report.Blocks).
		Int("kept", report.Valid).Dur("took", took.Round(time.Millisecond))
	if len(report.Tail) == 0 {
		ev.Msg("stored chain is damaged: serving the valid prefix; the damaged records are deleted")
		return ch, dropTail(ch)
	}
	saved := fmt.Sprintf("%s.invalid-from-%d.json", path, report.Valid)
	if err := writeChainFile(saved, report.Tail); err != nil {
		ev.Str("tail_kept_in_store", err.Error()).Msg("stored chain fails verification: serving the valid prefix")
		return ch, nil // the tail stays in the store until the chain grows over it
	}
	ev.Str("saved_to", saved).Msg("stored chain fails verification: serving the valid prefix; the invalid blocks are moved out of the store")
	return ch, dropTail(ch)
}

// dropTail deletes the stored blocks above ch's top; on failure it closes ch.
func dropTail(ch *chain.Chain) error {
	if err := ch.DropStoredTail(); err != nil {
		ch.Close()
		return err
	}
	return nil
}

// importChainFile starts the chain from a chain file: it must verify as a
// whole, and it is kept when it is taller than the chain we hold.
func importChainFile(ch *chain.Chain, path string, log zerolog.Logger) error {
	blocks, err := chain.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-chain: %w", err)
	}
	if len(blocks) == 0 {
		return fmt.Errorf("-chain %s holds no blocks", path)
	}
	held := ch.Height()
	from, err := ch.Import(blocks)
	switch {
	case errors.Is(err, chain.ErrNotTaller) && from == len(blocks):
		log.Info().Str("file", path).Int("blocks", len(blocks)).Int("height", held).Msg("chain file: we already hold its chain")
	case errors.Is(err, chain.ErrNotTaller):
		log.Warn().Str("file", path).Int("blocks", len(blocks)).Int("height", held).Int("fork_point", from).
			Msg("chain file: not taller than the stored chain, which we keep")
	case err != nil:
		return fmt.Errorf("-chain %s fails verification at difficulty %d: %w", path, ch.Difficulty(), err)
	default:
		log.Info().Str("file", path).Int("height", ch.Height()).Str("tip", shortHash(ch.TipHash())).Int("fork_point", from).
			Msg("chain file verified and adopted")
	}
	return nil
}

func writeChainFile(path string, blocks []*chain.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := chain.WriteBlocks(f, blocks); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func shortHash(h string) string { return h[:min(len(h), 12)] }

// storeNameRE matches the file names storeName makes.
var storeNameRE = regexp.MustCompile(`^chain-(\d+)-d(\d+)-[0-9a-f]{8}\.db$`)

// storeFile is a chain database found in a data directory.
type storeFile struct {
	path             string
	port, difficulty int
}

// findStores lists the chain databases in dir.
func findStores(dir string) ([]storeFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []storeFile
	for _, e := range entries {
		m := storeNameRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		port, _ := strconv.Atoi(m[1])
		d, _ := strconv.Atoi(m[2])
		out = append(out, storeFile{filepath.Join(dir, e.Name()), port, d})
	}
	return out, nil
}

// describeStores lists stores for an error message, one per line.
func describeStores(dir string, stores []storeFile) string {
	if len(stores) == 0 {
		return fmt.Sprintf("no chain database (chain-PORT-dDIFFICULTY-*.db) in %s", dir)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chain databases in %s:", dir)
	for _, s := range stores {
		fmt.Fprintf(&b, "\n  -file %s   (port %d, difficulty %d)", s.path, s.port, s.difficulty)
	}
	return b.String()
}

// runExport runs `blockpeer export`: it writes a node's stored chain to out
// as a chain file.
func runExport(args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("blockpeer export", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, `Usage: blockpeer export [flags] > chain.json

Writes a node's stored chain (its verified part) as a chain file: a JSON
array of blocks with the wire fields. The node must be stopped. Pick the
store with the node's -data, -port, -peers and -difficulty, or with -file;
with none of them, the default node's store, or the only store in -data.

Flags:
`)
		fs.PrintDefaults()
	}
	data := fs.String("data", defaultDataDir(), "the node's -data directory")
	file := fs.String("file", "", "the chain database file itself (overrides -data, -port and -peers)")
	port := fs.Int("port", defaultPort, "the node's -port")
	peers := fs.String("peers", "", "the node's -peers (default: the course's well-known peers)")
	difficulty := fs.Int("difficulty", defaultDifficulty, "the node's -difficulty")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("export: unexpected argument %q (the chain goes to stdout: export > chain.json)", rest[0])
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	path, d, err := pickStore(*data, *file, *port, *peers, *difficulty, set)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	store, err := chain.OpenBoltStoreReadOnly(path)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer store.Close()
	blocks, loadErr := store.Load()
	if loadErr != nil && !errors.Is(loadErr, chain.ErrDamaged) {
		return fmt.Errorf("export: %w", loadErr)
	}
	v := chain.Verify(blocks, d, nil)
	if v.OK() && loadErr != nil {
		v.Err = loadErr
	}
	if err := chain.WriteBlocks(out, blocks[:v.Valid]); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if !v.OK() {
		fmt.Fprintf(errOut, "warning: the stored chain is invalid from height %d (%v): exported the %d valid blocks below it\n", v.Valid, v.Err, v.Valid)
	}
	tip := "(empty chain)"
	if v.Valid > 0 {
		tip = "tip " + blocks[v.Valid-1].Hash
	}
	fmt.Fprintf(errOut, "exported %d blocks, %s, difficulty %d, from %s\n", v.Valid, tip, d, path)
	return nil
}

// pickStore chooses the store export reads and the difficulty to verify it
// at; set holds the flags given.
func pickStore(dir, file string, port int, peers string, difficulty int, set map[string]bool) (string, int, error) {
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return "", 0, err
		}
		if m := storeNameRE.FindStringSubmatch(filepath.Base(file)); m != nil && !set["difficulty"] {
			difficulty, _ = strconv.Atoi(m[2])
		}
		return file, difficulty, nil
	}
	peerList := wellKnownPeers
	if peers != "" {
		peerList = splitList(peers)
	}
	want := filepath.Join(dir, storeName(peerList, uint16(port), difficulty))
	if _, err := os.Stat(want); err == nil {
		return want, difficulty, nil
	}
	stores, err := findStores(dir)
	if err != nil {
		return "", 0, fmt.Errorf("-data %s: %w", dir, err)
	}
	if !set["port"] && !set["peers"] && !set["difficulty"] && len(stores) == 1 {
		return stores[0].path, stores[0].difficulty, nil
	}
	what := "the default node (-port 8993, the course peers, -difficulty 8)"
	if set["port"] || set["peers"] || set["difficulty"] {
		what = "these -port, -peers and -difficulty"
	}
	return "", 0, fmt.Errorf("no chain database for %s, %s; pick one with -file or the node's flags. %s", what, filepath.Base(want), describeStores(dir, stores))
}

// runVerify runs `blockpeer verify`: it checks a chain file (or stdin, as
// "-") and prints "valid, N blocks, tip HASH", or where and why it is
// invalid, with exit status 1.
func runVerify(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("blockpeer verify", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer verify [-difficulty 8] chain.json\n\nChecks a chain file as one chain from genesis. Exit status 0 when valid, 1 when invalid, 2 when unreadable.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	difficulty := fs.Int("difficulty", defaultDifficulty, "trailing zero hex digits every block hash needs")
	files, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return fmt.Errorf("verify: want one chain file (- for stdin), e.g. verify -difficulty 8 chain.json; got %d", len(files))
	}
	if *difficulty < 0 || *difficulty > 64 {
		return fmt.Errorf("verify: -difficulty %d is out of 0..64", *difficulty)
	}
	name := files[0]
	var blocks []*chain.Block
	if name == "-" {
		blocks, err = chain.ReadBlocks(in)
	} else {
		blocks, err = chain.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	v := chain.Verify(blocks, *difficulty, nil)
	if !v.OK() {
		fmt.Fprintf(out, "invalid: %v\n", v.Err)
		fmt.Fprintf(out, "the first %d of %d blocks form a valid chain at difficulty %d\n", v.Valid, len(blocks), *difficulty)
		return exitStatus(1)
	}
	if len(blocks) == 0 {
		fmt.Fprintln(out, "valid, 0 blocks (empty chain)")
		return nil
	}
	fmt.Fprintf(out, "valid, %d blocks, tip %s\n", len(blocks), blocks[len(blocks)-1].Hash)
	return nil
}
