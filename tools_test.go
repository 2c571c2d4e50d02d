package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/client"
	"blockpeer/peer"
)

// startToolNode runs a real node on 127.0.0.1 holding a 30-block chain at
// difficulty 2, until the test ends.
func startToolNode(t *testing.T) (addr string, blocks []*chain.Block) {
	t.Helper()
	blocks = chain.Extend(nil, 30, 2, "tools", 1_700_000_000)
	_, addr = runToolNode(t, blocks)
	return addr, blocks
}

// runToolNode runs a real node on 127.0.0.1 holding blocks (at difficulty
// 2), until the test ends.
func runToolNode(t *testing.T, blocks []*chain.Block) (*peer.Node, string) {
	t.Helper()
	tr, err := peer.ListenUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chain.New(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Adopt(0, blocks); err != nil {
		t.Fatal(err)
	}
	timings := peer.CourseTimings()
	timings.Tick = 10 * time.Millisecond
	n, err := peer.New(peer.Config{Name: "tool-target", Advertise: tr.LocalAddr(), Difficulty: 2, Timings: timings, Log: zerolog.Nop()}, tr, ch)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("node did not stop within 2s")
		}
		tr.Close()
	})
	return n, tr.LocalAddr().String()
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().String()
	conn.Close()
	return addr
}

func ask(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runAsk(context.Background(), args, &out)
	t.Logf("ask %s:\n%s(err %v)", strings.Join(args, " "), out.String(), err)
	return out.String(), err
}

func TestAsk(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	addr, blocks := startToolNode(t)
	top := blocks[29]
	short := func(h string) string { return h[:8] + ".." + h[56:] }
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"stats"}, []string{"chain  30 blocks, top #29", "hash   " + short(top.Hash)}},
		{[]string{"get", "5"}, []string{"block 5 from " + addr, "messages   \"tools 5\"", "hash       " + short(blocks[5].Hash),
			"computed   " + short(blocks[5].Hash) + " (on top of block 4, " + short(blocks[4].Hash) + ")", "valid      yes, at difficulty 2"}},
		{[]string{"-full-hash", "get", "0"}, []string{"hash       " + blocks[0].Hash, "genesis: no previous hash"}},
		{[]string{"get", "99"}, []string{"no such block", `"height":null`}},
		{[]string{"chain"}, []string{"blocks 0..29 (30) from " + addr + ": all valid at difficulty 2 and linked", "top      block 29, " + short(top.Hash)}},
		{[]string{"chain", "10", "19"}, []string{"blocks 10..19 (10) from " + addr + ": all valid at difficulty 2 and linked (to block 9, " + short(blocks[9].Hash) + ")"}},
		{[]string{"chain", "25", "99999"}, []string{"(the peer's top is block 29: fetching up to it)", "blocks 25..29 (5) from " + addr}},
		{[]string{"gossip"}, []string{"GOSSIP_REPLY from " + addr, `name       "tool-target"`, "host:port  " + addr}},
		{[]string{"raw", `{"type":"GET_BLOCK","height":3}`}, []string{addr, `"hash":"` + blocks[3].Hash + `"`}},
		{[]string{"word", "hello"}, []string{`sent to ` + addr + `: {"type":"NEW_WORD","word":"hello"} (no reply expected)`}},
		{[]string{"consensus"}, []string{`{"type":"CONSENSUS"} (no reply expected)`}},
	}
	for _, tc := range cases {
		out, err := ask(t, append([]string{"-difficulty", "2", addr}, tc.args...)...)
		if err != nil {
			t.Errorf("ask %v: %v", tc.args, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("ask %v: output lacks %q", tc.args, w)
			}
		}
	}
}

func TestAskJSON(t *testing.T) {
	addr, blocks := startToolNode(t)
	out, err := ask(t, "-difficulty", "2", "-json", addr, "get", "7")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Block    chain.Block `json:"block"`
		Computed string      `json:"computed_hash"`
		Valid    bool        `json:"valid"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Valid || got.Block.Hash != blocks[7].Hash || got.Computed != blocks[7].Hash {
		t.Errorf("get -json: %+v", got)
	}

	// What get -json prints, announce takes back.
	file := filepath.Join(t.TempDir(), "block.json")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ask(t, "-difficulty", "2", addr, "announce", file); err != nil || !strings.Contains(out, `{"type":"ANNOUNCE","height":7,`) {
		t.Errorf("announce: %v", err)
	}

	out, err = ask(t, "-difficulty", "2", "-json", addr, "chain", "0", "4")
	if err != nil {
		t.Fatal(err)
	}
	var ch struct {
		Valid  bool           `json:"valid"`
		Blocks []*chain.Block `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &ch); err != nil {
		t.Fatal(err)
	}
	if !ch.Valid || len(ch.Blocks) != 5 || chain.ValidPrefix(ch.Blocks, 2) != 5 {
		t.Errorf("chain -json: valid %v, %d blocks", ch.Valid, len(ch.Blocks))
	}
}

func TestAskFailures(t *testing.T) {
	addr, _ := startToolNode(t)
	// At difficulty 30 no block of the test chain is valid.
	out, err := ask(t, "-difficulty", "30", addr, "get", "3")
	if !errors.Is(err, client.ErrInvalid) || !strings.Contains(out, "valid      NO: hash does not meet the difficulty") {
		t.Errorf("get at the wrong difficulty: err %v", err)
	}
	if _, err := ask(t, "-difficulty", "30", addr, "chain"); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("chain at the wrong difficulty: err %v", err)
	}
	dead := closedPort(t)
	_, err = ask(t, "-timeout", "200ms", dead, "stats")
	want := fmt.Sprintf("no reply from %s within 200ms: is it running, is the port right?", dead)
	if err == nil || err.Error() != want {
		t.Errorf("ask a closed port: %v, want %q", err, want)
	}
	if _, err := ask(t, addr, "fly"); !errors.Is(err, client.ErrUsage) {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := ask(t, addr, "get", "x"); !errors.Is(err, client.ErrUsage) {
		t.Errorf("get x: %v", err)
	}
	for _, args := range [][]string{{}, {addr}, {"-bogus", addr, "stats"}, {"-timeout", "0s", addr, "stats"}} {
		if _, err := ask(t, args...); !errors.Is(err, client.ErrUsage) {
			t.Errorf("ask %q: %v, want a usage error", args, err)
		}
	}
}

func TestShellFromPipe(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	addr, blocks := startToolNode(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		fmt.Fprint(w, "help\nstats\n\n# a comment\nget 2\nfly away\nraw {\"type\": \"STATS\"}\n")
		w.Close() // end of input: the shell leaves, as on Ctrl-D
	}()
	var out, errOut bytes.Buffer
	err = runShell(context.Background(), []string{"-difficulty", "2", addr}, r, &out, &errOut)
	t.Logf("shell:\n%s\nstderr:\n%s", out.String(), errOut.String())
	if err == nil || err.Error() != "1 command(s) failed" {
		t.Errorf("shell: %v, want 1 command(s) failed", err)
	}
	for _, w := range []string{"chain [FROM [TO]]", "chain  30 blocks, top #29", "block 2 from " + addr,
		"valid      yes, at difficulty 2", `"type":"STATS_REPLY","height":30,"hash":"` + blocks[29].Hash + `"`} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("shell output lacks %q", w)
		}
	}
	if strings.Contains(out.String(), addr+"> ") {
		t.Errorf("a prompt was printed on a pipe")
	}
	if !strings.Contains(errOut.String(), `error: usage: unknown command "fly"`) {
		t.Errorf("stderr lacks the unknown command")
	}
}

func TestCheckCommand(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	addr, _ := startToolNode(t)
	var out bytes.Buffer
	if err := runCheck(context.Background(), []string{"-difficulty", "2", addr}, &out); err != nil {
		t.Errorf("check of a blockpeer node: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runCheck(context.Background(), []string{"-json", "-difficulty", "2", "-last", "5", addr}, &out); err != nil {
		t.Errorf("check -json: %v", err)
	}
	var rep client.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.Passed || len(rep.Results) != 13 || rep.Results[4].Name != "last-5" {
		t.Errorf("check -json: %v: %s", err, out.String())
	}
	// A failing check is exit status 1 with the report, not an error message.
	out.Reset()
	err := runCheck(context.Background(), []string{"-timeout", "200ms", closedPort(t)}, &out)
	if !errors.Is(err, client.ErrFailed) || !strings.Contains(out.String(), "FAIL  stats") {
		t.Errorf("check of a closed port: %v\n%s", err, out.String())
	}
}

// A valid block over 1024 bytes (minedBy 20 emoji, 10 messages of 20
// emoji) is someone else's block that ask announce passes on: it is sent
// whole, as the spec says, and the node appends it; get then fetches it
// back from the node, which serves it whole too.
func TestAskAnnouncesOversizeBlock(t *testing.T) {
	blocks := chain.Extend(nil, 1, 2, "tools", 1_700_000_000)
	big := &chain.Block{Height: 1, MinedBy: strings.Repeat("😀", 20), Timestamp: 1_700_000_001}
	for range chain.MaxMessages {
		big.Messages = append(big.Messages, strings.Repeat("🧱", chain.MaxMessageRunes))
	}
	if !chain.Mine(blocks[0].Hash, big, 2, 1<<30) {
		t.Fatal("could not mine the oversize block")
	}
	n, addr := runToolNode(t, blocks)
	data, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ask(t, "-difficulty", "2", addr, "announce", file)
	if err != nil || !strings.Contains(out, "bytes, over the 1024 most peers read: sent whole, as the spec has a valid block sent") {
		t.Fatalf("announce of the oversize block: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := n.Status(ctx)
		cancel()
		if err == nil && st.Tip == big.Hash {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never appended the announced oversize block (height %d)", st.Height)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err = ask(t, "-difficulty", "2", addr, "get", "1")
	if err != nil || !strings.Contains(out, "valid      yes, at difficulty 2") || !strings.Contains(out, big.MinedBy) {
		t.Errorf("get 1 of the oversize block: %v", err)
	}
}
