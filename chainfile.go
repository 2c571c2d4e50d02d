package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/client"
	"blockpeer/store"
)

// loadProgressEvery is how often a long load of the stored chain logs its
// progress.
const loadProgressEvery = time.Second

// openNodeChain opens the node's chain: in memory when path is "", else the
// store at path, whose chain is loaded and verified as a whole, and logs
// what it found. A stored chain that fails verification is reported
// (height and why) and the node keeps its valid prefix; store.OpenChain
// moves the invalid tail out of the store.
func openNodeChain(path string, difficulty int, log zerolog.Logger) (*chain.Chain, error) {
	if path == "" {
		return chain.New(difficulty, nil)
	}
	start := time.Now()
	lastLine := start
	progress := func(verified, total int) {
		if now := time.Now(); now.Sub(lastLine) >= loadProgressEvery && verified < total {
			lastLine = now
			log.Info().Int("verified", verified).Int("total", total).Msg("verifying the stored chain")
		}
	}
	ch, o, err := store.OpenChain(path, difficulty, progress)
	if errors.Is(err, store.ErrInUse) {
		return nil, fmt.Errorf("%w (stop that node first, or give this one another -port or -data)", err)
	}
	if err != nil {
		return nil, err
	}
	opened := log.Info().Str("path", path)
	if o.OtherNetworks > 0 {
		opened = opened.Int("other_networks", o.OtherNetworks) // kept, by genesis: export -list shows them
	}
	opened.Msg("chain database")
	took := time.Since(start)
	switch {
	case o.Blocks == 0 && o.OK():
		log.Info().Msg("no stored chain yet")
		return ch, nil
	case o.OK():
		log.Info().Int("height", ch.Height()).Str("tip", chain.ShortHash(ch.TipHash())).Dur("took", took.Round(time.Millisecond)).
			Float64("blocks_per_s", float64(int64(float64(o.Valid)/max(took.Seconds(), 1e-6)))).Msg("stored chain loaded and verified")
		return ch, nil
	}
	ev := log.Warn().Int("first_bad_height", o.Valid).AnErr("why", o.Err).Int("stored", o.Blocks).
		Int("kept", o.Valid).Dur("took", took.Round(time.Millisecond))
	switch {
	case o.SaveErr != nil:
		ev.Str("tail_kept_in_store", o.SaveErr.Error()).Msg("stored chain fails verification: serving the valid prefix")
	case o.SavedTo != "":
		ev.Str("saved_to", o.SavedTo).Msg("stored chain fails verification: serving the valid prefix; the invalid blocks are moved out of the store")
	default:
		ev.Msg("stored chain is damaged: serving the valid prefix; the damaged records are deleted")
	}
	return ch, nil
}

// importChainFile starts the chain from a chain file: it must verify as a
// whole, and it is kept when it is taller than the chain we hold.
func importChainFile(ch *chain.Chain, path string, log zerolog.Logger) error {
	blocks, err := store.ReadFile(path)
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
		log.Info().Str("file", path).Int("height", ch.Height()).Str("tip", chain.ShortHash(ch.TipHash())).Int("fork_point", from).
			Msg("chain file verified and adopted")
	}
	return nil
}

// runExport runs `blockpeer export`: it writes a stored chain, or a
// running peer's chain fetched over the wire, to out as a chain file.
func runExport(args []string, out, errOut io.Writer) error {
	ef, err := parseExportFlags(args, errOut)
	if err != nil {
		return err
	}
	if ef.list {
		return listStores(ef.data, out)
	}
	if ef.peer != "" {
		return exportFromPeer(ef.peer, ef.difficulty, ef.timeout, out, errOut)
	}
	path, d, err := pickStore(ef.data, ef.file, ef.port, ef.difficulty, ef.set)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return exportStore(path, d, ef.genesis, out, errOut)
}

// exportFlags are export's command line.
type exportFlags struct {
	data, file, genesis, peer string
	port, difficulty          int
	list                      bool
	timeout                   time.Duration
	set                       map[string]bool // the flags given
}

// parseExportFlags parses export's command line; usage and flag errors go
// to errOut, as the chain file goes to stdout.
func parseExportFlags(args []string, errOut io.Writer) (*exportFlags, error) {
	ef := &exportFlags{set: map[string]bool{}}
	fs := flag.NewFlagSet("blockpeer export", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, `Usage: blockpeer export [flags] > chain.json

Writes a stored chain (its verified part) as a chain file: a JSON array of
blocks with the wire fields. A node's store holds the chain of every network
it has been on, keyed by genesis: export writes the one the node serves, or
the one -genesis names. The node must be stopped; to export from a running
node, fetch its chain over the wire with -peer HOST:PORT.

Pick the store with the node's -data, -port and -difficulty, or with -file;
with none of them, the default node's store, or the only store in -data.
-list shows every store and its chains.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&ef.data, "data", defaultDataDir(), "the node's -data directory")
	fs.StringVar(&ef.file, "file", "", "the chain database file itself (overrides -data and -port)")
	fs.IntVar(&ef.port, "port", defaultPort, "the node's -port")
	fs.IntVar(&ef.difficulty, "difficulty", defaultDifficulty, "the node's -difficulty")
	fs.StringVar(&ef.genesis, "genesis", "", "export the stored chain whose genesis hash starts with this (default: the one the node serves)")
	fs.BoolVar(&ef.list, "list", false, "list the stores in -data and their chains (genesis, blocks, tip, last used) instead")
	fs.StringVar(&ef.peer, "peer", "", "fetch the chain of the running peer at HOST:PORT over the wire instead, verified at -difficulty")
	fs.DurationVar(&ef.timeout, "timeout", time.Second, "with -peer: how long to wait for each reply")
	fs.String("peers", "", "ignored: a store no longer depends on the node's -peers (kept for old scripts)")
	rest, err := parseAnywhere(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("export: unexpected argument %q (the chain goes to stdout: export > chain.json)", rest[0])
	}
	fs.Visit(func(f *flag.Flag) { ef.set[f.Name] = true })
	return ef, nil
}

// listStores runs export -list: it prints the stores in dir and their
// chains.
func listStores(dir string, out io.Writer) error {
	files, err := store.Find(dir)
	if err != nil {
		return fmt.Errorf("export -list: %w", err)
	}
	fmt.Fprintln(out, describeStores(dir, files))
	return nil
}

// exportStore writes the verified part of a chain of the store at path
// as a chain file to out: the chain the node serves, or the one whose
// genesis starts with genesis when it is not "". It verifies it at
// difficulty d, and tells errOut what it wrote.
func exportStore(path string, d int, genesis string, out, errOut io.Writer) error {
	s, err := store.OpenReadOnly(path)
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("export: %w: stop the node first, or export from it while it runs: blockpeer export -peer HOST:PORT > chain.json", err)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer s.Close()
	g := s.Current()
	if genesis != "" {
		if g, err = pickGenesis(s, genesis, path); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	blocks, v, err := loadVerified(s, g, d)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := store.WriteBlocks(out, blocks[:v.Valid]); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if !v.OK() {
		fmt.Fprintf(errOut, "warning: the stored chain is invalid from height %d (%v): exported the %d valid blocks below it\n", v.Valid, v.Err, v.Valid)
	}
	reportExport(errOut, blocks[:v.Valid], d, path)
	return nil
}

// loadVerified loads the stored chain of genesis g and verifies it at
// difficulty d. A chain the store found damaged is returned with its
// damage as the verification's error when its blocks verify.
func loadVerified(s *store.BoltStore, g string, d int) ([]*chain.Block, chain.Verification, error) {
	blocks, loadErr := s.LoadChain(g)
	if loadErr != nil && !errors.Is(loadErr, chain.ErrDamaged) {
		return nil, chain.Verification{}, loadErr
	}
	v := chain.Verify(blocks, d, nil)
	if v.OK() && loadErr != nil {
		v.Err = loadErr
	}
	return blocks, v, nil
}

// reportExport tells errOut that the blocks, verified at difficulty,
// were exported from where they came from.
func reportExport(errOut io.Writer, blocks []*chain.Block, difficulty int, from string) {
	tip := "(empty chain)"
	if len(blocks) > 0 {
		tip = "tip " + blocks[len(blocks)-1].Hash
	}
	fmt.Fprintf(errOut, "exported %d blocks, %s, difficulty %d, from %s\n", len(blocks), tip, difficulty, from)
}

// exportFromPeer writes the chain of the peer at target, fetched over the
// wire and verified, as a chain file.
func exportFromPeer(target string, difficulty int, timeout time.Duration, out, errOut io.Writer) error {
	blocks, err := client.FetchChain(context.Background(), client.Config{Target: target, Timeout: timeout, Difficulty: difficulty, Name: "blockpeer-export"}, errOut)
	if err != nil {
		return fmt.Errorf("export -peer: %w", err)
	}
	if err := store.WriteBlocks(out, blocks); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	reportExport(errOut, blocks, difficulty, target)
	return nil
}

// pickGenesis returns the genesis hash of the one stored chain whose
// genesis starts with prefix.
func pickGenesis(s *store.BoltStore, prefix, path string) (string, error) {
	chains, err := s.Chains()
	if err != nil {
		return "", err
	}
	var found []string
	for _, c := range chains {
		if strings.HasPrefix(c.Genesis, prefix) {
			found = append(found, c.Genesis)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	what := "no stored chain"
	if len(found) > 1 {
		what = fmt.Sprintf("%d stored chains", len(found))
	}
	return "", fmt.Errorf("-genesis %s: %s in %s has a genesis starting so. Its chains:%s", prefix, what, path, describeChains(chains))
}

// describeStores lists the stores in dir and their chains, for a person.
func describeStores(dir string, files []store.File) string {
	if len(files) == 0 {
		return fmt.Sprintf("no chain database (chain-PORT-dDIFFICULTY.db) in %s", dir)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chain databases in %s:", dir)
	for _, f := range files {
		fmt.Fprintf(&b, "\n  -file %s   (port %d, difficulty %d", f.Path, f.Port, f.Difficulty)
		if f.Legacy {
			b.WriteString("; named the old way, folded into " + store.Name(f.Port, f.Difficulty) + " when its node next starts")
		}
		b.WriteString(")")
		s, err := store.OpenReadOnly(f.Path)
		if err != nil {
			if errors.Is(err, store.ErrInUse) {
				b.WriteString("\n      in use by a running node: export -peer HOST:PORT fetches its chain over the wire")
			} else {
				fmt.Fprintf(&b, "\n      unreadable: %v", err)
			}
			continue
		}
		chains, err := s.Chains()
		s.Close()
		if err != nil {
			fmt.Fprintf(&b, "\n      unreadable: %v", err)
			continue
		}
		if len(chains) == 0 {
			b.WriteString("\n      no chain yet")
		}
		b.WriteString(describeChains(chains))
	}
	return b.String()
}

// describeChains lists stored chains, one line each: genesis, blocks, tip,
// when last used.
func describeChains(chains []store.Chain) string {
	var b strings.Builder
	for _, c := range chains {
		used := "never"
		if !c.LastUsed.IsZero() {
			used = c.LastUsed.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(&b, "\n      -genesis %s   %d blocks, tip %s, last used %s", chain.ShortHash(c.Genesis), c.Blocks, chain.ShortHash(c.Tip), used)
		if c.Current {
			b.WriteString("   (the chain the node serves)")
		}
	}
	return b.String()
}

// pickStore chooses the store export reads and the difficulty to verify it
// at; set holds the flags given. A store named the old way (with a hash of
// the node's -peers) is read when no store of the new name is there.
func pickStore(dir, file string, port, difficulty int, set map[string]bool) (string, int, error) {
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return "", 0, err
		}
		if f, ok := store.ParseName(file); ok && !set["difficulty"] {
			difficulty = f.Difficulty
		}
		return file, difficulty, nil
	}
	want := filepath.Join(dir, store.Name(port, difficulty))
	if _, err := os.Stat(want); err == nil {
		return want, difficulty, nil
	}
	files, err := store.Find(dir)
	if err != nil {
		return "", 0, fmt.Errorf("-data %s: %w", dir, err)
	}
	var same []store.File
	for _, f := range files {
		if f.Port == port && f.Difficulty == difficulty {
			same = append(same, f)
		}
	}
	switch {
	case len(same) == 1:
		return same[0].Path, difficulty, nil
	case !set["port"] && !set["difficulty"] && len(files) == 1:
		return files[0].Path, files[0].Difficulty, nil
	}
	what := fmt.Sprintf("the default node (-port %d, -difficulty %d)", defaultPort, defaultDifficulty)
	if set["port"] || set["difficulty"] {
		what = fmt.Sprintf("-port %d -difficulty %d", port, difficulty)
	}
	return "", 0, fmt.Errorf("no chain database for %s, %s; pick one with -file or the node's flags. %s", what, filepath.Base(want), describeStores(dir, files))
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
		blocks, err = store.ReadBlocks(in)
	} else {
		blocks, err = store.ReadFile(name)
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
