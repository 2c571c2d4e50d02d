package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/client"
)

// screen is a terminal for x/term's Terminal: keys typed in, what the
// terminal shows collected.
type screen struct {
	keys io.Reader
	mu   sync.Mutex
	out  bytes.Buffer
}

func (s *screen) Read(p []byte) (int, error) { return s.keys.Read(p) }
func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// TestShellTerminalEditsAndRecalls types into the shell's terminal: a
// line edited with Backspace and the Left arrow, the Up arrow recalling
// the line before (which the shell used to refuse as the unknown command
// "\x1b[A"), then quit. On a pipe, the same bytes are not edited.
func TestShellTerminalEditsAndRecalls(t *testing.T) {
	blocks := testChain(5)
	addr := startNode(t, blocks)
	c, err := client.Dial(context.Background(), client.Config{Target: addr.String(), Timeout: time.Second, Difficulty: testDifficulty})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const (
		backspace = "\x7f"
		left      = "\x1b[D"
		up        = "\x1b[A"
	)
	// "get 3X" then Backspace: "get 3"; "et 2" with Left twice and "g"
	// typed at the start... kept simple: "gt 2", Left x3, "e": "get 2".
	typed := "get 3X" + backspace + "\r" + "gt 2" + left + left + left + "e\r" + up + up + "\r" + "quit\r"
	var raws int
	raw := func() (func(), error) { raws++; return func() {}, nil }
	scr := &screen{keys: strings.NewReader(typed)}
	var out, errOut bytes.Buffer
	err = c.Shell(client.TerminalLines(scr, "peer> ", raw), &out, &errOut, client.Options{}, true)
	t.Logf("shell output:\n%s\nterminal:\n%q\nstderr:\n%s", out.String(), scr.out.String(), errOut.String())
	if err != nil {
		t.Errorf("shell: %v", err)
	}
	if n := strings.Count(out.String(), "block 3 from "); n != 2 {
		t.Errorf("block 3 shown %d times, want 2 (typed, then recalled with Up Up)", n)
	}
	if n := strings.Count(out.String(), "block 2 from "); n != 1 {
		t.Errorf("block 2 shown %d times, want 1 (edited with the Left arrow)", n)
	}
	if errOut.Len() != 0 {
		t.Errorf("errors: %s", errOut.String())
	}
	if !strings.Contains(scr.out.String(), "peer> ") {
		t.Errorf("no prompt on the terminal")
	}
	if !strings.Contains(out.String(), "quit, Ctrl-D or Ctrl-C leaves") {
		t.Errorf("the greeting does not say how to leave")
	}
	if raws != 4 {
		t.Errorf("raw mode entered %d times, want once per line read (4)", raws)
	}

	// Ctrl-D on an empty line leaves too; so does Ctrl-C at the prompt.
	for name, key := range map[string]string{"Ctrl-D": "\x04", "Ctrl-C": "\x03"} {
		scr := &screen{keys: strings.NewReader("stats\r" + key + "get 1\r")}
		out.Reset()
		err := c.Shell(client.TerminalLines(scr, "peer> ", nil), &out, io.Discard, client.Options{}, true)
		if err != nil || !strings.Contains(out.String(), "chain  ") || strings.Contains(out.String(), "block 1 from") {
			t.Errorf("%s: %v; want the shell to leave after stats:\n%s", name, err, out.String())
		}
	}

	// On a pipe the escape sequence is a line like any other.
	out.Reset()
	errOut.Reset()
	err = c.Shell(client.PipeLines(strings.NewReader("stats\n"+up+"\n")), &out, &errOut, client.Options{}, false)
	if err == nil || !strings.Contains(errOut.String(), `unknown command "\x1b[A"`) {
		t.Errorf("pipe: %v, stderr %q", err, errOut.String())
	}
}

// TestShellStopsOnCancel: a shell waiting for input, or for a reply that
// never comes, returns ErrInterrupted as soon as its context is cancelled.
func TestShellStopsOnCancel(t *testing.T) {
	silent := listen(t) // reads nothing, answers nothing
	for name, input := range map[string]io.Reader{
		"waiting for a line":  blockingReader{},
		"waiting for a reply": io.MultiReader(strings.NewReader("stats\n"), blockingReader{}),
	} {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := client.Dial(ctx, client.Config{Target: silent.LocalAddr().String(), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Shell(client.PipeLines(input), io.Discard, io.Discard, client.Options{}, false) }()
		time.Sleep(100 * time.Millisecond) // let it block
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, client.ErrInterrupted) {
				t.Errorf("%s: %v, want ErrInterrupted", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the shell did not stop within 5s of the cancel (its timeout is a minute)", name)
		}
		c.Close()
	}
}

// blockingReader never returns.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }
