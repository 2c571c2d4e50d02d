package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
)

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", m, err)
	}
	return b
}

// checkWire checks the framing every encoded datagram must have: compact
// JSON, exactly one trailing newline, at most MaxDatagram bytes.
func checkWire(t testing.TB, enc []byte, typ string) {
	t.Helper()
	if len(enc) > MaxDatagram {
		t.Errorf("%d bytes, more than MaxDatagram", len(enc))
	}
	body, ok := bytes.CutSuffix(enc, []byte("\n"))
	if !ok {
		t.Fatalf("%q does not end with a newline", enc)
	}
	if bytes.ContainsAny(body, "\r\n") {
		t.Errorf("%q: more than one line", enc)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatalf("%q is not JSON: %v", body, err)
	}
	if !bytes.Equal(compact.Bytes(), body) {
		t.Errorf("not compact:\n got %s\nwant %s", body, compact.Bytes())
	}
	if !bytes.Contains(body, []byte(`"type":"`+typ+`"`)) {
		t.Errorf("%s does not contain \"type\":%q", body, typ)
	}
}

func TestEncodeRoundTripVectors(t *testing.T) {
	for _, v := range vectors.Load(t).Blocks {
		b := v.Block
		t.Run(v.Name(), func(t *testing.T) {
			orig := b.Clone()
			enc := mustEncode(t, GetBlockReply{Height: b.Height, Block: &b})
			checkWire(t, enc, TypeGetBlockReply)
			if !reflect.DeepEqual(&b, orig) {
				t.Errorf("Encode modified the block")
			}
			r, ok := mustParse(t, string(enc)).(GetBlockReply)
			if !ok {
				t.Fatalf("re-parsed as %T", r)
			}
			if r.Problem != nil || r.Height != b.Height || !reflect.DeepEqual(r.Block, &b) {
				t.Errorf("round trip:\n got %#v (block %#v)\nwant %#v", r, r.Block, b)
			}
			// The same through ANNOUNCE.
			enc = mustEncode(t, Announce{Block: &b})
			checkWire(t, enc, TypeAnnounce)
			a, ok := mustParse(t, string(enc)).(Announce)
			if !ok || !reflect.DeepEqual(a.Block, &b) {
				t.Errorf("ANNOUNCE round trip: got %#v", a)
			}
			// A verified block still validates after the round trip.
			if v.Verified {
				if err := chain.Validate(r.Block, v.Prev(), b.Height, 8); err != nil {
					t.Errorf("round-tripped block does not validate: %v", err)
				}
			}
		})
	}
}

// A GetBlockReply is encoded from its Block alone: Height and Problem are
// receive-side information.
func TestEncodeNullReply(t *testing.T) {
	var want map[string]any
	if err := json.Unmarshal([]byte(specNullReply), &want); err != nil {
		t.Fatal(err)
	}
	for _, m := range []GetBlockReply{
		{},
		{Height: 5},
		{Height: -1, Problem: errors.New("x")},
	} {
		enc := mustEncode(t, m)
		checkWire(t, enc, TypeGetBlockReply)
		var got map[string]any
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Encode(%#v) = %s, want %s", m, enc, specNullReply)
		}
		if len(got) != 7 {
			t.Errorf("%d keys, want type + six nulls", len(got))
		}
		r := mustParse(t, string(enc)).(GetBlockReply)
		if r.Block != nil || r.Problem != nil {
			t.Errorf("re-parsed null reply: %#v", r)
		}
	}
}

func TestEncodeStatsReply(t *testing.T) {
	decode := func(m StatsReply) map[string]any {
		enc := mustEncode(t, m)
		checkWire(t, enc, TypeStatsReply)
		var got map[string]any
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	empty := map[string]any{"type": "STATS_REPLY", "height": float64(0), "hash": nil}
	for _, m := range []StatsReply{{}, {Height: 0, Hash: "junk"}, {Height: 0, Hash: genesisHash2024}} {
		if got := decode(m); !reflect.DeepEqual(got, empty) {
			t.Errorf("Encode(%#v) = %v, want %v", m, got, empty)
		}
	}
	want := map[string]any{"type": "STATS_REPLY", "height": float64(1962), "hash": block1Hash2024}
	if got := decode(StatsReply{1962, block1Hash2024}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// The spec's own empty-chain line reads back as no chain.
	if r := mustParse(t, string(mustEncode(t, StatsReply{}))).(StatsReply); r.HasChain() || r != (StatsReply{}) {
		t.Errorf("re-parsed empty stats: %#v", r)
	}
}

func TestEncodeRoundTripAllTypes(t *testing.T) {
	noMessages := block1()
	noMessages.Messages = nil
	msgs := []Message{
		Gossip{Host: "192.168.0.27", Port: 8999, ID: gossipID, Name: "xyz"},
		Gossip{Host: "peer.example.org", Port: 1, ID: "x", Name: ""},
		Gossip{Host: strings.Repeat("h", MaxNameBytes), Port: 65535, ID: strings.Repeat("i", MaxIDBytes), Name: strings.Repeat("n", MaxNameBytes)},
		GossipReply{Host: "10.0.0.1", Port: 9000, Name: "Nico Rosberg"},
		GossipReply{Host: "10.0.0.1", Port: 9000},
		Stats{},
		StatsReply{Height: 1962, Hash: block1Hash2024},
		StatsReply{},
		GetBlock{Height: 0},
		GetBlock{Height: 2155},
		GetBlockReply{Height: 1, Block: block1()},
		GetBlockReply{Height: 0, Block: genesis2024()},
		GetBlockReply{Height: -1},
		Announce{Block: block1()},
		Announce{Block: genesis2024()},
		Consensus{},
		NewWord{Word: "hello"},
		NewWord{Word: "quote \" backslash \\ tab\t nl\n cr\r ctl\x01\x00\x7f é 😀 <a&b>"},
		NewWord{Word: "\u2028\u2029"},
		NewWord{Word: ""},
	}
	for _, m := range msgs {
		enc := mustEncode(t, m)
		checkWire(t, enc, m.Type())
		got := mustParse(t, string(enc))
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %#v:\n encoded %s\n got %#v", m, enc, got)
		}
	}
	// A block without messages is encoded with [] (never null, which would
	// read as "no such block"), and reads back as a block.
	enc := mustEncode(t, GetBlockReply{Block: noMessages})
	if !bytes.Contains(enc, []byte(`"messages":[]`)) {
		t.Errorf("nil messages encoded as %s", enc)
	}
	if r := mustParse(t, string(enc)).(GetBlockReply); r.Block == nil || len(r.Block.Messages) != 0 {
		t.Errorf("block without messages re-parsed as %#v", r)
	}
}

func TestEncodeTooLarge(t *testing.T) {
	big := block1()
	big.MinedBy = strings.Repeat("m", 2000)
	for _, m := range []Message{
		GetBlockReply{Block: big},
		Announce{Block: big},
		NewWord{Word: strings.Repeat("w", 2000)},
		Gossip{Host: "h", Port: 1, ID: "x", Name: strings.Repeat("n", 2000)},
		GossipReply{Host: "h", Port: 1, Name: strings.Repeat("n", 2000)},
		StatsReply{Height: 1, Hash: strings.Repeat("0", 2000)},
		// Escaping counts: 300 control characters take 1800 bytes.
		NewWord{Word: strings.Repeat("\x01", 300)},
	} {
		enc, err := Encode(m)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Encode(%.60T): err = %v, want ErrTooLarge", m, err)
		}
		if enc != nil {
			t.Errorf("Encode(%T) returned %d bytes with the error", m, len(enc))
		}
	}

	// The limit is exact: MaxDatagram bytes (newline included) fit.
	overhead := len(mustEncode(t, NewWord{}))
	fit := NewWord{Word: strings.Repeat("a", MaxDatagram-overhead)}
	if enc := mustEncode(t, fit); len(enc) != MaxDatagram {
		t.Errorf("largest NEW_WORD is %d bytes, want %d", len(enc), MaxDatagram)
	}
	over := NewWord{Word: strings.Repeat("a", MaxDatagram-overhead+1)}
	if _, err := Encode(over); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d-byte NEW_WORD: err = %v, want ErrTooLarge", MaxDatagram+1, err)
	}
}

// A maximal valid block (section 4 limits) fits in one datagram.
func TestEncodeMaximalBlockFits(t *testing.T) {
	b := &chain.Block{
		Height:    MaxHeight,
		MinedBy:   strings.Repeat("m", 40),
		Nonce:     strings.Repeat("9", chain.MaxNonceRunes),
		Hash:      block1Hash2024,
		Timestamp: 1<<63 - 1,
	}
	for range chain.MaxMessages {
		b.Messages = append(b.Messages, strings.Repeat("x", chain.MaxMessageRunes))
	}
	enc := mustEncode(t, Announce{Block: b})
	checkWire(t, enc, TypeAnnounce)
	if a := mustParse(t, string(enc)).(Announce); !reflect.DeepEqual(a.Block, b) {
		t.Errorf("maximal block round trip: %#v", a.Block)
	}
}

func TestEncodeNoHTMLEscape(t *testing.T) {
	enc := mustEncode(t, NewWord{Word: "<a&b>"})
	if !bytes.Contains(enc, []byte(`"word":"<a&b>"`)) {
		t.Errorf("NEW_WORD encoded as %s", enc)
	}
	b := block1()
	b.Messages = []string{"<a&b>"}
	b.MinedBy = "<Prof&>"
	enc = mustEncode(t, GetBlockReply{Block: b})
	if !bytes.Contains(enc, []byte(`"messages":["<a&b>"]`)) || !bytes.Contains(enc, []byte(`"minedBy":"<Prof&>"`)) {
		t.Errorf("block encoded as %s", enc)
	}
	if bytes.Contains(enc, []byte(`\u003c`)) || bytes.Contains(enc, []byte(`\u0026`)) {
		t.Errorf("HTML-escaped: %s", enc)
	}
}

func TestEncodeRefuses(t *testing.T) {
	type bogus struct{ Stats }
	for _, m := range []Message{nil, Announce{}, &Stats{}, bogus{}} {
		enc, err := Encode(m)
		if err == nil || enc != nil {
			t.Errorf("Encode(%#v) = %q, %v; want an error", m, enc, err)
		}
	}
}

func BenchmarkParseGetBlockReply(b *testing.B) {
	data := []byte(specGetBlockReply + "\n")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil || m.(GetBlockReply).Block == nil {
			b.Fatalf("Parse: %#v, %v", m, err)
		}
	}
}

func BenchmarkEncodeGetBlockReply(b *testing.B) {
	m := GetBlockReply{Height: 0, Block: genesis2024()}
	b.ReportAllocs()
	for b.Loop() {
		enc, err := Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(enc)))
	}
}

func BenchmarkParseGetBlock(b *testing.B) {
	data := []byte(`{"type":"GET_BLOCK","height":1234}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil || m.(GetBlock).Height != 1234 {
			b.Fatalf("Parse: %#v, %v", m, err)
		}
	}
}

func BenchmarkEncodeGetBlock(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(GetBlock{Height: 1234}); err != nil {
			b.Fatal(err)
		}
	}
}
