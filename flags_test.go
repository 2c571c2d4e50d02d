package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"blockpeer/store"
)

func TestParseAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		wantPos   []string
		wantN     int
		wantJSON  bool
		wantError string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, 1, false, ""},
		{[]string{"-n", "3", "a"}, []string{"a"}, 3, false, ""},
		{[]string{"a", "-n", "3", "b", "-json"}, []string{"a", "b"}, 3, true, ""},
		{[]string{"a", "--n=4", "-json=false"}, []string{"a"}, 4, false, ""},
		{[]string{"a", "-n", "-1"}, []string{"a"}, -1, false, ""},                // a value that looks like a flag
		{[]string{"a", "--", "-n", "5"}, []string{"a", "-n", "5"}, 1, false, ""}, // -- ends the flags
		{[]string{"-", "-json"}, []string{"-"}, 1, true, ""},                     // - is stdin, an argument
		{[]string{"a", "-bogus"}, nil, 0, false, "flag provided but not defined: -bogus"},
		{[]string{"a", "-n"}, nil, 0, false, "flag needs an argument: -n"},
		{[]string{"a", "-n", "x"}, nil, 0, false, `invalid value "x" for flag -n`},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		n := fs.Int("n", 1, "")
		js := fs.Bool("json", false, "")
		pos, err := parseAnywhere(fs, tc.args)
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.wantError)
			}
			continue
		}
		if err != nil || !slices.Equal(pos, tc.wantPos) || *n != tc.wantN || *js != tc.wantJSON {
			t.Errorf("%q: %q, -n %d, -json %v, %v; want %q, %d, %v", tc.args, pos, *n, *js, err, tc.wantPos, tc.wantN, tc.wantJSON)
		}
	}
}

// TestFlagsAfterArguments gives every subcommand its flags after its
// arguments, as the users did.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	addr, blocks := startToolNode(t)
	ctx := context.Background()

	out, err := ask(t, addr, "stats", "-difficulty", "2", "-json")
	if err != nil || !strings.Contains(out, `"height":30`) {
		t.Errorf("ask HOST stats -difficulty 2 -json: %v: %s", err, out)
	}
	out, err = ask(t, addr, "get", "3", "-difficulty", "2")
	if err != nil || !strings.Contains(out, "valid      yes, at difficulty 2") {
		t.Errorf("ask HOST get 3 -difficulty 2: %v", err)
	}
	out, err = ask(t, addr, "-difficulty", "2", "word", "--", "-hello")
	if err != nil || !strings.Contains(out, `"word":"-hello"`) {
		t.Errorf("ask HOST word -- -hello: %v: %s", err, out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() { io.WriteString(w, "get 2\n"); w.Close() }()
	var sh bytes.Buffer
	if err := runShell(ctx, []string{addr, "-difficulty", "2"}, r, &sh, io.Discard); err != nil || !strings.Contains(sh.String(), "valid      yes, at difficulty 2") {
		t.Errorf("shell HOST -difficulty 2: %v: %s", err, sh.String())
	}

	var ck bytes.Buffer
	if err := runCheck(ctx, []string{addr, "-difficulty", "2", "-last", "5"}, &ck); err != nil || !strings.Contains(ck.String(), "last-5") {
		t.Errorf("check HOST -difficulty 2 -last 5: %v\n%s", err, ck.String())
	}

	file := filepath.Join(t.TempDir(), "chain.json")
	if err := store.WriteFile(file, blocks); err != nil {
		t.Fatal(err)
	}
	var v bytes.Buffer
	if err := runVerify([]string{file, "-difficulty", "2"}, nil, &v); err != nil || !strings.HasPrefix(v.String(), "valid, 30 blocks") {
		t.Errorf("verify FILE -difficulty 2: %v: %s", err, v.String())
	}
	v.Reset()
	if err := runVerify([]string{file, "-difficulty", "3"}, nil, &v); err == nil || !strings.HasPrefix(v.String(), "invalid") {
		t.Errorf("verify FILE -difficulty 3 (a flag after the file is taken): %v: %s", err, v.String())
	}

	// Commands without arguments name a stray one wherever it stands.
	for _, tc := range []struct {
		name string
		run  func([]string) error
		args []string
	}{
		{"node", func(a []string) error { _, err := parseNodeFlags(a, io.Discard); return err }, []string{"-name", "x", "stray", "-difficulty", "6"}},
		{"lab", func(a []string) error { return runLab(ctx, a, io.Discard) }, []string{"-nodes", "1", "stray", "-difficulty", "6"}},
		{"bench", func(a []string) error { return runBench(ctx, a, io.Discard) }, []string{"-runs", "1", "stray", "-quick"}},
		{"export", func(a []string) error { return runExport(a, io.Discard, io.Discard) }, []string{"-port", "1", "stray", "-difficulty", "6"}},
	} {
		if err := tc.run(tc.args); err == nil || !strings.Contains(err.Error(), `unexpected argument "stray"`) {
			t.Errorf("%s %q: %v, want the stray argument named", tc.name, tc.args, err)
		}
	}
}
