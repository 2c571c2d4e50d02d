package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"blockpeer/lab"
)

// do runs a lab command, failing the test on an error.
func do(t *testing.T, l *lab.Lab, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg, err := l.Do(ctx, cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	t.Logf("%s: %s", cmd, msg)
	return msg
}

// tips returns each running node's tip and height.
func tips(l *lab.Lab) (map[string]string, map[string]int) {
	tip, h := map[string]string{}, map[string]int{}
	for _, src := range l.Sources() {
		ctx, cancel := callCtx()
		st, err := src.Status(ctx)
		cancel()
		if err == nil {
			tip[st.Name], h[st.Name] = st.Tip, st.Height
		}
	}
	return tip, h
}

// story is a console that keeps the lab's lines.
type story struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *story) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *story) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPartitionThenHeal(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	cfg := testConfig(3, testDifficulty, newTestLog(t))
	out := &story{}
	cfg.Console = out
	r := startLab(t, cfg)
	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 2) })
	eventually(t, 10*time.Second, "a block's spread told", func() (bool, string) {
		return strings.Contains(out.String(), "reached all 4 nodes in"), out.String()
	})

	do(t, r.Lab, "partition t-seed,t-1 t-2,t-3")
	eventually(t, 30*time.Second, "the two halves to fork", func() (bool, string) {
		tip, _ := tips(r.Lab)
		return tip["t-seed"] == tip["t-1"] && tip["t-2"] == tip["t-3"] && tip["t-seed"] != tip["t-2"], fmt.Sprint(tip)
	})
	eventually(t, 10*time.Second, "the fork told", func() (bool, string) {
		return strings.Contains(out.String(), "fork at #"), out.String()
	})
	do(t, r.Lab, "heal")
	eventually(t, 30*time.Second, "every node on one tip after the heal", func() (bool, string) {
		tip, h := tips(r.Lab)
		for _, n := range []string{"t-1", "t-2", "t-3"} {
			if tip[n] != tip["t-seed"] {
				return false, fmt.Sprint(h, tip)
			}
		}
		return true, ""
	})
	eventually(t, 10*time.Second, "the fork's resolution told", func() (bool, string) {
		return strings.Contains(out.String(), "fork resolved: all 4 nodes on"), out.String()
	})
	if _, err := r.Do(context.Background(), "heal"); err == nil {
		t.Errorf("heal of a healed network: no error")
	}
}

func TestLiarRefused(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	r := startLab(t, testConfig(2, testDifficulty, newTestLog(t)))
	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 4) })
	msg := do(t, r.Lab, "liar 2")
	addr := strings.Fields(strings.SplitN(msg, " on ", 2)[1])[0]
	addr = strings.TrimSuffix(addr, ":")
	eventually(t, 30*time.Second, "every node to ban the liar "+addr, func() (bool, string) {
		for _, src := range r.Sources() {
			ctx, cancel := callCtx()
			st, err := src.Status(ctx)
			cancel()
			if err != nil {
				return false, err.Error()
			}
			banned := false
			for _, o := range st.Offenders {
				banned = banned || (o.Addr == addr && !o.BannedUntil.IsZero())
			}
			if !banned {
				return false, fmt.Sprintf("%s: offenders %+v", st.Name, st.Offenders)
			}
		}
		return true, ""
	})
	for _, n := range r.Nodes {
		ctx, cancel := callCtx()
		bs, err := n.Blocks(ctx, 0, 1000)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.MinedBy == "t-liar" {
				t.Fatalf("%s holds the liar's block %d", n.Name(), b.Height)
			}
		}
	}
}

func TestStopAndStartKeepsChain(t *testing.T) {
	t.Parallel() // a lab mostly rests between blocks and waits on the network
	r := startLab(t, testConfig(2, testDifficulty, newTestLog(t)))
	eventually(t, 30*time.Second, "the lab to converge", func() (bool, string) { return converged(r.Lab, 2) })
	do(t, r.Lab, "stop t-1")
	src := r.Sources()[1]
	ctx, cancel := callCtx()
	_, err := src.Status(ctx)
	cancel()
	if !errors.Is(err, lab.ErrDown) {
		t.Fatalf("status of a stopped node: %v, want ErrDown", err)
	}
	if _, err := r.Do(context.Background(), "stop 1"); err == nil {
		t.Errorf("stopping a stopped node: no error")
	}
	msg := do(t, r.Lab, "start 1")
	if !strings.Contains(msg, "again with its") || strings.Contains(msg, "its 0 blocks") {
		t.Errorf("start said %q: want it to keep its blocks", msg)
	}
	eventually(t, 30*time.Second, "t-1 to follow the seed again", func() (bool, string) {
		n := r.Node(1)
		if n == r.Nodes[1] {
			return false, "the old node"
		}
		return followsSeed(r.Seed, n)
	})
	do(t, r.Lab, "add")
	eventually(t, 30*time.Second, "the added node to follow the seed", func() (bool, string) {
		n := r.Node(3)
		if n == nil {
			return false, "no node 3"
		}
		return followsSeed(r.Seed, n)
	})
}

func TestCommandErrors(t *testing.T) {
	r := startLab(t, testConfig(1, testDifficulty, nil))
	for _, cmd := range []string{"fly", "stop", "stop 9", "loss 1 150", "delay 1 forever", "partition a", "start 0"} {
		if _, err := r.Do(context.Background(), cmd); err == nil {
			t.Errorf("%q: no error", cmd)
		}
	}
	if msg := do(t, r.Lab, "help"); !strings.Contains(msg, "partition") {
		t.Errorf("help: %q", msg)
	}
}

func TestControlsOnlyFromLoopbackAndJSON(t *testing.T) {
	r := startLab(t, testConfig(1, testDifficulty, nil))
	h := r.Handler()
	post := func(remote, ctype, origin, body string) int {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/api/lab/do", strings.NewReader(body))
		req.RemoteAddr = remote
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	cases := []struct {
		remote, ctype, origin, body string
		want                        int
	}{
		{"127.0.0.1:5555", "application/json", "", `{"command":"help"}`, http.StatusOK},
		{"[::1]:5555", "application/json", "http://127.0.0.1:8080", `{"command":"help"}`, http.StatusOK},
		{"10.1.2.3:5555", "application/json", "", `{"command":"help"}`, http.StatusForbidden},
		{"127.0.0.1:5555", "text/plain", "", `{"command":"help"}`, http.StatusForbidden},
		{"127.0.0.1:5555", "application/json", "http://evil.example", `{"command":"help"}`, http.StatusForbidden},
		{"127.0.0.1:5555", "application/json", "", `{"command":"fly"}`, http.StatusBadRequest},
	}
	for _, c := range cases {
		if got := post(c.remote, c.ctype, c.origin, c.body); got != c.want {
			t.Errorf("POST from %s (%s, origin %q) %s: %d, want %d", c.remote, c.ctype, c.origin, c.body, got, c.want)
		}
	}
}
