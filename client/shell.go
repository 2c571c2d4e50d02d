package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/term"
)

// Lines is where a shell reads its command lines: ReadLine returns the
// next line without its end, or io.EOF when the input ends.
type Lines interface {
	ReadLine() (string, error)
}

// PipeLines reads command lines from r as they come (a pipe, a file):
// no prompt, no editing.
func PipeLines(r io.Reader) Lines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	return pipeLines{sc}
}

type pipeLines struct{ sc *bufio.Scanner }

func (p pipeLines) ReadLine() (string, error) {
	if p.sc.Scan() {
		return p.sc.Text(), nil
	}
	if err := p.sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

// TerminalLines reads command lines from a terminal with line editing
// and history (golang.org/x/term's Terminal: arrows, Home/End, Ctrl-A/E/K/U/W,
// Up and Down recall earlier lines). It writes the prompt and echo to rw.
// raw, when not nil, puts the terminal in raw mode for the length of one
// ReadLine and returns the function that restores it, so that commands
// run on a normal terminal (where Ctrl-C is a signal). Ctrl-D on an empty
// line and Ctrl-C at the prompt end the input.
func TerminalLines(rw io.ReadWriter, prompt string, raw func() (restore func(), err error)) Lines {
	return &terminalLines{t: term.NewTerminal(rw, prompt), raw: raw}
}

type terminalLines struct {
	t   *term.Terminal
	raw func() (func(), error)
}

func (l *terminalLines) ReadLine() (string, error) {
	if l.raw != nil {
		restore, err := l.raw()
		if err != nil {
			return "", fmt.Errorf("terminal: %w", err)
		}
		defer restore()
	}
	return l.t.ReadLine()
}

// Shell runs commands read from lines, one per line, until the input ends
// (Ctrl-D on a terminal), "quit" (or "exit"), or the context given to Dial
// is cancelled (Ctrl-C), which also cuts the command in progress short. With greet set (a
// terminal) it first says whom it talks to. A failed command prints its
// error and the shell goes on; Shell returns an error when any command
// failed, so a script fed through a pipe can tell, or ErrInterrupted.
func (c *Client) Shell(lines Lines, out, errOut io.Writer, opt Options, greet bool) error {
	ctx := c.ctx
	if greet {
		fmt.Fprintf(out, "talking to %s from %s (timeout %v, difficulty %d); help lists the commands; quit, Ctrl-D or Ctrl-C leaves\n",
			c.cfg.Target, c.main.Addr(), c.cfg.Timeout, c.cfg.Difficulty)
	}
	type lineOrErr struct {
		line string
		err  error
	}
	// The reading goroutine reads one line per request, so that a terminal
	// is in raw mode only while it is read, and a blocked read does not
	// keep the shell from leaving on ctx.
	want := make(chan struct{})
	got := make(chan lineOrErr)
	defer close(want)
	go func() {
		for range want {
			line, err := lines.ReadLine()
			select {
			case got <- lineOrErr{line, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	failed := 0
	for {
		select {
		case want <- struct{}{}:
		case <-ctx.Done():
			return ErrInterrupted
		}
		var r lineOrErr
		select {
		case r = <-got:
		case <-ctx.Done():
			return ErrInterrupted
		}
		if errors.Is(r.err, io.EOF) {
			if greet {
				fmt.Fprintln(out) // Ctrl-D leaves the cursor after the prompt
			}
			break
		}
		if r.err != nil {
			return fmt.Errorf("reading commands: %w", r.err)
		}
		line := strings.TrimSpace(r.line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "quit" || line == "exit" {
			break
		}
		c.forget() // what came in between commands is not an answer to the next
		if err := c.Do(splitCommand(line), out, opt); err != nil {
			if errors.Is(err, ErrInterrupted) {
				return err
			}
			failed++
			fmt.Fprintln(errOut, "error:", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d command(s) failed", failed)
	}
	return nil
}

// splitCommand splits a shell line into the command and its arguments;
// raw keeps its JSON whole (spaces included).
func splitCommand(line string) []string {
	cmd, rest, _ := strings.Cut(line, " ")
	if strings.EqualFold(cmd, "raw") || strings.EqualFold(cmd, "word") {
		if rest = strings.TrimSpace(rest); rest == "" {
			return []string{cmd}
		}
		return []string{cmd, rest}
	}
	return strings.Fields(line)
}

// ErrFailed is returned by tools when a run failed in a way already
// printed (a FAIL in a check report).
var ErrFailed = errors.New("failed")
