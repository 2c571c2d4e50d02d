package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Shell runs commands read from in, one per line, until end of input
// (Ctrl-D on a terminal) or "quit". With prompt set (in is a terminal) it
// prints a prompt and a greeting. A failed command prints its error and
// the shell goes on; Shell returns an error when any command failed, so a
// script fed through a pipe can tell.
func (c *Client) Shell(in io.Reader, out, errOut io.Writer, opt Options, prompt bool) error {
	if prompt {
		fmt.Fprintf(out, "talking to %s from %s (timeout %v, difficulty %d); help lists the commands, Ctrl-D leaves\n",
			c.cfg.Target, c.main.Addr(), c.cfg.Timeout, c.cfg.Difficulty)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	failed := 0
	for {
		if prompt {
			fmt.Fprintf(out, "%s> ", c.cfg.Target)
		}
		if !sc.Scan() {
			break
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "quit" || line == "exit" {
			break
		}
		c.forget() // what came in between commands is not an answer to the next
		if err := c.Do(splitCommand(line), out, opt); err != nil {
			failed++
			fmt.Fprintln(errOut, "error:", err)
		}
	}
	if prompt {
		fmt.Fprintln(out)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading commands: %w", err)
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
