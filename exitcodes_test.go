package main

import (
	"path/filepath"
	"strings"
	"testing"

	"blockpeer/chain"
	"blockpeer/store"
)

// TestBinaryExitCodes runs the built binary (go build -o blockpeer ., as
// the README tells scripts to: go run turns every failure into status 1)
// and checks the exit statuses docs/tools.md documents: 0 success, 1 a
// failed check or an invalid chain or no answer, 2 a usage error or an
// unreadable file.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	bin := buildBinary(t)
	addr, blocks := startToolNode(t)
	dead := closedPort(t)
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.json")
	if err := store.WriteFile(valid, blocks); err != nil {
		t.Fatal(err)
	}
	tampered := append([]*chain.Block(nil), blocks...)
	tampered[4] = blocks[4].Clone()
	tampered[4].MinedBy = "mallory"
	invalid := filepath.Join(dir, "invalid.json")
	if err := store.WriteFile(invalid, tampered); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		says string // in stdout or stderr
	}{
		{[]string{"verify", valid, "-difficulty", "2"}, 0, "valid, 30 blocks"},
		{[]string{"verify", "-difficulty", "2", invalid}, 1, "invalid: block 4"},
		{[]string{"verify", filepath.Join(dir, "none.json")}, 2, "no such file"},
		{[]string{"verify"}, 2, "want one chain file"},
		{[]string{"verify", "-bogus", valid}, 2, "flag provided but not defined: -bogus"},
		{[]string{"verify", "-h"}, 0, "Exit status 0 when valid, 1 when invalid, 2 when unreadable"},

		{[]string{"ask", addr, "stats", "-difficulty", "2"}, 0, "chain  30 blocks, top #29"},
		{[]string{"ask", "-timeout", "200ms", dead, "stats"}, 1, "no reply from " + dead},
		{[]string{"ask", addr, "get", "3"}, 1, "valid      NO"}, // difficulty 8
		{[]string{"ask"}, 2, "HOST:PORT of the peer is missing"},
		{[]string{"ask", addr, "fly"}, 2, `unknown command "fly"`},
		{[]string{"ask", addr, "stats", "-bogus"}, 2, "flag provided but not defined: -bogus"},

		{[]string{"check", addr, "-difficulty", "2", "-last", "5"}, 0, "0 FAIL"},
		{[]string{"check", "-timeout", "200ms", dead}, 1, "FAIL  stats"},
		{[]string{"check"}, 2, "HOST:PORT of the peer is missing"},
		{[]string{"check", addr, "extra"}, 2, `unexpected "extra"`},
		{[]string{"check", addr, "-last", "0"}, 2, "-last must be at least 1"},

		{[]string{"-name", "x", "-peers", "127.0.0.1", "-data", ""}, 2, `-peers: "127.0.0.1" has no port`},
		{[]string{"export", "stray"}, 2, `unexpected argument "stray"`},
	} {
		stdout, stderr, code := runBinary(t, bin, nil, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.says) {
			t.Errorf("blockpeer %s: exit status %d, want %d saying %q\nstdout: %s\nstderr: %s",
				strings.Join(tc.args, " "), code, tc.code, tc.says, tail(stdout, 5), stderr)
		}
	}
}
