package chain_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
)

// msgSep separates the extra messages packed into FuzzValidate's "more"
// argument.
const msgSep = "\x1f"

// refHash is an independent implementation of the hash rule (section 4).
func refHash(prev string, b *chain.Block) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte(b.MinedBy))
	for _, m := range b.Messages {
		h.Write([]byte(m))
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(b.Timestamp))
	h.Write(ts[:])
	h.Write([]byte(b.Nonce))
	return hex.EncodeToString(h.Sum(nil))
}

// refValid is an independent statement of section 4's validity rules, as
// Validate implements them (strings must be UTF-8).
func refValid(b *chain.Block, prev string, height, difficulty int) bool {
	if b.Height != height || height < 0 || (height == 0) != (prev == "") {
		return false
	}
	if b.Timestamp < 0 || len(b.Messages) > 10 {
		return false
	}
	if !utf8.ValidString(b.MinedBy) || !utf8.ValidString(b.Nonce) || len([]rune(b.Nonce)) > 40 {
		return false
	}
	for _, m := range b.Messages {
		if !utf8.ValidString(m) || len([]rune(m)) > 20 {
			return false
		}
	}
	if len(b.Hash) != 64 || strings.Trim(b.Hash, "0123456789abcdef") != "" {
		return false
	}
	if difficulty < 0 || !strings.HasSuffix(b.Hash, strings.Repeat("0", difficulty)) {
		return false
	}
	return refHash(prev, b) == b.Hash
}

// sentinels reports how many of the package's validation errors err wraps; it
// must be exactly one.
func sentinels(err error) int {
	n := 0
	for _, s := range []error{chain.ErrFields, chain.ErrDifficulty, chain.ErrHash, chain.ErrHeight} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// sameBlock compares every field (Clone does not keep an empty message
// list apart from a nil one).
func sameBlock(a, b *chain.Block) bool {
	return a.Height == b.Height && a.MinedBy == b.MinedBy && a.Nonce == b.Nonce &&
		a.Timestamp == b.Timestamp && a.Hash == b.Hash && slices.Equal(a.Messages, b.Messages)
}

// checkOne validates b and checks every invariant; it reports whether
// Validate accepted it.
func checkOne(t *testing.T, b *chain.Block, prev string, height, difficulty int) bool {
	t.Helper()
	before := b.Clone()
	err := chain.Validate(b, prev, height, difficulty)
	ferr := chain.CheckFields(b, difficulty)
	if !sameBlock(b, before) {
		t.Fatalf("Validate/CheckFields modified the block: %+v, was %+v", b, before)
	}
	if err != nil && sentinels(err) != 1 {
		t.Fatalf("Validate error %q wraps %d sentinel errors, want 1", err, sentinels(err))
	}
	if ferr != nil && sentinels(ferr) != 1 {
		t.Fatalf("CheckFields error %q wraps %d sentinel errors, want 1", ferr, sentinels(ferr))
	}
	if ferr != nil && (errors.Is(ferr, chain.ErrHash) || errors.Is(ferr, chain.ErrHeight)) {
		t.Fatalf("CheckFields returned %v: it must not need the predecessor", ferr)
	}
	if got, want := chain.ComputeHash(prev, b), refHash(prev, b); got != want {
		t.Fatalf("ComputeHash = %s, reference %s", got, want)
	}
	if want := refValid(b, prev, height, difficulty); (err == nil) != want {
		t.Fatalf("Validate(%+v, %q, %d, %d) = %v, reference says valid=%v", b, prev, height, difficulty, err, want)
	}
	if b.Height == height && ferr != nil && err == nil {
		t.Fatalf("CheckFields fails (%v) but Validate accepts", ferr)
	}
	if err != nil {
		return false
	}
	// Accepted: every rule holds.
	if ferr != nil {
		t.Fatalf("Validate accepts but CheckFields says %v", ferr)
	}
	if chain.ComputeHash(prev, b) != b.Hash {
		t.Fatal("accepted block whose hash does not match")
	}
	if !chain.MeetsDifficulty(b.Hash, difficulty) || !chain.IsHash(b.Hash) {
		t.Fatalf("accepted hash %q at difficulty %d", b.Hash, difficulty)
	}
	if len(b.Messages) > chain.MaxMessages || utf8.RuneCountInString(b.Nonce) > chain.MaxNonceRunes {
		t.Fatal("accepted block out of limits")
	}
	for _, m := range b.Messages {
		if utf8.RuneCountInString(m) > chain.MaxMessageRunes || !utf8.ValidString(m) {
			t.Fatalf("accepted message %q", m)
		}
	}
	if b.Height != height || b.Timestamp < 0 || (height == 0) != (prev == "") {
		t.Fatal("accepted block at the wrong place")
	}
	return true
}

// FuzzValidate builds a block from the arguments: messages are msg1, msg2
// and the parts of more (split at \x1f), of which the first nmsg are kept.
// Validate and CheckFields must never panic, must agree with an independent
// reference, and whatever Validate accepts must satisfy every rule. The same
// block with its hash recomputed is also checked, so that the limits are
// exercised on blocks whose hash is right.
func FuzzValidate(f *testing.F) {
	v := vectors.Load(f)
	join := func(ms []string) (m1, m2, more string) {
		switch {
		case len(ms) == 0:
		case len(ms) == 1:
			m1 = ms[0]
		default:
			m1, m2, more = ms[0], ms[1], strings.Join(ms[2:], msgSep)
		}
		return
	}
	for _, vb := range v.Blocks {
		m1, m2, more := join(vb.Messages)
		f.Add(vb.MinedBy, m1, m2, more, uint8(len(vb.Messages)), vb.Nonce, vb.Timestamp, vb.Hash, vb.Height, vb.Prev(), int8(mainDifficulty))
	}
	for _, neg := range v.Negative {
		m1, m2, more := join(neg.Messages)
		f.Add(neg.MinedBy, m1, m2, more, uint8(len(neg.Messages)), neg.Nonce, neg.Timestamp, neg.ClaimedHash, 0, "", int8(mainDifficulty))
	}
	g := v.Find(f, "fall2024-main", 0)
	b1 := v.Find(f, "fall2024-main", 1)
	zero := strings.Repeat("0", 64)
	e20, e21 := strings.Repeat("é", 20), strings.Repeat("é", 21)
	ten := strings.Repeat("m"+msgSep, 7) + "m" // 8 extra messages: 10 in all
	eleven := ten + msgSep + "m"
	for _, s := range []struct {
		minedBy, m1, m2, more string
		nmsg                  uint8
		nonce                 string
		ts                    int64
		hash                  string
		height                int
		prev                  string
		d                     int8
	}{
		{"", "", "", "", 0, "", 0, "", 0, "", 0},
		{"", "", "", "", 0, "", 0, zero, 0, "", 0},
		{"Prof!", e20, "", "", 1, "1", 1, zero, 0, "", 0},
		{"Prof!", e21, "", "", 1, "1", 1, zero, 0, "", 0},
		{"Prof!", "a", "b", ten, 10, "1", 1, zero, 0, "", 0},
		{"Prof!", "a", "b", eleven, 11, "1", 1, zero, 0, "", 0},
		{"Prof!", "x", "", "", 1, strings.Repeat("9", 40), 1, zero, 0, "", 0},
		{"Prof!", "x", "", "", 1, strings.Repeat("9", 41), 1, zero, 0, "", 0},
		{"Prof!", "x", "", "", 1, strings.Repeat("é", 40), 1, zero, 0, "", 0},
		{"\xff", "\xc3", "", "", 2, "\x80", -1, zero, -1, "", -1},
		{"None", "None", "None", "None", 255, "None", -1 << 63, "None", 1 << 40, "None", 127},
		{b1.MinedBy, "test", "", "", 1, b1.Nonce, b1.Timestamp, strings.ToUpper(b1.Hash), 1, g.Hash, 8},
		{b1.MinedBy, "test", "", "", 1, b1.Nonce, b1.Timestamp, b1.Hash, 1, g.Hash, 9},
		{b1.MinedBy, "test", "", "", 1, b1.Nonce, b1.Timestamp, b1.Hash, 2, g.Hash, 8},
		{b1.MinedBy, "test", "", "", 1, b1.Nonce, b1.Timestamp, b1.Hash, 0, g.Hash, 8},
		{g.MinedBy, "Keep i", "tsimple.", "Veni" + msgSep + "vidi" + msgSep + "vici", 5, g.Nonce, g.Timestamp, g.Hash, 0, "", 8},
		{g.MinedBy, "Keep it", "simple.", "Veni" + msgSep + "vidi" + msgSep + "vici", 5, g.Nonce, g.Timestamp, g.Hash, 0, g.Hash, 8},
		{"x", "y", "", "", 1, "0", 1<<63 - 1, zero, 0, "", 64},
	} {
		f.Add(s.minedBy, s.m1, s.m2, s.more, s.nmsg, s.nonce, s.ts, s.hash, s.height, s.prev, s.d)
	}

	f.Fuzz(func(t *testing.T, minedBy, msg1, msg2, more string, nmsg uint8, nonce string, ts int64, hash string, height int, prev string, d int8) {
		all := []string{msg1, msg2}
		if more != "" {
			all = append(all, strings.Split(more, msgSep)...)
		}
		k := min(int(nmsg), len(all))
		b := &chain.Block{
			Height:    height,
			MinedBy:   minedBy,
			Messages:  all[:k:k],
			Nonce:     nonce,
			Timestamp: ts,
			Hash:      hash,
		}
		difficulty := int(d) % 70
		checkOne(t, b, prev, height, difficulty)

		// The same block with its hash made right: at difficulty 0 only the
		// limits and the place in the chain can reject it.
		rehashed := b.Clone()
		rehashed.Hash = chain.ComputeHash(prev, b)
		ok := checkOne(t, rehashed, prev, height, 0)
		inLimits := chain.CheckFields(rehashed, 0) == nil
		placed := height >= 0 && (height == 0) == (prev == "")
		if ok != (inLimits && placed) {
			t.Fatalf("rehashed block: Validate ok=%v, CheckFields ok=%v, placed=%v", ok, inLimits, placed)
		}
		// And on top of another prev it never validates.
		if ok && prev != "" {
			other := prev + "0"
			if chain.Validate(rehashed, other, height, 0) == nil {
				t.Fatalf("block validates on top of two different prevs %q and %q", prev, other)
			}
		}
	})
}
