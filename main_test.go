package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/peer"
)

// syncBuffer is an output that several goroutines may write and the test
// read at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLine is one JSON log line.
type logLine map[string]any

func (l logLine) msg() string { s, _ := l["message"].(string); return s }

// int returns the number field key, or -1.
func (l logLine) int(key string) int {
	if f, ok := l[key].(float64); ok {
		return int(f)
	}
	return -1
}

// jsonLines parses every complete line of out as a JSON object.
func jsonLines(t *testing.T, out string) []logLine {
	t.Helper()
	var lines []logLine
	for s := range strings.Lines(out) {
		if !strings.HasSuffix(s, "\n") {
			break // a line still being written
		}
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, s)
		}
		lines = append(lines, l)
	}
	return lines
}

// firstLine returns the first line with message msg.
func firstLine(lines []logLine, msg string) (logLine, bool) {
	for _, l := range lines {
		if l.msg() == msg {
			return l, true
		}
	}
	return nil, false
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeUDPPorts returns n distinct UDP ports free on 127.0.0.1 a moment ago.
func freeUDPPorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var conns []net.PacketConn
	for range n {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, pc)
		ports = append(ports, pc.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, pc := range conns {
		pc.Close()
	}
	return ports
}

// flagHelp returns the help text of flag name in PrintDefaults output.
func flagHelp(usage, name string) (string, bool) {
	m := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(name) + `(?: [^\n]*)?\n(?:    [^\n]*\n?)*`).FindString(usage)
	return m, m != ""
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	_, err := parseNodeFlags(nil, &out)
	if err == nil || !strings.Contains(err.Error(), "-name") {
		t.Errorf("no -name: error %v, want one mentioning -name", err)
	}

	out.Reset()
	_, err = parseNodeFlags([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error %v, want flag.ErrHelp", err)
	}
	usage := out.String()
	if !strings.HasPrefix(usage, "Usage: blockpeer -name NAME") {
		t.Errorf("-h output does not start with the usage line:\n%s", usage)
	}
	for flagName, want := range map[string]string{
		"port": "(default 8993)", "name": "(required)", "host": "", "peers": "",
		"difficulty": "(default 8)", "log-level": `(default "info")`, "log-format": "json",
		"data": "", "mine": "", "mine-threads": "", "new-chain": "", "http": "", "consensus-interval": "(default 2m0s)", "chain": "verified first",
	} {
		help, ok := flagHelp(usage, flagName)
		if !ok {
			t.Errorf("-h output lists no -%s:\n%s", flagName, usage)
			continue
		}
		if !strings.Contains(help, want) {
			t.Errorf("-h: -%s help %q does not say %q", flagName, help, want)
		}
	}

	f, err := parseNodeFlags([]string{"-name", "xyz"}, io.Discard)
	if err != nil {
		t.Fatalf("-name xyz: %v", err)
	}
	if f.name != "xyz" || f.port != 8993 || f.difficulty != 8 || f.logLevel != "info" || f.logFormat != "" ||
		f.peers != "" || f.host != "" || f.mine || f.newChain || f.dataSet || f.consensus != 2*time.Minute {
		t.Errorf("defaults: %+v", *f)
	}
	f, err = parseNodeFlags([]string{"-name", "x", "-port", "0", "-data", "", "-mine", "-new-chain",
		"-mine-threads", "3", "-difficulty", "0", "-consensus-interval", "2s", "-peers", "a:1,b:2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.peerList) != "[a:1 b:2]" {
		t.Errorf("-peers a:1,b:2: list %q", f.peerList)
	}
	if f.port != 0 || f.data != "" || !f.dataSet || !f.mine || !f.newChain || f.mineThreads != 3 ||
		f.difficulty != 0 || f.consensus != 2*time.Second || f.peers != "a:1,b:2" {
		t.Errorf("flags not taken: %+v", *f)
	}

	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"-name", "x", "-difficulty", "65"}, "-difficulty"},
		{[]string{"-name", "x", "-difficulty", "-1"}, "-difficulty"},
		{[]string{"-name", "x", "-difficulty", "eight"}, "difficulty"},
		{[]string{"-name", "x", "-port", "65536"}, "-port"},
		{[]string{"-name", "x", "-port", "-1"}, "-port"},
		{[]string{"-name", "x", "-port", "http"}, "port"},
		{[]string{"-name", "x", "stray"}, `"stray"`},
		{[]string{"-name", "x", "-consensus-interval", "0s"}, "-consensus-interval"},
		{[]string{"-name", "  "}, "-name"},
		{[]string{"-name", strings.Repeat("n", 201)}, "-name refused: the name is 201 bytes long; at most 200"},
		{[]string{"-name", strings.Repeat("\x01", 150)}, "-name refused: our GOSSIP with this name would not fit"},
		{[]string{"-name", "x", "-bogus"}, "bogus"},
		{[]string{"-name", "x", "-peers", "127.0.0.1"}, `-peers: "127.0.0.1" has no port: want HOST:PORT[,HOST:PORT...]`},
		{[]string{"-name", "x", "-peers", "127.0.0.1:99999"}, `-peers: "127.0.0.1:99999": port "99999" is not in 1..65535: want HOST:PORT`},
		{[]string{"-name", "x", "-peers", "a:1 b:2"}, `-peers: "a:1 b:2" is not one HOST:PORT (separate peers with commas)`},
		{[]string{"-name", "x", "-peers", "a:1,:2"}, `-peers: ":2" has no port`},
		{[]string{"-name", "x", "-peers", " , "}, `names no peer`},
	} {
		_, err := parseNodeFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%q: error %v, want one mentioning %s", tc.args, err, tc.mention)
		}
	}

	if _, err := newLogger(io.Discard, "bogus", "json"); err == nil || !strings.Contains(err.Error(), "-log-level") {
		t.Errorf("-log-level bogus: error %v, want one mentioning -log-level", err)
	}
	if _, err := newLogger(io.Discard, "", "json"); err == nil {
		t.Errorf("-log-level empty: no error")
	}
	if _, err := newLogger(io.Discard, "info", "xml"); err == nil || !strings.Contains(err.Error(), "-log-format") {
		t.Errorf("-log-format xml: error %v, want one mentioning -log-format", err)
	}
	var logBuf bytes.Buffer
	log, err := newLogger(&logBuf, "warn", "") // not a terminal: JSON
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("filtered out")
	log.Warn().Dur("took", 1500*time.Millisecond).Msg("kept")
	lines := jsonLines(t, logBuf.String())
	if len(lines) != 1 || lines[0].msg() != "kept" || lines[0]["level"] != "warn" || lines[0]["took"] != 1.5 || lines[0]["time"] == nil {
		t.Errorf("warn-level JSON logger wrote %q", logBuf.String())
	}

	out.Reset()
	if err := runLab(context.Background(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("lab -h: error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: blockpeer lab", "-nodes", "-base-port", "-difficulty", "-http", "-mine-threads"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lab -h output lacks %q:\n%s", want, out.String())
		}
	}
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"-difficulty", "0"}, "-difficulty"},
		{[]string{"-difficulty", "11"}, "-difficulty"},
		{[]string{"stray"}, `"stray"`},
		{[]string{"-log-level", "bogus"}, "-log-level"},
	} {
		if err := runLab(context.Background(), tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("lab %q: error %v, want one mentioning %s", tc.args, err, tc.mention)
		}
	}
}

func TestChooseAddrs(t *testing.T) {
	for _, tc := range []struct {
		host      string
		port      int
		advertise string
		bind      string
	}{
		{"127.0.0.1", 8999, "127.0.0.1:8999", "127.0.0.1:8999"},
		{"localhost", 9000, "127.0.0.1:9000", "127.0.0.1:9000"},
		{"127.0.0.2", 0, "127.0.0.2:0", "127.0.0.2:0"},
		{"192.168.0.27", 8993, "192.168.0.27:8993", ":8993"},
		{"130.179.28.37", 9001, "130.179.28.37:9001", ":9001"},
		{"::ffff:10.0.0.1", 8993, "10.0.0.1:8993", ":8993"},
	} {
		adv, bind, err := peer.ChooseAddrs(tc.host, tc.port, nil)
		if err != nil {
			t.Errorf("-host %s: %v", tc.host, err)
			continue
		}
		if adv.String() != tc.advertise || bind != tc.bind {
			t.Errorf("-host %s -port %d: advertise %s, bind %q; want %s, %q", tc.host, tc.port, adv, bind, tc.advertise, tc.bind)
		}
	}
	for _, host := range []string{"eagle.cs.umanitoba.ca", "1.2.3", "300.1.1.1", "127.0.0.1:8999"} {
		if _, _, err := peer.ChooseAddrs(host, 8993, nil); err == nil || !strings.Contains(err.Error(), "-host") {
			t.Errorf("-host %q: error %v, want one mentioning -host", host, err)
		}
	}
	// No -host: the address of the route to the first seed, loopback here.
	adv, bind, err := peer.ChooseAddrs("", 8993, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8999")})
	if err != nil || adv.String() != "127.0.0.1:8993" || bind != "127.0.0.1:8993" {
		t.Errorf("no -host, seed on 127.0.0.1: %s, %q, %v; want 127.0.0.1:8993 bound on loopback", adv, bind, err)
	}

	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		addrs []netip.AddrPort
		want  bool
	}{
		{nil, false},
		{[]netip.AddrPort{ap("127.0.0.1:8999")}, true},
		{[]netip.AddrPort{ap("127.0.0.1:8999"), ap("127.0.0.5:1"), ap("[::1]:2")}, true},
		{[]netip.AddrPort{ap("127.0.0.1:8999"), ap("130.179.28.37:8999")}, false},
		{[]netip.AddrPort{ap("192.168.0.27:8999")}, false},
	} {
		if got := allLoopback(tc.addrs); got != tc.want {
			t.Errorf("allLoopback(%v) = %v, want %v", tc.addrs, got, tc.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for in, want := range map[string]string{
		"127.0.0.1:8999":          "127.0.0.1:8999",
		"localhost:8999":          "127.0.0.1:8999",
		"[::ffff:127.0.0.1]:8999": "127.0.0.1:8999",
	} {
		a, err := resolvePeer(ctx, in)
		if err != nil || a.String() != want {
			t.Errorf("resolvePeer(%q) = %s, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"nohost.invalid:1", "127.0.0.1", "localhost:http", "localhost:70000", ""} {
		if a, err := resolvePeer(ctx, in); err == nil {
			t.Errorf("resolvePeer(%q) = %s, want an error", in, a)
		}
	}
	var warnings bytes.Buffer
	got := resolveWellKnownPeers(ctx, []string{"127.0.0.1:8999", "localhost:8999", "nohost.invalid:1", "garbage", "127.0.0.1:9000"}, zerolog.New(&warnings))
	if fmt.Sprint(got) != "[127.0.0.1:8999 127.0.0.1:9000]" {
		t.Errorf("resolveWellKnownPeers = %v, want [127.0.0.1:8999 127.0.0.1:9000] (duplicates and failures dropped)", got)
	}
	if n := strings.Count(warnings.String(), "well-known peer skipped"); n != 2 || strings.Contains(warnings.String(), "Off campus") {
		t.Errorf("resolveWellKnownPeers warned %d times (want 2, and no off-campus hint when some resolve): %s", n, warnings.String())
	}
	warnings.Reset()
	if got := resolveWellKnownPeers(ctx, []string{"garbage"}, zerolog.New(&warnings)); len(got) != 0 || !strings.Contains(warnings.String(), "Off campus? Try 'go run . lab'") {
		t.Errorf("no well-known peer resolved: %v, log %s; want the off-campus hint", got, warnings.String())
	}
	got, err = resolvePeers(ctx, []string{"127.0.0.1:8999", "localhost:8999", "127.0.0.1:9000"})
	if err != nil || fmt.Sprint(got) != "[127.0.0.1:8999 127.0.0.1:9000]" {
		t.Errorf("resolvePeers = %v, %v; want [127.0.0.1:8999 127.0.0.1:9000]", got, err)
	}
	if got, err := resolvePeers(ctx, []string{"127.0.0.1:8999", "garbage"}); err == nil || !strings.Contains(err.Error(), `-peers: "garbage"`) {
		t.Errorf("resolvePeers with a bad entry = %v, %v; want an error naming it", got, err)
	}
	if got, err := parsePeers(" a:1, ,b:2,,c:3 "); err != nil || fmt.Sprint(got) != "[a:1 b:2 c:3]" {
		t.Errorf("parsePeers = %q, %v", got, err)
	}
}

// stoppable is a runNode call running in a goroutine.
type stoppable struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func startRunNode(t *testing.T, name string, args []string, out io.Writer) *stoppable {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stoppable{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- runNode(ctx, args, out) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the node; runNode must return nil within 2 s.
func (s *stoppable) stop(t *testing.T) {
	t.Helper()
	if s.done == nil {
		return
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("node %s: runNode returned %v", s.name, err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("node %s: runNode did not return within 2s of the cancel", s.name)
	}
	s.done = nil
}

func TestRunNodeEndToEnd(t *testing.T) {
	ports := freeUDPPorts(t, 2)
	portA, portB := ports[0], ports[1]
	dir := t.TempDir()
	argsA := []string{"-name", "a", "-host", "127.0.0.1", "-port", fmt.Sprint(portA), "-peers", fmt.Sprintf("127.0.0.1:%d", portB),
		"-difficulty", "2", "-data", dir, "-log-format", "json", "-consensus-interval", "2s"}
	argsB := []string{"-name", "b", "-host", "127.0.0.1", "-port", fmt.Sprint(portB), "-peers", fmt.Sprintf("127.0.0.1:%d", portA),
		"-difficulty", "2", "-data", "", "-log-format", "json", "-consensus-interval", "2s"}

	outA, outB := &syncBuffer{}, &syncBuffer{}
	b := startRunNode(t, "b", argsB, outB)
	a := startRunNode(t, "a", append(argsA, "-mine", "-new-chain", "-mine-threads", "1"), outA)

	eventually(t, 10*time.Second, "b to take a block from a", func() bool {
		for _, l := range jsonLines(t, outB.String()) {
			if m := l.msg(); m == "announced block added" || m == "chain valid: adopted" {
				return true
			}
		}
		return false
	})
	a.stop(t)
	b.stop(t)

	linesA, linesB := jsonLines(t, outA.String()), jsonLines(t, outB.String())
	for name, lines := range map[string][]logLine{"a": linesA, "b": linesB} {
		j, ok := firstLine(lines, "joining")
		if !ok {
			t.Fatalf("node %s logged no joining line", name)
		}
		if j.int("blocks") != 0 || j["node"] != name || j["level"] != "info" {
			t.Errorf("node %s: joining line %v, want blocks 0", name, j)
		}
		if _, ok := firstLine(lines, "stopped"); !ok {
			t.Errorf("node %s logged no stopped line", name)
		}
	}
	if j, _ := firstLine(linesA, "joining"); j["addr"] != fmt.Sprintf("127.0.0.1:%d", portA) {
		t.Errorf("a joined as %v, want 127.0.0.1:%d", j["addr"], portA)
	}
	if _, ok := firstLine(linesA, "mined a block: announcing"); !ok {
		t.Errorf("a mined nothing")
	}
	db, ok := firstLine(linesA, "chain database")
	if !ok {
		t.Fatalf("a opened no chain database (-data %s)", dir)
	}
	if p, _ := db["path"].(string); filepath.Dir(p) != dir {
		t.Errorf("a's database %q is not in %s", p, dir)
	}
	if _, ok := firstLine(linesB, "chain database"); ok {
		t.Errorf(`b opened a chain database with -data ""`)
	}

	// A again, not mining, on the same port and directory: the chain it
	// mined was kept.
	outA2 := &syncBuffer{}
	a2 := startRunNode(t, "a (restarted)", argsA, outA2)
	var joined logLine
	eventually(t, 5*time.Second, "the restarted a to join", func() bool {
		joined, ok = firstLine(jsonLines(t, outA2.String()), "joining")
		return ok
	})
	a2.stop(t)
	if joined.int("blocks") <= 0 {
		t.Errorf("restarted a joined with %d blocks: the chain was not kept in %s", joined.int("blocks"), dir)
	}
	if db2, _ := firstLine(jsonLines(t, outA2.String()), "chain database"); db2["path"] != db["path"] {
		t.Errorf("restarted a opened %v, want %v", db2["path"], db["path"])
	}
	t.Logf("restarted a joined with %d blocks", joined.int("blocks"))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestRunLab runs `blockpeer lab` on ephemeral ports. Difficulty 5: at 3
// the seed's miner and the ANNOUNCEs it sends keep its event loop so busy
// on a loaded CPU that a joining node's sync falls behind for good.
func TestRunLab(t *testing.T) {
	out := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			var kept []string // all but the seed's mined blocks
			for l := range strings.Lines(out.String()) {
				if !strings.Contains(l, `"mined a block: announcing"`) {
					kept = append(kept, l)
				}
			}
			t.Logf("output, without the seed's blocks:\n%s", tail(strings.Join(kept, ""), 60))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runLab(ctx, []string{"-nodes", "1", "-base-port", "0", "-http", "127.0.0.1:0", "-difficulty", "5",
			"-mine-threads", "1", "-log-format", "json", "-log-level", "info"}, out)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runLab returned %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("runLab did not return within 2s of the cancel")
		}
	}
	defer stop()

	pageRE := regexp.MustCompile(`status page:\s+(http://127\.0\.0\.1:\d+/)`)
	var page string
	eventually(t, 5*time.Second, "the lab's banner", func() bool {
		m := pageRE.FindStringSubmatch(out.String())
		if m != nil {
			page = m[1]
		}
		return m != nil
	})
	for _, want := range []string{"blockpeer lab: 2 nodes on 127.0.0.1, difficulty 5", "lab-seed", "seed (mines a fresh chain)", "lab-1", "-difficulty 5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(page)
	if err != nil {
		t.Fatalf("status page: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status page %s: %s", page, resp.Status)
	}
	eventually(t, 10*time.Second, "lab-1 to take the seed's blocks", func() bool {
		var logs strings.Builder
		for s := range strings.Lines(out.String()) {
			if strings.HasPrefix(s, "{") {
				logs.WriteString(s) // the banner is not JSON
			}
		}
		for _, l := range jsonLines(t, logs.String()) {
			if m := l.msg(); l["node"] == "lab-1" && (m == "announced block added" || m == "chain valid: adopted") {
				return true
			}
		}
		return false
	})
	stop()
	if _, err := client.Get(page); err == nil {
		t.Errorf("status page still served after the lab stopped")
	}
}

// TestBinaryStopsOnSIGTERM builds the command and runs it as a user would.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runBinary(t, bin, nil, args...)
	}
	if stdout, _, code := run("-h"); code != 0 || !strings.Contains(stdout, "Usage: blockpeer -name NAME") || !strings.Contains(stdout, "-peers") {
		t.Errorf("blockpeer -h: exit %d, stdout %q; want 0 and the usage", code, stdout)
	}
	if stdout, _, code := run("lab", "-h"); code != 0 || !strings.Contains(stdout, "-base-port") {
		t.Errorf("blockpeer lab -h: exit %d, stdout %q; want 0 and the lab's usage", code, stdout)
	}
	if _, stderr, code := run("-port", "0"); code == 0 || !strings.Contains(stderr, "-name") {
		t.Errorf("blockpeer without -name: exit %d, stderr %q; want non-zero and a message about -name", code, stderr)
	}

	cmd := exec.Command(bin, "-name", "x", "-host", "127.0.0.1", "-port", "0", "-peers", "127.0.0.1:1", "-data", "", "-log-format", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test stopped reading
			}
		}
		close(lines)
		exited <- cmd.Wait() // after the pipe is drained, as Wait requires
	}()
	defer cmd.Process.Kill() // harmless once it has exited

	var joining map[string]any
	timeout := time.After(10 * time.Second)
	for joining == nil {
		select {
		case s, ok := <-lines:
			if !ok {
				t.Fatalf("blockpeer exited before joining; stderr: %s", stderr.String())
			}
			var l map[string]any
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("stdout line is not JSON: %q", s)
			}
			if l["message"] == "joining" {
				joining = l
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("no joining line within 10s; stderr: %s", stderr.String())
		}
	}
	if addr, _ := joining["addr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:0" {
		t.Errorf("joined as %q: want 127.0.0.1 and the port bound", addr)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v (stderr %q), want exit code 0", err, stderr.String())
		}
		t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	case <-time.After(time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("still running 1s after SIGTERM")
	}
	sawStopped := false
	for s := range lines {
		sawStopped = sawStopped || strings.Contains(s, `"message":"stopped"`)
	}
	if !sawStopped {
		t.Errorf("no stopped line after SIGTERM")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}
