package miner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"blockpeer/chain"
)

// prevHash is a made-up but well-formed previous hash.
var prevHash = strings.Repeat("0123456789abcdef", 4)

func checkBlock(t *testing.T, b *chain.Block, tpl Template) {
	t.Helper()
	if err := chain.Validate(b, tpl.Prev, tpl.Height, tpl.Difficulty); err != nil {
		t.Fatalf("mined block does not validate: %v (%+v)", err, b)
	}
	if n := utf8.RuneCountInString(b.Nonce); n >= chain.MaxNonceRunes {
		t.Errorf("nonce %q has %d characters, want < %d", b.Nonce, n, chain.MaxNonceRunes)
	}
	if strings.Trim(b.Nonce, "0123456789") != "" || b.Nonce == "" {
		t.Errorf("nonce %q is not a decimal string", b.Nonce)
	}
	if b.MinedBy != tpl.MinedBy || b.Timestamp != tpl.Timestamp || b.Height != tpl.Height ||
		strings.Join(b.Messages, "\x00") != strings.Join(tpl.Messages, "\x00") {
		t.Errorf("block %+v does not carry template %+v", b, tpl)
	}
}

func TestSearchValidates(t *testing.T) {
	templates := map[string]Template{
		"ascii": {Prev: prevHash, Height: 7, MinedBy: "alice", Messages: []string{"hello", "world"}, Timestamp: 1_700_000_000},
		"utf8": {Prev: prevHash, Height: 3, MinedBy: "Zoë",
			Messages: []string{"héllo wörld", "日本語のメッセージ", "🙂🚀✨ emoji", strings.Repeat("ü", 20)}, Timestamp: 1_731_000_000},
		"genesis": {Prev: "", Height: 0, MinedBy: "genesis", Messages: []string{"first"}, Timestamp: 0},
		"ten messages": {Prev: prevHash, Height: 12345, MinedBy: strings.Repeat("m", 37),
			Messages: strings.Fields("a bb ccc dddd eeeee ffffff ggggggg hhhhhhhh iiiiiiiii jjjjjjjjjj"), Timestamp: 1 << 40},
	}
	threadCounts := []int{1, 3, 0}
	for name, tpl := range templates {
		for diff := 1; diff <= 4; diff++ {
			for _, threads := range threadCounts {
				t.Run(fmt.Sprintf("%s/d%d/t%d", name, diff, threads), func(t *testing.T) {
					tpl := tpl
					tpl.Difficulty = diff
					var hashes atomic.Uint64
					b, err := Search(context.Background(), tpl, threads, &hashes)
					if err != nil {
						t.Fatal(err)
					}
					checkBlock(t, b, tpl)
					if hashes.Load() == 0 {
						t.Error("hashes counter is 0 after a search")
					}
				})
			}
		}
	}
}

// TestSearchEveryPrefixLength mines over prefixes of every length mod 64,
// so that both nonce layouts (with and without padding to a block
// boundary) are exercised, with many threads (two-digit ids).
func TestSearchEveryPrefixLength(t *testing.T) {
	for extra := range 64 {
		tpl := Template{Prev: prevHash, Height: 1, MinedBy: strings.Repeat("x", extra),
			Messages: []string{"m"}, Timestamp: 42, Difficulty: 2}
		b, err := Search(context.Background(), tpl, 12, nil)
		if err != nil {
			t.Fatalf("minedBy of %d bytes: %v", extra, err)
		}
		checkBlock(t, b, tpl)
	}
}

func TestSearchDifficultyZero(t *testing.T) {
	tpl := Template{Prev: "", Height: 0, MinedBy: "z", Messages: []string{"m"}, Timestamp: 1}
	b, err := Search(context.Background(), tpl, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlock(t, b, tpl)
}

func TestSearchCancel(t *testing.T) {
	tpl := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"never"}, Timestamp: 1, Difficulty: 64}
	for _, threads := range []int{1, runtime.NumCPU() + 2} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var hashes atomic.Uint64
		start := time.Now()
		b, err := Search(ctx, tpl, threads, &hashes)
		elapsed := time.Since(start)
		cancel()
		if b != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("threads %d: got %v, %v; want nil, deadline exceeded", threads, b, err)
		}
		if elapsed > 2*time.Second {
			t.Errorf("threads %d: Search returned %v after start, want within 2s", threads, elapsed)
		}
		if hashes.Load() == 0 {
			t.Errorf("threads %d: hashes counter is 0 after 200ms of search", threads)
		}
	}
}

func TestSearchAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tpl := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"m"}, Timestamp: 1, Difficulty: 1}
	if b, err := Search(ctx, tpl, 2, nil); b != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, %v; want nil, context.Canceled", b, err)
	}
}

func TestSearchBadTemplate(t *testing.T) {
	good := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"m"}, Timestamp: 1, Difficulty: 1}
	bad := map[string]func(*Template){
		"difficulty 65":      func(t *Template) { t.Difficulty = 65 },
		"negative diff":      func(t *Template) { t.Difficulty = -1 },
		"no messages":        func(t *Template) { t.Messages = nil },
		"eleven messages":    func(t *Template) { t.Messages = make([]string, 11) },
		"long message":       func(t *Template) { t.Messages = []string{strings.Repeat("é", 21)} },
		"prev at height 0":   func(t *Template) { t.Height = 0 },
		"no prev":            func(t *Template) { t.Prev = "" },
		"negative timestamp": func(t *Template) { t.Timestamp = -1 },
		"minedBy not utf8":   func(t *Template) { t.MinedBy = "\xff" },
	}
	for name, f := range bad {
		tpl := good
		tpl.Messages = append([]string(nil), good.Messages...)
		f(&tpl)
		if b, err := Search(context.Background(), tpl, 1, nil); b != nil || !errors.Is(err, ErrTemplate) {
			t.Errorf("%s: got %v, %v; want ErrTemplate", name, b, err)
		}
	}
}

func TestSearchExhausted(t *testing.T) {
	tpl := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"m"}, Timestamp: 1, Difficulty: 64}
	// Counter of 2 digits: 100 nonces per goroutine, then give up.
	var hashes atomic.Uint64
	b, err := search(context.Background(), tpl, 3, &hashes, options{ctrWidth: 2})
	if b != nil || !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, %v; want ErrExhausted", b, err)
	}
	if got := hashes.Load(); got != 300 {
		t.Errorf("hashes = %d, want 3*100", got)
	}
	// Tries limit: exactly that many hashes.
	hashes.Store(0)
	b, err = search(context.Background(), tpl, 2, &hashes, options{ctrWidth: ctrWidth, maxTries: 10_000})
	if b != nil || !errors.Is(err, ErrExhausted) {
		t.Fatalf("got %v, %v; want ErrExhausted", b, err)
	}
	if got := hashes.Load(); got != 20_000 {
		t.Errorf("hashes = %d, want 2*10000", got)
	}
}

// TestWorkerNonces checks that a worker's tries are exactly the hashes of
// the block with its successive nonces, and that goroutines' nonce spaces
// are disjoint.
func TestWorkerNonces(t *testing.T) {
	for extra := range 64 {
		tpl := Template{Prev: prevHash, Height: 1, MinedBy: strings.Repeat("é", extra/2) + strings.Repeat("a", extra%2),
			Messages: []string{"m"}, Timestamp: 99, Difficulty: 64}
		const threads = 11
		p, err := prepare(tpl, threads, ctrWidth)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for id := range threads {
			w := p.newWorker(id, 0)
			for range 30 {
				nonce := w.nonce()
				if other, dup := seen[nonce]; dup {
					t.Fatalf("nonce %q tried by goroutines %d and %d", nonce, other, id)
				}
				seen[nonce] = id
				if len(nonce) >= chain.MaxNonceRunes {
					t.Fatalf("nonce %q too long", nonce)
				}
				if _, found, more := w.try(1); found || !more {
					t.Fatalf("try: found %v more %v", found, more)
				}
				want := chain.ComputeHash(tpl.Prev, &chain.Block{MinedBy: tpl.MinedBy, Messages: tpl.Messages,
					Timestamp: tpl.Timestamp, Nonce: nonce})
				if got := hex.EncodeToString(w.sum); got != want {
					t.Fatalf("prefix len %d, nonce %q: worker hashed %s, want %s", extra, nonce, got, want)
				}
			}
		}
	}
}

// TestOneCompression checks that the layout costs one SHA-256 compression
// per try whatever the prefix length.
func TestOneCompression(t *testing.T) {
	for prefixLen := range 200 {
		for _, idWidth := range []int{1, 2, 3, 4} {
			pad := bestPad(prefixLen, idWidth, ctrWidth)
			if n := idWidth + pad + ctrWidth; n >= chain.MaxNonceRunes {
				t.Fatalf("prefix %d id %d: nonce of %d digits", prefixLen, idWidth, n)
			}
			if c := compressions((prefixLen+idWidth+pad)%64 + ctrWidth); c != 1 {
				t.Errorf("prefix %d id %d: pad %d costs %d compressions per try", prefixLen, idWidth, pad, c)
			}
		}
	}
}

func TestIncrement(t *testing.T) {
	for _, c := range []struct {
		in, out string
		ok      bool
	}{
		{"000", "001", true}, {"009", "010", true}, {"199", "200", true},
		{"998", "999", true}, {"999", "000", false}, {"0", "1", true}, {"9", "0", false},
	} {
		d := []byte(c.in)
		if ok := increment(d); ok != c.ok || string(d) != c.out {
			t.Errorf("increment(%q) = %q, %v; want %q, %v", c.in, d, ok, c.out, c.ok)
		}
	}
}

// TestMeetsDifficulty compares the digest check with chain.MeetsDifficulty
// on the hex, for random digests with many trailing zero nibbles and every
// difficulty 0..64 (and out-of-range ones).
func TestMeetsDifficulty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var digests [][]byte
	for zeros := 0; zeros <= 64; zeros++ { // exactly `zeros` trailing '0' nibbles (at least)
		for range 20 {
			d := make([]byte, 32)
			for i := range d {
				d[i] = byte(rng.IntN(256))
			}
			for n := 0; n < zeros; n++ { // clear nibble n from the end
				i := 31 - n/2
				if n%2 == 0 {
					d[i] &^= 0x0f
				} else {
					d[i] &^= 0xf0
				}
			}
			digests = append(digests, d)
		}
	}
	digests = append(digests, make([]byte, 32)) // all zero
	for _, d := range digests {
		h := hex.EncodeToString(d)
		for diff := -2; diff <= 66; diff++ {
			if got, want := meetsDifficulty(d, diff), chain.MeetsDifficulty(h, diff); got != want {
				t.Fatalf("meetsDifficulty(%s, %d) = %v, chain.MeetsDifficulty says %v", h, diff, got, want)
			}
		}
	}
	// And on real digests.
	for i := range 2000 {
		d := sha256.Sum256([]byte(fmt.Sprint(i)))
		h := hex.EncodeToString(d[:])
		for diff := 0; diff <= 64; diff++ {
			if got, want := meetsDifficulty(d[:], diff), chain.MeetsDifficulty(h, diff); got != want {
				t.Fatalf("meetsDifficulty(%s, %d) = %v, want %v", h, diff, got, want)
			}
		}
	}
}

func TestTryDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts are off under -cover")
	}
	tpl := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"m"}, Timestamp: 1, Difficulty: 64}
	p, err := prepare(tpl, 1, ctrWidth)
	if err != nil {
		t.Fatal(err)
	}
	w := p.newWorker(0, 0)
	if allocs := testing.AllocsPerRun(10, func() { w.try(1000) }); allocs != 0 {
		t.Errorf("try(1000) allocates %v times", allocs)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	tpl := Template{Prev: prevHash, Height: 1, MinedBy: "x", Messages: []string{"m"}, Timestamp: 1, Difficulty: 2}
	for range 20 {
		if _, err := Search(context.Background(), tpl, 4, nil); err != nil {
			t.Fatal(err)
		}
		tpl.Timestamp++
	}
	// Search has waited for its goroutines; give them a moment to exit
	// after their last deferred call.
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
}
