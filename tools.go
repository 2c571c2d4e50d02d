package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"blockpeer/client"
)

// toolFlags are the flags shared by ask, shell and check.
type toolFlags struct {
	fs       *flag.FlagSet
	timeout  time.Duration
	diff     int
	json     bool
	fullHash bool
	name     string
}

func newToolFlags(cmd, usage string, out io.Writer) *toolFlags {
	t := &toolFlags{fs: flag.NewFlagSet("blockpeer "+cmd, flag.ContinueOnError)}
	t.fs.SetOutput(out)
	t.fs.Usage = func() {
		fmt.Fprintf(out, "Usage: blockpeer %s\n\nFlags (anywhere on the line; -- ends them):\n", usage)
		t.fs.PrintDefaults()
		if cmd != "check" {
			fmt.Fprintf(out, "\n%s", client.Help)
		}
	}
	t.fs.DurationVar(&t.timeout, "timeout", time.Second, "how long to wait for each reply")
	t.fs.IntVar(&t.diff, "difficulty", defaultDifficulty, "trailing zero hex digits a valid block hash needs (8 on the course networks, 9 on the competition network)")
	t.fs.BoolVar(&t.json, "json", false, "print JSON, for scripts")
	t.fs.BoolVar(&t.fullHash, "full-hash", false, "print whole hashes, not 6b3f12ab..00000000")
	t.fs.StringVar(&t.name, "name", "", "our name in the GOSSIPs we send")
	return t
}

// parse parses the flags and returns the target and the rest.
func (t *toolFlags) parse(args []string) (target string, rest []string, err error) {
	// Flags may stand anywhere: ask HOST:PORT stats -json.
	positional, err := parseAnywhere(t.fs, args)
	if err != nil {
		return "", nil, usage(err)
	}
	if len(positional) == 0 {
		t.fs.Usage()
		return "", nil, fmt.Errorf("%w: HOST:PORT of the peer is missing", client.ErrUsage)
	}
	target, rest = positional[0], positional[1:]
	if t.timeout <= 0 {
		return "", nil, fmt.Errorf("%w: -timeout must be positive", client.ErrUsage)
	}
	if t.diff < 0 || t.diff > 64 {
		return "", nil, fmt.Errorf("%w: -difficulty %d is out of 0..64", client.ErrUsage, t.diff)
	}
	return target, rest, nil
}

// usage marks a flag error as a usage error (exit status 2); -h stays
// flag.ErrHelp.
func usage(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", client.ErrUsage, err)
}

func (t *toolFlags) config(target string) client.Config {
	return client.Config{Target: target, Timeout: t.timeout, Difficulty: t.diff, Name: t.name}
}

func (t *toolFlags) options() client.Options {
	return client.Options{JSON: t.json, FullHash: t.fullHash}
}

// runAsk runs `blockpeer ask HOST:PORT COMMAND...`.
func runAsk(ctx context.Context, args []string, out io.Writer) error {
	t := newToolFlags("ask", "ask [flags] HOST:PORT COMMAND [ARGS...]   one command against one peer", out)
	target, rest, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: no command for %s (blockpeer ask -h lists them)", client.ErrUsage, target)
	}
	c, err := client.Dial(ctx, t.config(target))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Do(rest, out, t.options())
}

// runShell runs `blockpeer shell HOST:PORT`: commands from stdin, edited
// with history on a terminal.
func runShell(ctx context.Context, args []string, in *os.File, out, errOut io.Writer) error {
	t := newToolFlags("shell", "shell [flags] HOST:PORT   commands read from stdin, one per line; quit, Ctrl-D or Ctrl-C leaves", out)
	target, rest, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q after %s (commands come from stdin)", client.ErrUsage, rest[0], target)
	}
	c, err := client.Dial(ctx, t.config(target))
	if err != nil {
		return err
	}
	defer c.Close()
	fd := int(in.Fd())
	if !isTerminal(in) {
		return c.Shell(client.PipeLines(in), out, errOut, t.options(), false)
	}
	// A line is read in raw mode (for editing); commands run in the
	// terminal's own mode, where Ctrl-C interrupts them. The state is
	// restored whatever way the shell ends.
	saved, err := term.GetState(fd)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(fd, saved)
	raw := func() (func(), error) {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return nil, err
		}
		return func() { term.Restore(fd, old) }, nil
	}
	screen := struct {
		io.Reader
		io.Writer
	}{in, out}
	return c.Shell(client.TerminalLines(screen, target+"> ", raw), out, errOut, t.options(), true)
}

// runCheck runs `blockpeer check HOST:PORT`; it fails when a check does.
func runCheck(ctx context.Context, args []string, out io.Writer) error {
	t := newToolFlags("check", "check [flags] HOST:PORT   a conformance report for one peer; exit status 0 only when no check FAILs", out)
	last := t.fs.Int("last", 50, "how many of the top blocks to fetch and verify")
	full := t.fs.Bool("full", false, "fetch and verify the whole chain (pipelined, with progress lines)")
	target, rest, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q after %s", client.ErrUsage, rest[0], target)
	}
	if *last < 1 {
		return fmt.Errorf("%w: -last must be at least 1", client.ErrUsage)
	}
	r, err := client.Check(ctx, client.CheckConfig{Config: t.config(target), Last: *last, Full: *full}, out, t.options())
	if err != nil {
		return err
	}
	if !r.Passed {
		return client.ErrFailed
	}
	return nil
}

// exitInterrupted is the exit status of a command stopped by Ctrl-C, as
// shells report a process killed by SIGINT.
const exitInterrupted = 130

// runTool runs one of the client tools until it ends or ctx is cancelled
// (Ctrl-C). Its error is an exitStatus once the user has been told why.
func runTool(ctx context.Context, name string, args []string) error {
	var err error
	switch name {
	case "ask":
		err = runAsk(ctx, args, os.Stdout)
	case "shell":
		err = runShell(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	case "check":
		err = runCheck(ctx, args, os.Stdout)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return nil
	case errors.Is(err, client.ErrInterrupted):
		fmt.Fprintf(os.Stderr, "\nblockpeer %s: interrupted\n", name)
		return exitStatus(exitInterrupted)
	case errors.Is(err, client.ErrFailed): // the report says why
		return exitStatus(1)
	case errors.Is(err, client.ErrUsage):
		fmt.Fprintf(os.Stderr, "blockpeer %s: %v\n", name, err)
		return exitStatus(2)
	}
	fmt.Fprintf(os.Stderr, "blockpeer %s: %v\n", name, err)
	return exitStatus(1)
}

// isTerminal reports whether f is a terminal (the one check for it: the
// shell's line editing, the lab's console, colours in the log).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
