package peer_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// TestWrongDifficultyBansNobody: a node at difficulty 2 joins peers whose
// chain is at difficulty 1. Their blocks all have valid hashes and fail
// only our difficulty: they are on another network, or we are. Nobody is
// banned or scored, and the node says once, as an error a person reads,
// what is wrong and what to do. (Issue 12, 2: five "backer dropped
// (lied)" warnings, each peer banned for 300 s, then "no peer reports a
// chain yet".)
func TestWrongDifficultyBansNobody(t *testing.T) {
	easy := chain.Extend(nil, 30, 1, "easy", 1_700_000_000)
	for i := 0; strings.HasSuffix(easy[29].Hash, "00"); i++ { // a top with exactly one zero
		easy = chain.Extend(easy[:29], 1, 1, fmt.Sprint("easy", i), 1_700_000_000)
	}
	atOne := func(c *peer.Config) { c.Difficulty = 1 }
	var seeds []netip.AddrPort
	for _, name := range []string{"p1", "p2", "p3"} {
		seeds = append(seeds, startNode(t, name, easy, nil, atOne).addr)
	}
	logs := newLogs(t)
	node := startNode(t, "node", nil, seeds, logTo(logs))
	eventually(t, 5*time.Second, "the error about the difficulty", func() bool {
		for _, l := range logs.lines(t, "error") {
			if strings.Contains(fmt.Sprint(l["message"]), "valid hashes with 1 trailing zeros, but -difficulty is 2") {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * peer.TestTimings().StatsWindow) // more rounds: still one error
	if n := len(logs.lines(t, "error")); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, logs)
	}
	if n := len(logs.lines(t, "warn")); n != 0 {
		t.Errorf("%d warnings, want none:\n%s", n, logs)
	}
	if st := node.status(t); len(st.Offenders) != 0 || st.Height != 0 {
		t.Fatalf("offenders %+v, height %d: want nobody scored and no chain adopted", st.Offenders, st.Height)
	}
}
