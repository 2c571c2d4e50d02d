package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

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
		fmt.Fprintf(out, "Usage: blockpeer %s\n\nFlags (before or after HOST:PORT):\n", usage)
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
	if err := t.fs.Parse(args); err != nil {
		return "", nil, usage(err)
	}
	if t.fs.NArg() == 0 {
		t.fs.Usage()
		return "", nil, fmt.Errorf("%w: HOST:PORT of the peer is missing", client.ErrUsage)
	}
	target = t.fs.Arg(0)
	// Flags may also follow HOST:PORT (ask HOST:PORT -json stats).
	if err := t.fs.Parse(t.fs.Args()[1:]); err != nil {
		return "", nil, usage(err)
	}
	if t.timeout <= 0 {
		return "", nil, fmt.Errorf("%w: -timeout must be positive", client.ErrUsage)
	}
	if t.diff < 0 || t.diff > 64 {
		return "", nil, fmt.Errorf("%w: -difficulty %d is out of 0..64", client.ErrUsage, t.diff)
	}
	return target, t.fs.Args(), nil
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
func runAsk(args []string, out io.Writer) error {
	t := newToolFlags("ask", "ask [flags] HOST:PORT COMMAND [ARGS...]   one command against one peer", out)
	target, rest, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: no command for %s (blockpeer ask -h lists them)", client.ErrUsage, target)
	}
	c, err := client.Dial(t.config(target))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Do(rest, out, t.options())
}

// runShell runs `blockpeer shell HOST:PORT`: commands from stdin.
func runShell(args []string, in *os.File, out, errOut io.Writer) error {
	t := newToolFlags("shell", "shell [flags] HOST:PORT   commands read from stdin, one per line; Ctrl-D leaves", out)
	target, rest, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q after %s (commands come from stdin)", client.ErrUsage, rest[0], target)
	}
	c, err := client.Dial(t.config(target))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Shell(in, out, errOut, t.options(), isTerminal(in))
}

// runCheck runs `blockpeer check HOST:PORT`; it fails when a check does.
func runCheck(args []string, out io.Writer) error {
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
	r, err := client.Check(client.CheckConfig{Config: t.config(target), Last: *last, Full: *full}, out, t.options())
	if err != nil {
		return err
	}
	if !r.Passed {
		return client.ErrFailed
	}
	return nil
}

// runTool runs one of the client tools; it returns the exit status.
func runTool(name string, args []string) int {
	var err error
	switch name {
	case "ask":
		err = runAsk(args, os.Stdout)
	case "shell":
		err = runShell(args, os.Stdin, os.Stdout, os.Stderr)
	case "check":
		err = runCheck(args, os.Stdout)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, client.ErrFailed): // the report says why
		return 1
	case errors.Is(err, client.ErrUsage):
		fmt.Fprintf(os.Stderr, "blockpeer %s: %v\n", name, err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "blockpeer %s: %v\n", name, err)
	return 1
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
