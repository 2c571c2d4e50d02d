package chain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
)

// mainDifficulty is the difficulty of the course's main and test networks.
const mainDifficulty = 8

// wantErr fails unless err wraps want.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %q, want one wrapping %q", err, want)
	}
}

func TestVectorsVerifiedBlocks(t *testing.T) {
	v := vectors.Load(t)
	n := 0
	for _, vb := range v.Blocks {
		if !vb.Verified {
			continue
		}
		n++
		t.Run(vb.Name(), func(t *testing.T) {
			if vb.Height > 0 && vb.PrevHash == nil {
				t.Fatalf("verified block at height %d has no prev_hash", vb.Height)
			}
			if vb.Height == 0 && vb.PrevHash != nil {
				t.Fatalf("genesis has prev_hash %q", *vb.PrevHash)
			}
			b := vb.Copy()
			if got := chain.ComputeHash(vb.Prev(), b); got != vb.Hash {
				t.Errorf("ComputeHash = %s, want %s", got, vb.Hash)
			}
			if err := chain.Validate(b, vb.Prev(), vb.Height, mainDifficulty); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if err := chain.CheckFields(b, mainDifficulty); err != nil {
				t.Errorf("CheckFields: %v", err)
			}
			if !reflect.DeepEqual(b, vb.Copy()) {
				t.Errorf("validation modified the block: %+v", b)
			}
		})
	}
	// Two chains of two verified blocks each: genesis and its successor.
	if n < 4 {
		t.Fatalf("only %d verified blocks in the vectors, want at least 4", n)
	}
}

func TestVectorsPreimages(t *testing.T) {
	v := vectors.Load(t)
	for _, tc := range []struct {
		key    string
		height int
		size   int // expected preimage length, 0: not checked
	}{
		{"fall2024-main/0", 0, 54}, // the spec: "the 2024 genesis preimage is 54 bytes"
		{"fall2024-main/1", 1, 0},
	} {
		t.Run(tc.key, func(t *testing.T) {
			wantHex, ok := v.PreimagesHex[tc.key]
			if !ok {
				t.Fatalf("vectors: no preimages_hex[%q]", tc.key)
			}
			vb := v.Find(t, "fall2024-main", tc.height)
			b := vb.Copy()
			got := chain.Preimage(vb.Prev(), b)
			if gotHex := hex.EncodeToString(got); gotHex != wantHex {
				t.Fatalf("Preimage hex mismatch\n got %s\nwant %s", gotHex, wantHex)
			}
			want, err := hex.DecodeString(wantHex)
			if err != nil {
				t.Fatalf("bad hex in vectors: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Preimage bytes differ")
			}
			if tc.size != 0 && len(got) != tc.size {
				t.Errorf("preimage is %d bytes, want %d", len(got), tc.size)
			}
			sum := sha256.Sum256(want)
			if hex.EncodeToString(sum[:]) != vb.Hash {
				t.Errorf("sha256(preimage) = %x, want %s", sum, vb.Hash)
			}
		})
	}
}

func TestVectorsUnverifiedBlocks(t *testing.T) {
	v := vectors.Load(t)
	n := 0
	for _, vb := range v.Blocks {
		if vb.Verified {
			continue
		}
		n++
		t.Run(vb.Name(), func(t *testing.T) {
			b := vb.Copy()
			if err := chain.CheckFields(b, mainDifficulty); err != nil {
				t.Fatalf("CheckFields: %v", err)
			}
			// Its predecessor is unknown: on top of some other hash it must
			// not validate.
			bogusPrev := strings.Repeat("f", chain.HashHexLen)
			if err := chain.Validate(b, bogusPrev, vb.Height, mainDifficulty); !errors.Is(err, chain.ErrHash) {
				t.Fatalf("Validate on a bogus prev: got %v, want ErrHash", err)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no unverified blocks in the vectors")
	}
}

func TestVectorsNegative(t *testing.T) {
	v := vectors.Load(t)
	if len(v.Negative) == 0 {
		t.Fatalf("no negative example in the vectors")
	}
	for i, neg := range v.Negative {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := &chain.Block{
				Height:    0,
				MinedBy:   neg.MinedBy,
				Messages:  neg.Messages,
				Nonce:     neg.Nonce,
				Timestamp: neg.Timestamp,
				Hash:      neg.ClaimedHash,
			}
			if got := chain.ComputeHash("", b); got != neg.ActualSHA256 {
				t.Errorf("ComputeHash = %s, want %s", got, neg.ActualSHA256)
			}
			// The claimed hash is well formed and meets the difficulty: only
			// the recomputation can catch it.
			if err := chain.CheckFields(b, mainDifficulty); err != nil {
				t.Fatalf("CheckFields: %v (the claimed hash should look fine)", err)
			}
			wantErr(t, chain.Validate(b, "", 0, mainDifficulty), chain.ErrHash)
		})
	}
}

// TestAlteredRealBlock alters one thing of a real block at a time; every
// alteration must be rejected with the right error.
func TestAlteredRealBlock(t *testing.T) {
	v := vectors.Load(t)
	genesis := v.Find(t, "fall2024-main", 0)
	vb := v.Find(t, "fall2024-main", 1)
	prev := vb.Prev()
	if prev != genesis.Hash {
		t.Fatalf("vectors: block 1's prev %s is not the genesis hash %s", prev, genesis.Hash)
	}
	if err := chain.Validate(vb.Copy(), prev, 1, mainDifficulty); err != nil {
		t.Fatalf("unaltered block: %v", err)
	}
	if chain.MeetsDifficulty(vb.Hash, mainDifficulty+1) {
		t.Fatalf("precondition: %s already meets difficulty %d", vb.Hash, mainDifficulty+1)
	}
	g := genesis.Copy()

	for _, tc := range []struct {
		name       string
		base       *chain.Block // nil: block 1
		alter      func(b *chain.Block)
		prev       *string // nil: block 1's real prev (or "" with base)
		height     *int    // nil: 1 (or 0 with base)
		difficulty int     // 0: mainDifficulty
		want       error
	}{
		{name: "message changed", alter: func(b *chain.Block) { b.Messages[0] = "tesT" }, want: chain.ErrHash},
		{name: "message appended", alter: func(b *chain.Block) { b.Messages = append(b.Messages, "x") }, want: chain.ErrHash},
		{name: "messages removed", alter: func(b *chain.Block) { b.Messages = nil }, want: chain.ErrHash},
		{name: "genesis messages swapped", base: g, alter: func(b *chain.Block) {
			b.Messages[0], b.Messages[1] = b.Messages[1], b.Messages[0]
		}, want: chain.ErrHash},
		{name: "nonce changed", alter: func(b *chain.Block) { b.Nonce = "4776171179468" }, want: chain.ErrHash},
		{name: "nonce re-formatted", alter: func(b *chain.Block) { b.Nonce = "0" + b.Nonce }, want: chain.ErrHash},
		{name: "nonce empty", alter: func(b *chain.Block) { b.Nonce = "" }, want: chain.ErrHash},
		{name: "timestamp +1", alter: func(b *chain.Block) { b.Timestamp++ }, want: chain.ErrHash},
		{name: "timestamp in ms", alter: func(b *chain.Block) { b.Timestamp *= 1000 }, want: chain.ErrHash},
		{name: "minedBy changed", alter: func(b *chain.Block) { b.MinedBy = "Prof?" }, want: chain.ErrHash},
		{name: "minedBy empty", alter: func(b *chain.Block) { b.MinedBy = "" }, want: chain.ErrHash},
		{name: "wrong prev", prev: ptr(strings.Repeat("0", 64)), want: chain.ErrHash},
		{name: "prev upper-case", prev: ptr(strings.ToUpper(prev)), want: chain.ErrHash},
		{name: "hash of another block", alter: func(b *chain.Block) { b.Hash = genesis.Hash }, want: chain.ErrHash},
		{name: "message of 21 characters", alter: func(b *chain.Block) { b.Messages[0] = strings.Repeat("a", 21) }, want: chain.ErrFields},
		{name: "message of 21 é", alter: func(b *chain.Block) { b.Messages[0] = strings.Repeat("é", 21) }, want: chain.ErrFields},
		{name: "message of 20 é (in limits, wrong hash)", alter: func(b *chain.Block) { b.Messages[0] = strings.Repeat("é", 20) }, want: chain.ErrHash},
		{name: "11 messages", alter: func(b *chain.Block) {
			for len(b.Messages) < 11 {
				b.Messages = append(b.Messages, "")
			}
		}, want: chain.ErrFields},
		{name: "10 messages (in limits, same hash)", alter: func(b *chain.Block) {
			for len(b.Messages) < 10 {
				b.Messages = append(b.Messages, "") // empty strings add no bytes
			}
		}, want: nil},
		{name: "nonce of 41 characters", alter: func(b *chain.Block) { b.Nonce = strings.Repeat("1", 41) }, want: chain.ErrFields},
		{name: "nonce of 41 é", alter: func(b *chain.Block) { b.Nonce = strings.Repeat("é", 41) }, want: chain.ErrFields},
		{name: "message not UTF-8", alter: func(b *chain.Block) { b.Messages[0] = "te\xffst" }, want: chain.ErrFields},
		{name: "minedBy not UTF-8", alter: func(b *chain.Block) { b.MinedBy = "Prof\xc3" }, want: chain.ErrFields},
		{name: "nonce not UTF-8", alter: func(b *chain.Block) { b.Nonce = "\x80" }, want: chain.ErrFields},
		{name: "negative timestamp", alter: func(b *chain.Block) { b.Timestamp = -1 }, want: chain.ErrFields},
		{name: "block says height 2", alter: func(b *chain.Block) { b.Height = 2 }, want: chain.ErrHeight},
		{name: "block says height 0", alter: func(b *chain.Block) { b.Height = 0 }, want: chain.ErrHeight},
		{name: "checked at height 2", height: iptr(2), want: chain.ErrHeight},
		{name: "negative height", alter: func(b *chain.Block) { b.Height = -1 }, height: iptr(-1), want: chain.ErrFields},
		{name: "height 1 with empty prev", prev: ptr(""), want: chain.ErrHeight},
		{name: "genesis with a non-empty prev", base: g, prev: ptr(prev), want: chain.ErrHeight},
		{name: "difficulty 9", difficulty: mainDifficulty + 1, want: chain.ErrDifficulty},
		{name: "difficulty 64", difficulty: 64, want: chain.ErrDifficulty},
		{name: "negative difficulty", difficulty: -1, want: chain.ErrDifficulty},
		{name: "hash upper-case", alter: func(b *chain.Block) { b.Hash = strings.ToUpper(b.Hash) }, want: chain.ErrFields},
		{name: "hash one letter upper-case", alter: func(b *chain.Block) { b.Hash = "5C" + b.Hash[2:] }, want: chain.ErrFields},
		{name: "hash of 63 characters", alter: func(b *chain.Block) { b.Hash = b.Hash[1:] }, want: chain.ErrFields},
		{name: "hash of 65 characters", alter: func(b *chain.Block) { b.Hash = "0" + b.Hash }, want: chain.ErrFields},
		{name: "hash empty", alter: func(b *chain.Block) { b.Hash = "" }, want: chain.ErrFields},
		{name: "hash None", alter: func(b *chain.Block) { b.Hash = "None" }, want: chain.ErrFields},
		{name: "hash with non-hex digit", alter: func(b *chain.Block) { b.Hash = "g" + b.Hash[1:] }, want: chain.ErrFields},
		{name: "hash with 0x prefix", alter: func(b *chain.Block) { b.Hash = "0x" + b.Hash[2:] }, want: chain.ErrFields},
		{name: "hash with a multi-byte character", alter: func(b *chain.Block) { b.Hash = "é" + b.Hash[2:] }, want: chain.ErrFields},
		{name: "hash not meeting difficulty", alter: func(b *chain.Block) { b.Hash = b.Hash[:63] + "1" }, want: chain.ErrDifficulty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, p, h, d := vb.Copy(), prev, 1, mainDifficulty
			if tc.base != nil {
				base, p, h = tc.base.Clone(), "", 0
			}
			if tc.prev != nil {
				p = *tc.prev
			}
			if tc.height != nil {
				h = *tc.height
			}
			if tc.difficulty != 0 {
				d = tc.difficulty
			}
			if tc.alter != nil {
				tc.alter(base)
			}
			err := chain.Validate(base, p, h, d)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	// The original is untouched by all of this.
	if err := chain.Validate(vb.Copy(), prev, 1, mainDifficulty); err != nil {
		t.Fatalf("unaltered block after the table: %v", err)
	}
}

func ptr(s string) *string { return &s }
func iptr(i int) *int      { return &i }

// minedBlock returns a block at height 0 with the given fields, mined at
// difficulty d with a nonce of prefix followed by digits decimal digits.
// Its hash is right, so any rejection is due to the fields alone.
func minedBlock(tb testing.TB, minedBy string, messages []string, prefix string, digits, d int) *chain.Block {
	tb.Helper()
	b := &chain.Block{MinedBy: minedBy, Messages: messages, Timestamp: 1730974785}
	for n := 0; n < 1<<20; n++ {
		b.Nonce = fmt.Sprintf("%s%0*d", prefix, digits, n)
		if h := chain.ComputeHash("", b); chain.MeetsDifficulty(h, d) {
			b.Hash = h
			return b
		}
	}
	tb.Fatalf("could not mine a block at difficulty %d", d)
	return nil
}

// TestLimitsWithCorrectHash checks the field limits on blocks whose hash is
// right and meets the difficulty: exactly at a limit is valid, one past it is
// ErrFields. Limits count Unicode code points, not bytes.
func TestLimitsWithCorrectHash(t *testing.T) {
	const d = 2
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", s, i)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		minedBy  string
		messages []string
		prefix   string
		digits   int
		valid    bool
	}{
		{"message of 20 ASCII", "t", []string{strings.Repeat("a", 20)}, "", 1, true},
		{"message of 21 ASCII", "t", []string{strings.Repeat("a", 21)}, "", 1, false},
		{"message of 20 é (40 bytes)", "t", []string{strings.Repeat("é", 20)}, "", 1, true},
		{"message of 21 é", "t", []string{strings.Repeat("é", 21)}, "", 1, false},
		{"message of 20 emoji (80 bytes)", "t", []string{strings.Repeat("😀", 20)}, "", 1, true},
		{"message of 21 emoji", "t", []string{"ok", strings.Repeat("😀", 21)}, "", 1, false},
		{"empty message", "t", []string{""}, "", 1, true},
		{"no messages (accepted when receiving)", "t", nil, "", 1, true},
		{"10 messages", "t", many(10, "m"), "", 1, true},
		{"11 messages", "t", many(11, "m"), "", 1, false},
		{"nonce of 40 digits", "t", []string{"x"}, "", 40, true},
		{"nonce of 41 digits", "t", []string{"x"}, "", 41, false},
		{"nonce of 40 characters, 34 é", "t", []string{"x"}, strings.Repeat("é", 34), 6, true},
		{"nonce of 41 characters, 35 é", "t", []string{"x"}, strings.Repeat("é", 35), 6, false},
		{"long minedBy (no limit)", strings.Repeat("name", 50), []string{"x"}, "", 1, true},
		{"multi-byte minedBy", "Nico Rosberg ✓", []string{"x"}, "", 1, true},
		{"message not UTF-8", "t", []string{"ok", "ab\xffcd"}, "", 1, false},
		{"minedBy not UTF-8", "miner\xc3", []string{"x"}, "", 1, false},
		{"nonce not UTF-8", "t", []string{"x"}, "\xff", 1, false},
		{"message of 21 ASCII beside a multi-byte minedBy", "é", []string{strings.Repeat("a", 21)}, "", 1, false},
		{"nonce of 41 ASCII beside a multi-byte message", "t", []string{"é"}, "", 41, false},
		{"8 and 16 ASCII bytes (word sizes)", "12345678", []string{"1234567890123456"}, "", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := minedBlock(t, tc.minedBy, tc.messages, tc.prefix, tc.digits, d)
			if got := chain.ComputeHash("", b); got != b.Hash {
				t.Fatalf("helper produced a wrong hash")
			}
			err := chain.Validate(b, "", 0, d)
			cerr := chain.CheckFields(b, d)
			if tc.valid {
				if err != nil || cerr != nil {
					t.Fatalf("Validate: %v, CheckFields: %v; want both nil (nonce %q, %d runes)", err, cerr, b.Nonce, utf8.RuneCountInString(b.Nonce))
				}
				return
			}
			wantErr(t, err, chain.ErrFields)
			wantErr(t, cerr, chain.ErrFields)
		})
	}
}

// TestMessageBoundariesAreNotHashed documents a consequence of the hash rule
// (no separators): moving the boundary between two messages keeps the hash.
func TestMessageBoundariesAreNotHashed(t *testing.T) {
	v := vectors.Load(t)
	vb := v.Find(t, "fall2024-main", 0)
	b := vb.Copy()
	b.Messages[0], b.Messages[1] = "Keep i", "tsimple."
	if vb.Messages[0] != "Keep it" || vb.Messages[1] != "simple." {
		t.Fatalf("vectors: unexpected genesis messages %q", vb.Messages)
	}
	if err := chain.Validate(b, "", 0, mainDifficulty); err != nil {
		t.Fatalf("re-split messages: %v", err)
	}
}

func TestPreimageLayout(t *testing.T) {
	prev := strings.Repeat("ab", 32)
	b := &chain.Block{
		Height:    7,
		MinedBy:   "mé",
		Messages:  []string{"one", "", "twö"},
		Nonce:     "0042",
		Timestamp: 0x0102030405060708,
		Hash:      "ignored",
	}
	var want []byte
	want = append(want, prev...)
	want = append(want, "mé"...)
	want = append(want, "one"...)
	want = append(want, "twö"...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = append(want, "0042"...)
	if got := chain.Preimage(prev, b); !bytes.Equal(got, want) {
		t.Fatalf("Preimage = %x, want %x", got, want)
	}
	// Genesis: no prev at all.
	if got := chain.Preimage("", b); !bytes.Equal(got, want[len(prev):]) {
		t.Fatalf("genesis Preimage = %x, want %x", got, want[len(prev):])
	}
	// The hash is the lower-case hex SHA-256 of the preimage.
	sum := sha256.Sum256(want)
	if got := chain.ComputeHash(prev, b); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("ComputeHash = %s, want %x", got, sum)
	}
	if got := chain.ComputeHash(prev, b); !chain.IsHash(got) {
		t.Fatalf("ComputeHash result %q is not a lower-case hash", got)
	}
	// The timestamp is 8 unsigned big-endian bytes, also for the largest.
	b.Timestamp = 1<<63 - 1
	p := chain.Preimage("", b)
	ts := p[len(p)-len(b.Nonce)-8 : len(p)-len(b.Nonce)]
	if binary.BigEndian.Uint64(ts) != 1<<63-1 {
		t.Fatalf("timestamp bytes %x", ts)
	}
}

func TestAppendPrefix(t *testing.T) {
	b := &chain.Block{MinedBy: "Prof!", Messages: []string{"a", "bc"}, Nonce: "99", Timestamp: 1730974785}
	prev := strings.Repeat("1", 64)
	dst := []byte("keep")
	got := chain.AppendPrefix(dst, prev, b.MinedBy, b.Messages, b.Timestamp)
	if !bytes.HasPrefix(got, []byte("keep")) {
		t.Fatalf("AppendPrefix lost dst: %q", got)
	}
	if want := chain.Preimage(prev, b); !bytes.Equal(append(got[4:], b.Nonce...), want) {
		t.Fatalf("AppendPrefix+nonce = %x, want Preimage %x", append(got[4:], b.Nonce...), want)
	}
}

func TestMeetsDifficulty(t *testing.T) {
	h8 := "5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000"
	for _, tc := range []struct {
		hash string
		d    int
		want bool
	}{
		{h8, 0, true},
		{h8, 1, true},
		{h8, 8, true},
		{h8, 9, false},
		{h8, 64, false},
		{h8, 65, false},
		{h8, -1, false},
		{strings.Repeat("0", 64), 64, true},
		{strings.Repeat("0", 64), 65, false},
		{"", 0, true},
		{"", 1, false},
		{"000", 3, true},
		{"100", 3, false},
		{"00O", 1, false}, // letter O is not a zero
	} {
		if got := chain.MeetsDifficulty(tc.hash, tc.d); got != tc.want {
			t.Errorf("MeetsDifficulty(%q, %d) = %v, want %v", tc.hash, tc.d, got, tc.want)
		}
	}
}

func TestIsHash(t *testing.T) {
	good := "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000"
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{good, true},
		{strings.Repeat("0", 64), true},
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{strings.ToUpper(good), false},
		{good[:63], false},
		{good + "0", false},
		{"", false},
		{"None", false},
		{good[:63] + "g", false},
		{good[:63] + " ", false},
		{" " + good[1:], false},
		{good[:62] + "é", false}, // 64 bytes, 63 runes
	} {
		if got := chain.IsHash(tc.s); got != tc.want {
			t.Errorf("IsHash(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestCheckFieldsDoesNotNeedPrev(t *testing.T) {
	v := vectors.Load(t)
	for _, vb := range v.Blocks {
		if err := chain.CheckFields(vb.Copy(), mainDifficulty); err != nil {
			t.Errorf("%s: CheckFields: %v", vb.Name(), err)
		}
	}
	// A nil or empty message list is within the limits (accepted when
	// receiving), but negative heights are not.
	b := v.Find(t, "fall2024-main", 1).Copy()
	b.Messages = nil
	if err := chain.CheckFields(b, mainDifficulty); err != nil {
		t.Errorf("CheckFields with no messages: %v", err)
	}
	b.Height = -3
	wantErr(t, chain.CheckFields(b, mainDifficulty), chain.ErrFields)
}

func TestCloneIsDeep(t *testing.T) {
	v := vectors.Load(t)
	orig := v.Find(t, "fall2024-main", 0).Copy()
	c := orig.Clone()
	if c == orig {
		t.Fatal("Clone returned the same pointer")
	}
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("Clone = %+v, want %+v", c, orig)
	}
	c.Messages[0] = "changed"
	c.Messages = append(c.Messages, "more")
	c.Nonce = "1"
	if orig.Messages[0] != "Keep it" || len(orig.Messages) != 5 || orig.Nonce != "663135608617883" {
		t.Fatalf("changing the clone changed the original: %+v", orig)
	}
}

// TestBlockJSON decodes a block as it arrives on the wire (the spec's
// GET_BLOCK_REPLY example) and checks that it validates.
func TestBlockJSON(t *testing.T) {
	const wire = `{"type":"GET_BLOCK_REPLY","height":1,"minedBy":"Prof!","nonce":"4776171179467","messages":["test"],"hash":"5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000","timestamp":1730974785}`
	var b chain.Block
	if err := json.Unmarshal([]byte(wire), &b); err != nil {
		t.Fatal(err)
	}
	genesis := "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000"
	if err := chain.Validate(&b, genesis, 1, mainDifficulty); err != nil {
		t.Fatalf("Validate: %v (decoded %+v)", err, b)
	}
	out, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"height", "minedBy", "nonce", "messages", "hash", "timestamp"} {
		if _, ok := m[k]; !ok {
			t.Errorf("encoded block lacks %q: %s", k, out)
		}
	}
	if len(m) != 6 {
		t.Errorf("encoded block has %d keys, want 6: %s", len(m), out)
	}
}

func TestMine(t *testing.T) {
	b := &chain.Block{Height: 0, MinedBy: "t", Messages: []string{"hi"}, Timestamp: 5}
	if !chain.Mine("", b, 2, 1<<20) {
		t.Fatal("Mine failed at difficulty 2")
	}
	if err := chain.Validate(b, "", 0, 2); err != nil {
		t.Fatalf("mined block: %v", err)
	}
	if utf8.RuneCountInString(b.Nonce) >= chain.MaxNonceRunes {
		t.Fatalf("nonce %q too long", b.Nonce)
	}
	c := &chain.Block{Height: 0, MinedBy: "t", Messages: []string{"hi"}, Timestamp: 5}
	if chain.Mine("", c, 64, 3) {
		t.Fatal("Mine claims success at difficulty 64 in 3 tries")
	}
	if chain.Mine("", c, 1, 0) {
		t.Fatal("Mine claims success with 0 tries")
	}
}

func TestExtendBuildsValidChain(t *testing.T) {
	blocks := chain.Extend(nil, 4, 2, "a", 1000)
	if n := chain.ValidPrefix(blocks, 2); n != 4 {
		t.Fatalf("ValidPrefix of Extend = %d, want 4", n)
	}
	more := chain.Extend(blocks, 2, 2, "b", 1000)
	if len(more) != 6 || len(blocks) != 4 {
		t.Fatalf("Extend lengths: %d and %d", len(more), len(blocks))
	}
	for i := range blocks {
		if more[i] != blocks[i] {
			t.Fatalf("Extend changed block %d of its input", i)
		}
	}
	if n := chain.ValidPrefix(more, 2); n != 6 {
		t.Fatalf("ValidPrefix of extended chain = %d, want 6", n)
	}
	for i, b := range more {
		if b.Height != i || b.Timestamp != 1000+int64(i) {
			t.Fatalf("block %d: height %d timestamp %d", i, b.Height, b.Timestamp)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	v := vectors.Load(b)
	vb := v.Find(b, "fall2024-main", 1)
	blk, prev := vb.Copy(), vb.Prev()
	if err := chain.Validate(blk, prev, 1, mainDifficulty); err != nil {
		b.Fatalf("Validate: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := chain.Validate(blk, prev, 1, mainDifficulty); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComputeHash is the hash rule alone on a real block: the
// preimage, SHA-256 and the hex digest.
func BenchmarkComputeHash(b *testing.B) {
	v := vectors.Load(b)
	vb := v.Find(b, "fall2024-main", 1)
	blk, prev := vb.Copy(), vb.Prev()
	b.SetBytes(int64(len(chain.Preimage(prev, blk))))
	b.ReportAllocs()
	for b.Loop() {
		if chain.ComputeHash(prev, blk) != blk.Hash {
			b.Fatal("hash mismatch")
		}
	}
}

// BenchmarkSHA256Preimage is the floor of ComputeHash and Validate:
// crypto/sha256 over the same preimage, built once.
func BenchmarkSHA256Preimage(b *testing.B) {
	v := vectors.Load(b)
	vb := v.Find(b, "fall2024-main", 1)
	pre := chain.Preimage(vb.Prev(), vb.Copy())
	b.SetBytes(int64(len(pre)))
	var sink byte
	for b.Loop() {
		sum := sha256.Sum256(pre)
		sink ^= sum[0]
	}
	_ = sink
}
