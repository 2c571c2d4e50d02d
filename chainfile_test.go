package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
	"blockpeer/protocol"
	"blockpeer/store"
)

// buildBinary builds the command into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "blockpeer")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs bin to completion (10 s at most) with stdin.
func runBinary(t *testing.T, bin string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("blockpeer %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// process is a blockpeer process whose JSON log lines the test reads.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(p.kill)
	return p
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *process) kill() {
	if p.exited == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.exited = nil
}

// lines returns the complete JSON log lines so far (other lines skipped).
func (p *process) lines() []logLine {
	var out []logLine
	for s := range strings.Lines(p.out.String()) {
		var l logLine
		if strings.HasSuffix(s, "\n") && json.Unmarshal([]byte(s), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits for a log line with message msg and returns it.
func (p *process) waitLine(t *testing.T, timeout time.Duration, msg string) logLine {
	t.Helper()
	var found logLine
	eventually(t, timeout, fmt.Sprintf("log line %q; output so far:\n%s", msg, tailOf(p)), func() bool {
		var ok bool
		found, ok = firstLine(p.lines(), msg)
		return ok
	})
	return found
}

func tailOf(p *process) string { return tail(p.out.String(), 20) }

// sourcePeer is an in-test peer that serves a chain over UDP on 127.0.0.1
// at a bounded rate, so that a sync from it lasts long enough to be
// interrupted. It answers GOSSIP, STATS and GET_BLOCK.
type sourcePeer struct {
	conn    *net.UDPConn
	blocks  []*chain.Block
	replies [][]byte

	mu        sync.Mutex
	perMs     int   // GET_BLOCK replies per millisecond at most
	requested []int // heights asked for since the last reset
}

// setRate sets how many GET_BLOCK replies per millisecond it sends at most.
func (s *sourcePeer) setRate(perMs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perMs = perMs
}

func startSourcePeer(t *testing.T, blocks []*chain.Block, perMs int) *sourcePeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sourcePeer{conn: conn, blocks: blocks, perMs: perMs}
	for _, b := range blocks {
		data, err := protocol.Encode(protocol.GetBlockReply{Block: b})
		if err != nil {
			t.Fatal(err)
		}
		s.replies = append(s.replies, data)
	}
	done := make(chan struct{})
	go s.serve(done)
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

func (s *sourcePeer) addr() string { return s.conn.LocalAddr().String() }

func (s *sourcePeer) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	served := 0
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		var m struct {
			Type   string `json:"type"`
			Height int    `json:"height"`
			Host   string `json:"host"`
			Port   int    `json:"port"`
		}
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		switch m.Type {
		case "GOSSIP":
			reply, _ := protocol.Encode(protocol.GossipReply{Host: "127.0.0.1", Port: s.conn.LocalAddr().(*net.UDPAddr).Port, Name: "source"})
			s.conn.WriteToUDP(reply, &net.UDPAddr{IP: net.ParseIP(m.Host), Port: m.Port})
		case "STATS":
			reply, _ := protocol.Encode(protocol.StatsReply{Height: len(s.blocks), Hash: s.blocks[len(s.blocks)-1].Hash})
			s.conn.WriteToUDP(reply, from)
		case "GET_BLOCK":
			s.mu.Lock()
			s.requested = append(s.requested, m.Height)
			s.mu.Unlock()
			if m.Height < 0 || m.Height >= len(s.replies) {
				reply, _ := protocol.Encode(protocol.GetBlockReply{})
				s.conn.WriteToUDP(reply, from)
				continue
			}
			s.conn.WriteToUDP(s.replies[m.Height], from)
			s.mu.Lock()
			perMs := s.perMs
			s.mu.Unlock()
			if served++; served%perMs == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// takeRequested returns the heights asked for since the last call.
func (s *sourcePeer) takeRequested() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requested
	s.requested = nil
	return r
}

// drain waits until the requests of a killed node stop arriving (they
// may sit in the socket's buffer) and forgets them.
func (s *sourcePeer) drain(t *testing.T) {
	t.Helper()
	last := -1
	eventually(t, 10*time.Second, "the source to go quiet", func() bool {
		time.Sleep(100 * time.Millisecond)
		n := s.requestedCount()
		quiet := n == last
		last = n
		return quiet
	})
	s.takeRequested()
}

func (s *sourcePeer) requestedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requested)
}

// storedChain opens the store at path (no process may hold it), loads it
// and verifies it as a whole.
func storedChain(t *testing.T, path string, difficulty int) ([]*chain.Block, chain.Verification) {
	t.Helper()
	s, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("open the store after the kill: %v", err)
	}
	defer s.Close()
	blocks, err := s.Load()
	if err != nil {
		t.Fatalf("load the store after the kill: %v", err)
	}
	return blocks, chain.Verify(blocks, difficulty, nil)
}

// TestKillDuringSync runs the real binary with -data syncing a long chain
// from a rate-limited source, SIGKILLs it at varied moments of the sync
// (8 times, before and after the first and later one-second keeps of
// verified blocks) and restarts it each time on the same directory. After every
// kill the store must hold a valid chain, never shorter than before, and
// holding every block the node reported stored before the kill; each
// restart must resume from the stored height, and the last run must end
// with the whole chain, fetching only what was missing.
func TestKillDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a long sync: not in -short")
	}
	t.Parallel() // mostly waits on a rate-limited sync: the other waiting tests run beside it
	const (
		difficulty = 1
		length     = 12_000
		perMs      = 1 // 1,000 blocks/s at most: a full sync takes over 12 s
	)
	bin := buildBinary(t)
	blocks := chain.Extend(nil, length, difficulty, "kill", 1_700_000_000)
	src := startSourcePeer(t, blocks, perMs)
	dir := t.TempDir()
	port := freeUDPPorts(t, 1)[0]
	args := []string{"-name", "victim", "-host", "127.0.0.1", "-port", fmt.Sprint(port), "-peers", src.addr(),
		"-difficulty", fmt.Sprint(difficulty), "-data", dir, "-log-format", "json", "-log-level", "debug", "-consensus-interval", "4s"}
	path := filepath.Join(dir, store.Name(port, difficulty))

	// Kill moments, after the first block request of each run. They add
	// up to 9.6 s: at 1,000 blocks/s no run can fetch the whole chain, so
	// every kill is in the middle of the sync.
	delays := []time.Duration{400, 1300, 2200, 900, 1600, 200, 1100, 1900}
	height, midSync := 0, 0
	for i, d := range delays {
		d *= time.Millisecond
		src.drain(t)
		p := startProcess(t, bin, args...)
		loaded := p.waitLine(t, 20*time.Second, "joining")
		if got := loaded.int("blocks"); got != height {
			t.Fatalf("run %d: joined with %d blocks, but the store held %d", i, got, height)
		}
		eventually(t, 20*time.Second, "the first GET_BLOCK of run "+fmt.Sprint(i), func() bool { return src.requestedCount() > 0 })
		time.Sleep(d)
		p.kill()

		storedBefore := 0 // the highest height the node said it had stored
		for _, l := range p.lines() {
			if m := l.msg(); m == "sync: verified blocks stored" || m == "chain valid: adopted" {
				storedBefore = max(storedBefore, l.int("blocks"))
			}
		}
		got, v := storedChain(t, path, difficulty)
		if !v.OK() {
			t.Fatalf("run %d, killed %v into the sync: the store fails verification: %v", i, d, v.Err)
		}
		if len(got) < height || len(got) < storedBefore {
			t.Fatalf("run %d: after the kill the store holds %d blocks; before it held %d and the node had stored %d",
				i, len(got), height, storedBefore)
		}
		for _, h := range []int{0, len(got) / 2, len(got) - 1} {
			if h >= 0 && h < len(got) && got[h].Hash != blocks[h].Hash {
				t.Fatalf("run %d: stored block %d is not the source's", i, h)
			}
		}
		asked := src.takeRequested()
		for _, h := range asked {
			if h < height-1 { // the fork-point probe asks for our top block once
				t.Fatalf("run %d: asked for block %d, below the %d blocks already stored", i, h, height)
			}
		}
		if len(got) < length {
			midSync++
		}
		t.Logf("run %d: killed %v after the first request: %d -> %d blocks stored (%d requests)", i, d, height, len(got), len(asked))
		height = len(got)
	}
	if midSync < len(delays) {
		t.Fatalf("only %d of the %d kills happened in the middle of the sync", midSync, len(delays))
	}
	if height == 0 {
		t.Fatalf("no block was ever kept across the kills")
	}

	// The last run completes the sync from where the store is, served at
	// full speed.
	src.drain(t)
	src.setRate(1000)
	p := startProcess(t, bin, args...)
	adopted := p.waitLine(t, 60*time.Second, "chain valid: adopted")
	if adopted.int("blocks") != length {
		t.Fatalf("last run adopted %v, want height %d", adopted, length)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited = nil
		if err != nil {
			t.Errorf("last run after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("last run still running 5 s after SIGTERM")
	}
	asked := src.takeRequested()
	below := 0
	for _, h := range asked {
		if h < height-1 {
			below++
		}
	}
	if below > 0 || len(asked) < length-height {
		t.Fatalf("last run: %d requests, %d of them below the %d stored blocks; want only the %d missing blocks (and a probe)",
			len(asked), below, height, length-height)
	}
	got, v := storedChain(t, path, difficulty)
	if !v.OK() || len(got) != length || got[length-1].Hash != blocks[length-1].Hash {
		t.Fatalf("final store: %d blocks, %v", len(got), v.Err)
	}
	t.Logf("last run: fetched the %d missing blocks with %d requests, in %vs", length-height, len(asked), adopted["took"])
}

// realChainFile writes the Fall 2024 main chain's first two blocks, real
// blocks of the spec's vectors (difficulty 8), as a chain file.
func realChainFile(t *testing.T, dir string) (string, []*chain.Block) {
	t.Helper()
	v := vectors.Load(t)
	var blocks []*chain.Block
	for h := range 2 {
		b := v.Find(t, "fall2024-main", h)
		if !b.Verified {
			t.Fatalf("vectors: block %s is not marked verified", b.Name())
		}
		blocks = append(blocks, b.Copy())
	}
	path := filepath.Join(dir, "real.json")
	if err := store.WriteFile(path, blocks); err != nil {
		t.Fatal(err)
	}
	return path, blocks
}

// TestChainFileRoundTrip: real blocks go into a node's store through
// -chain, come out with export, pass verify, and start another node and a
// lab's seed through -chain, which serve them.
func TestChainFileRoundTrip(t *testing.T) {
	t.Parallel() // mostly waits (on processes, replies or timeouts)
	bin := buildBinary(t)
	dir := t.TempDir()
	realFile, real := realChainFile(t, dir)
	tip := real[len(real)-1].Hash
	data := filepath.Join(dir, "data")
	port := freeUDPPorts(t, 1)[0]

	// Import into a node with a store.
	p := startProcess(t, bin, "-name", "a", "-host", "127.0.0.1", "-port", fmt.Sprint(port), "-peers", "127.0.0.1:1",
		"-data", data, "-chain", realFile, "-log-format", "json")
	if l := p.waitLine(t, 10*time.Second, "joining"); l.int("blocks") != len(real) {
		t.Fatalf("node started from %s with %d blocks, want %d", realFile, l.int("blocks"), len(real))
	}
	// While it runs, the store is locked: export says so, and how to
	// export from the running node, which works.
	_, stderr, code := runBinary(t, bin, nil, "export", "-data", data, "-port", fmt.Sprint(port))
	if code == 0 || !strings.Contains(stderr, "is in use by another blockpeer process: stop the node first, or export from it while it runs: blockpeer export -peer HOST:PORT > chain.json") ||
		strings.Contains(stderr, "another -port") {
		t.Errorf("export of a running node's store: exit %d, %q; want an error saying it is in use and what to do", code, stderr)
	}
	wire, stderr, code := runBinary(t, bin, nil, "export", "-peer", fmt.Sprintf("127.0.0.1:%d", port))
	if got, err := store.ReadBlocks(strings.NewReader(wire)); code != 0 || err != nil || !reflect.DeepEqual(got, real) ||
		!strings.Contains(stderr, fmt.Sprintf("exported %d blocks, tip %s, difficulty 8, from 127.0.0.1:%d", len(real), tip, port)) {
		t.Errorf("export -peer of the running node: exit %d, %d blocks, %v; stderr %q", code, len(got), err, stderr)
	}
	if _, stderr, code := runBinary(t, bin, nil, "export", "-peer", fmt.Sprintf("127.0.0.1:%d", port), "-difficulty", "9"); code == 0 ||
		!strings.Contains(stderr, "does not verify at difficulty 9") {
		t.Errorf("export -peer at the wrong difficulty: exit %d, %q", code, stderr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.exited; err != nil {
		t.Fatalf("node after SIGTERM: %v", err)
	}
	p.exited = nil

	// Export: the only store in the directory, no flags needed.
	exported, stderr, code := runBinary(t, bin, nil, "export", "-data", data)
	if code != 0 || !strings.Contains(stderr, "exported 2 blocks, tip "+tip) {
		t.Fatalf("export: exit %d, stderr %q", code, stderr)
	}
	got, err := store.ReadBlocks(strings.NewReader(exported))
	if err != nil || len(got) != len(real) {
		t.Fatalf("exported file: %d blocks, %v:\n%s", len(got), err, exported)
	}
	for i := range real {
		if fmt.Sprint(*got[i]) != fmt.Sprint(*real[i]) {
			t.Fatalf("exported block %d = %+v, want %+v", i, *got[i], *real[i])
		}
	}
	exportedFile := filepath.Join(dir, "exported.json")
	if err := os.WriteFile(exportedFile, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}

	// Verify.
	out, _, code := runBinary(t, bin, nil, "verify", "-difficulty", "8", exportedFile)
	if code != 0 || out != "valid, 2 blocks, tip "+tip+"\n" {
		t.Fatalf("verify: exit %d, %q", code, out)
	}
	out, _, code = runBinary(t, bin, strings.NewReader(exported), "verify", "-difficulty", "9", "-")
	if code != 1 || !strings.HasPrefix(out, "invalid: block 0: hash does not meet the difficulty") {
		t.Errorf("verify -difficulty 9: exit %d, %q; want 1 and block 0 named", code, out)
	}
	tampered := strings.Replace(exported, `"test"`, `"tset"`, 1)
	out, _, code = runBinary(t, bin, strings.NewReader(tampered), "verify", "-difficulty", "8", "-")
	if code != 1 || !strings.HasPrefix(out, "invalid: block 1: hash does not match") || !strings.Contains(out, "the first 1 of 2 blocks") {
		t.Errorf("verify of a tampered file: exit %d, %q; want 1 and block 1 named", code, out)
	}
	_, stderr, code = runBinary(t, bin, strings.NewReader("[{"), "verify", "-")
	if code != 2 || !strings.Contains(stderr, "not a chain file") {
		t.Errorf("verify of garbage: exit %d, %q; want 2", code, stderr)
	}

	// Import into a node without a store: it serves the blocks.
	port2 := freeUDPPorts(t, 1)[0]
	p2 := startProcess(t, bin, "-name", "b", "-host", "127.0.0.1", "-port", fmt.Sprint(port2), "-peers", "127.0.0.1:1",
		"-data", "", "-chain", exportedFile, "-log-format", "json")
	p2.waitLine(t, 10*time.Second, "joining")
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port2})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func(req string) string {
		t.Helper()
		buf := make([]byte, 2048)
		for range 20 { // UDP: ask again if a reply is lost
			conn.Write([]byte(req))
			conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
			if n, err := conn.Read(buf); err == nil {
				return string(buf[:n])
			}
		}
		t.Fatalf("no reply to %s", req)
		return ""
	}
	if r := ask(`{"type":"STATS"}`); !strings.Contains(r, `"height":2`) || !strings.Contains(r, tip) {
		t.Errorf("STATS of the node started with -chain: %s", r)
	}
	if r := ask(`{"type":"GET_BLOCK","height":1}`); !strings.Contains(r, `"nonce":"4776171179467"`) || !strings.Contains(r, tip) {
		t.Errorf("GET_BLOCK 1 of the node started with -chain: %s", r)
	}
	p2.kill()

	// A file that fails verification is refused.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(tampered), 0o644)
	_, stderr, code = runBinary(t, bin, nil, "-name", "c", "-host", "127.0.0.1", "-port", "0", "-peers", "127.0.0.1:1",
		"-data", "", "-chain", bad, "-log-format", "json")
	if code == 0 || !strings.Contains(stderr, "fails verification at difficulty 8: block 1: hash does not match") {
		t.Errorf("node with a tampered -chain: exit %d, %q", code, stderr)
	}

	// The lab's seed serves the file's chain and its peer syncs it.
	lab := startProcess(t, bin, "lab", "-nodes", "1", "-base-port", "0", "-http", "", "-difficulty", "8",
		"-mine-threads", "1", "-chain", exportedFile, "-log-format", "json", "-log-level", "info")
	var synced bool
	eventually(t, 15*time.Second, "the lab's peer to sync the file's chain; output:\n"+tailOf(lab), func() bool {
		for _, l := range lab.lines() {
			if l["node"] == "lab-1" && l.msg() == "chain valid: adopted" && l.int("blocks") == 2 {
				synced = true
			}
		}
		return synced
	})
	if banner := lab.out.String(); !strings.Contains(banner, "seed (serves the 2 blocks of "+exportedFile+" and mines on top)") || strings.Contains(banner, "fresh chain") {
		t.Errorf("the banner of a lab started with -chain does not say the seed serves the file's chain:\n%s", tailOf(lab))
	}
	lab.kill()
}

// TestStoreOnStart: a node on a tampered store warns with the first bad
// height and why, serves the valid prefix and moves the invalid blocks to a
// file; a second node on the same store gets a clear error.
func TestStoreOnStart(t *testing.T) {
	dir := t.TempDir()
	ports := freeUDPPorts(t, 1)
	peers := "127.0.0.1:1"
	path := filepath.Join(dir, store.Name(ports[0], 2))
	blocks := chain.Extend(nil, 10, 2, "t", 1000)
	stored := append([]*chain.Block(nil), blocks...)
	stored[6] = blocks[6].Clone()
	stored[6].MinedBy = "mallory"
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(0, stored); err != nil {
		t.Fatal(err)
	}
	s.Close()

	args := []string{"-name", "a", "-host", "127.0.0.1", "-port", fmt.Sprint(ports[0]), "-peers", peers,
		"-difficulty", "2", "-data", dir, "-log-format", "json"}
	out := &syncBuffer{}
	a := startRunNode(t, "a", args, out)
	var joined logLine
	eventually(t, 5*time.Second, "a to join", func() bool {
		var ok bool
		joined, ok = firstLine(jsonLines(t, out.String()), "joining")
		return ok
	})
	warn, ok := firstLine(jsonLines(t, out.String()), "stored chain fails verification: serving the valid prefix; the invalid blocks are moved out of the store")
	if !ok {
		t.Fatalf("no warning about the tampered store:\n%s", out.String())
	}
	if warn["level"] != "warn" || warn.int("first_bad_height") != 6 || !strings.Contains(fmt.Sprint(warn["why"]), "block 6: hash does not match") {
		t.Errorf("warning %v: want first_bad_height 6 and why", warn)
	}
	if joined.int("blocks") != 6 {
		t.Errorf("joined with %d blocks, want the 6 valid blocks", joined.int("blocks"))
	}
	saved, _ := warn["saved_to"].(string)
	tail, err := store.ReadFile(saved)
	if err != nil || len(tail) != 4 || tail[0].MinedBy != "mallory" {
		t.Errorf("saved tail %s: %d blocks, %v", saved, len(tail), err)
	}

	// A second node on the same store (it would need another address with
	// the same port: here, the store opening alone, as runNode does it).
	if ch, err := openNodeChain(path, 2, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), path+" is in use by another blockpeer process") {
		if err == nil {
			ch.Close()
		}
		t.Errorf("second node on the same store: %v", err)
	}
	a.stop(t)

	got, v := storedChain(t, path, 2)
	if !v.OK() || len(got) != 6 {
		t.Errorf("store after the start: %d blocks, %v; want the 6 valid ones only", len(got), v.Err)
	}
}

// TestExportPicksStore: export names the stores it found, with their
// chains, when it cannot tell which one to read.
func TestExportPicksStore(t *testing.T) {
	dir := t.TempDir()
	var errOut bytes.Buffer
	err := runExport([]string{"-data", dir}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no chain database (chain-PORT-dDIFFICULTY.db) in "+dir) {
		t.Errorf("export of an empty dir: %v", err)
	}
	blocks := chain.Extend(nil, 3, 2, "e", 1)
	for _, port := range []int{9001, 9002} {
		s, err := store.Open(filepath.Join(dir, store.Name(port, 2)))
		if err != nil {
			t.Fatal(err)
		}
		s.Replace(0, blocks[:port-9000])
		s.Close()
	}
	err = runExport([]string{"-data", dir}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "(port 9001, difficulty 2)") || !strings.Contains(err.Error(), "(port 9002, difficulty 2)") ||
		!strings.Contains(err.Error(), "-genesis "+blocks[0].Hash[:12]+"   2 blocks, tip "+blocks[1].Hash[:12]+", last used ") {
		t.Errorf("export with two stores and no flags: %v", err)
	}
	var out bytes.Buffer
	if err := runExport([]string{"-data", dir, "-port", "9002", "-difficulty", "2"}, &out, &errOut); err != nil {
		t.Fatalf("export -port 9002: %v", err)
	}
	if got, err := store.ReadBlocks(&out); err != nil || len(got) != 2 {
		t.Errorf("export -port 9002: %d blocks, %v", len(got), err)
	}
	out.Reset()
	// -peers is ignored now: the store no longer depends on it.
	if err := runExport([]string{"-data", dir, "-port", "9002", "-peers", "10.1.2.3:1", "-difficulty", "2"}, &out, &errOut); err != nil {
		t.Errorf("export -peers: %v", err)
	}
	out.Reset()
	file := filepath.Join(dir, store.Name(9001, 2))
	if err := runExport([]string{"-file", file}, &out, &errOut); err != nil {
		t.Fatalf("export -file: %v", err)
	}
	if got, err := store.ReadBlocks(&out); err != nil || len(got) != 1 {
		t.Errorf("export -file (difficulty from the name): %d blocks, %v", len(got), err)
	}
	if err := runExport([]string{"-data", dir, "-port", "9003", "-difficulty", "2"}, io.Discard, &errOut); err == nil ||
		!strings.Contains(err.Error(), "-file "+file) {
		t.Errorf("export -port 9003: %v; want the stores listed with -file", err)
	}
	if err := runExport([]string{"stray"}, io.Discard, &errOut); err == nil {
		t.Errorf("export stray: no error")
	}
}

// TestExportChainsByGenesis: a store that has been on two networks keeps
// both chains; export -list shows them by genesis, blocks, tip and when
// last used, export writes the one the node serves, and -genesis the
// other. A store of the old naming (with a hash of -peers) is read too.
func TestExportChainsByGenesis(t *testing.T) {
	dir := t.TempDir()
	a := chain.Extend(nil, 4, 2, "network a", 1000)
	b := chain.Extend(nil, 6, 2, "network b", 2000)
	path := filepath.Join(dir, store.Name(9005, 2))
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := chain.New(2, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Adopt(0, a); err != nil {
		t.Fatal(err)
	}
	if err := c.Adopt(0, b); err != nil {
		t.Fatal(err)
	}
	c.Close()

	var out, errOut bytes.Buffer
	if err := runExport([]string{"-data", dir, "-list"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	listing := out.String()
	t.Logf("export -list:\n%s", listing)
	lineB := "-genesis " + b[0].Hash[:12] + "   6 blocks, tip " + b[5].Hash[:12] + ", last used "
	lineA := "-genesis " + a[0].Hash[:12] + "   4 blocks, tip " + a[3].Hash[:12] + ", last used "
	if !strings.Contains(listing, lineB) || !strings.Contains(listing, "(the chain the node serves)") || !strings.Contains(listing, lineA) ||
		strings.Index(listing, lineB) > strings.Index(listing, lineA) {
		t.Errorf("export -list lacks the two chains, the served one first")
	}
	out.Reset()
	if err := runExport([]string{"-data", dir, "-port", "9005", "-difficulty", "2"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got, err := store.ReadBlocks(&out); err != nil || len(got) != 6 || got[0].Hash != b[0].Hash {
		t.Errorf("export: %d blocks, %v; want network b's 6", len(got), err)
	}
	out.Reset()
	if err := runExport([]string{"-data", dir, "-port", "9005", "-difficulty", "2", "-genesis", a[0].Hash[:8]}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got, err := store.ReadBlocks(&out); err != nil || len(got) != 4 || got[0].Hash != a[0].Hash {
		t.Errorf("export -genesis: %d blocks, %v; want network a's 4", len(got), err)
	}
	if err := runExport([]string{"-data", dir, "-port", "9005", "-difficulty", "2", "-genesis", "zz"}, io.Discard, &errOut); err == nil ||
		!strings.Contains(err.Error(), "-genesis zz: no stored chain") || !strings.Contains(err.Error(), lineA) {
		t.Errorf("export -genesis of no chain: %v", err)
	}

	// A store of the old naming, before any node of the new one started.
	old := filepath.Join(dir, store.LegacyName([]string{"127.0.0.1:9100"}, 9006, 2))
	writeOldStore(t, old, a)
	out.Reset()
	if err := runExport([]string{"-data", dir, "-port", "9006", "-difficulty", "2"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got, err := store.ReadBlocks(&out); err != nil || len(got) != 4 {
		t.Errorf("export of an old store: %d blocks, %v", len(got), err)
	}
}

// writeOldStore writes a store as an older blockpeer did: one chain in a
// bucket "blocks".
func writeOldStore(t *testing.T, path string, blocks []*chain.Block) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("blocks"))
		if err != nil {
			return err
		}
		for h, b := range blocks {
			v, _ := json.Marshal(b)
			if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(h)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRestartVersusFreshSync measures, with the real binary, the time
// from a node's start to holding a 10,000-block chain served by another
// blockpeer started with -chain: "fresh" starts on an empty -data
// directory, "restart" on a store holding all but the last 100 blocks (a
// node that was down while 100 blocks were mined). Both include the course
// timings' 1 s join delay before the first consensus; s/synced is the
// whole time, load_s the loading and verification of the store, fetch_s
// the sync itself.
//
//	go test -run x -bench RestartVersusFreshSync -benchtime 5x .
func BenchmarkRestartVersusFreshSync(b *testing.B) {
	const (
		difficulty = 2
		length     = 10_000
		missed     = 100
	)
	bin := buildBinary(b)
	dir := b.TempDir()
	blocks := chain.Extend(nil, length, difficulty, "bench", 1_700_000_000)
	file := filepath.Join(dir, "chain.json")
	if err := store.WriteFile(file, blocks); err != nil {
		b.Fatal(err)
	}
	ports := freeUDPPorts(b, 2)
	srcAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	src := exec.Command(bin, "-name", "source", "-host", "127.0.0.1", "-port", fmt.Sprint(ports[0]), "-peers", "127.0.0.1:1",
		"-data", "", "-chain", file, "-difficulty", fmt.Sprint(difficulty), "-log-format", "json", "-log-level", "warn")
	if err := src.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { src.Process.Kill(); src.Wait() }()

	// The restart's store: all but the last blocks, copied for each run.
	partial := filepath.Join(dir, "partial.db")
	s, err := store.Open(partial)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Replace(0, blocks[:length-missed]); err != nil {
		b.Fatal(err)
	}
	s.Close()
	stored, err := os.ReadFile(partial)
	if err != nil {
		b.Fatal(err)
	}

	for _, restart := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "restart"}[restart]
		b.Run(name, func(b *testing.B) {
			var total, load, fetch float64
			for b.Loop() {
				b.StopTimer()
				data := b.TempDir()
				if restart {
					path := filepath.Join(data, store.Name(ports[1], difficulty))
					if err := os.WriteFile(path, stored, 0o600); err != nil {
						b.Fatal(err)
					}
				}
				out := &syncBuffer{}
				cmd := exec.Command(bin, "-name", "bench", "-host", "127.0.0.1", "-port", fmt.Sprint(ports[1]), "-peers", srcAddr,
					"-data", data, "-difficulty", fmt.Sprint(difficulty), "-log-format", "json")
				cmd.Stdout, cmd.Stderr = out, out
				b.StartTimer()
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				var adopted, loaded logLine
				deadline := start.Add(60 * time.Second)
				for adopted == nil {
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						cmd.Wait()
						b.Fatalf("%s: not synced within 60 s:\n%s", name, tail(out.String(), 20))
					}
					time.Sleep(2 * time.Millisecond)
					var lines []logLine
					for s := range strings.Lines(out.String()) {
						var l logLine
						if strings.HasSuffix(s, "\n") && json.Unmarshal([]byte(s), &l) == nil {
							lines = append(lines, l)
						}
					}
					adopted, _ = firstLine(lines, "chain valid: adopted")
					loaded, _ = firstLine(lines, "stored chain loaded and verified")
				}
				took := time.Since(start)
				b.StopTimer()
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
				if adopted.int("blocks") != length || (restart && adopted.int("fetched") != missed) {
					b.Fatalf("%s: adopted %v, want height %d", name, adopted, length)
				}
				total += took.Seconds()
				fetch += adopted["took"].(float64)
				if loaded != nil {
					load += loaded["took"].(float64)
				}
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(total/n, "s/synced")
			b.ReportMetric(load/n, "load_s")
			b.ReportMetric(fetch/n, "fetch_s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestStoreOnStartDamaged: a store whose first record is missing (a gap
// at 0) is reported as damaged, not as empty, and is cleared; an empty
// chain file is refused.
func TestStoreOnStartDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	blocks := chain.Extend(nil, 4, 2, "d", 1)
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(1, blocks[1:]); err != nil { // heights 1..3, no 0
		t.Fatal(err)
	}
	s.Close()
	var logs bytes.Buffer
	log, err := newLogger(&logs, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := openNodeChain(path, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	warn, ok := firstLine(jsonLines(t, logs.String()), "stored chain is damaged: serving the valid prefix; the damaged records are deleted")
	if !ok || warn.int("first_bad_height") != 0 || !strings.Contains(fmt.Sprint(warn["why"]), "no block at height 0") {
		t.Errorf("damaged store: logs %s", logs.String())
	}
	if ch.Height() != 0 {
		t.Errorf("damaged store: height %d", ch.Height())
	}
	ch.Close()
	if got, v := storedChain(t, path, 2); len(got) != 0 || !v.OK() {
		t.Errorf("damaged store after the start: %d blocks, %v; want it cleared", len(got), v.Err)
	}

	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := store.WriteFile(empty, nil); err != nil {
		t.Fatal(err)
	}
	mem, _ := chain.New(2, nil)
	if err := importChainFile(mem, empty, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "holds no blocks") {
		t.Errorf("-chain with an empty file: %v", err)
	}
}

// TestStoreIgnoresPeersSpelling: the node's store is one per port and
// difficulty. A store an older blockpeer named by its -peers list is
// folded in at the start (and kept as .migrated), and a node started with
// another spelling or order of -peers serves the same chain.
func TestStoreIgnoresPeersSpelling(t *testing.T) {
	dir := t.TempDir()
	port := freeUDPPorts(t, 1)[0]
	blocks := chain.Extend(nil, 7, 2, "spelling", 1000)
	legacy := filepath.Join(dir, store.LegacyName([]string{"127.0.0.1:1", "127.0.0.1:2"}, port, 2))
	writeOldStore(t, legacy, blocks)

	for i, peers := range []string{"127.0.0.1:1,127.0.0.1:2", "127.0.0.1:2, 127.0.0.1:1", "localhost:1"} {
		out := &syncBuffer{}
		n := startRunNode(t, fmt.Sprint("spelling-", i), []string{"-name", "a", "-host", "127.0.0.1", "-port", fmt.Sprint(port), "-peers", peers,
			"-difficulty", "2", "-data", dir, "-log-format", "json"}, out)
		var joined logLine
		eventually(t, 5*time.Second, "the node to join", func() bool {
			var ok bool
			joined, ok = firstLine(jsonLines(t, out.String()), "joining")
			return ok
		})
		n.stop(t)
		if joined.int("blocks") != len(blocks) {
			t.Errorf("-peers %q: joined with height %d, want the stored %d\n%s", peers, joined.int("blocks"), len(blocks), out.String())
		}
		_, migrated := firstLine(jsonLines(t, out.String()), "chain database of the old naming folded in (kept as .migrated)")
		if migrated != (i == 0) {
			t.Errorf("-peers %q: migration line %v, want it on the first start only", peers, migrated)
		}
	}
	files, err := store.Find(dir)
	if err != nil || len(files) != 1 || files[0].Path != filepath.Join(dir, store.Name(port, 2)) {
		t.Errorf("stores in the data directory: %+v, %v; want only %s", files, err, store.Name(port, 2))
	}
	if _, err := os.Stat(legacy + ".migrated"); err != nil {
		t.Errorf("the old store is not kept: %v", err)
	}
}
