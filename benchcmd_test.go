package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{{"-rows", "nope"}, {"-runs", "-1"}, {"extra"}, {"-bogus"}, {"-clients", "-1"},
		// The load process loads 127.0.0.1 addresses only (0.0.0.0 is not one:
		// were it let through, Linux would still keep it on this host), and
		// needs its sizes.
		{"-load-to", "0.0.0.0:9", "-clients", "1", "-blocks", "1"}, {"-load-to", "nonsense"},
		{"-load-to", "127.0.0.1:9"}} {
		var out bytes.Buffer
		if err := runBench(context.Background(), args, &out); err == nil {
			t.Errorf("bench %q: no error", args)
		}
	}
	var out bytes.Buffer
	if err := runBench(context.Background(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("bench -h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "-quick") {
		t.Errorf("bench -h does not list -quick:\n%s", out.String())
	}
}

// TestBenchVerifyRow runs one quick row through the command and checks
// the table it prints (no timing is asserted).
func TestBenchVerifyRow(t *testing.T) {
	var out bytes.Buffer
	err := runBench(context.Background(), []string{"-quick", "-rows", "verify", "-blocks", "100", "-cache", t.TempDir(), "-markdown"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"machine: ", "| row | blockpeer | limit | ratio |", "| verify 100 blocks |", "| verify bytes |", "took "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "mine") {
		t.Errorf("-rows verify ran other rows:\n%s", out.String())
	}
}
