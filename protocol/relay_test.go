package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"blockpeer/chain"
)

// emojiBlock is a block valid by every rule of section 4 (not its proof of
// work, which Encode does not look at) whose encoding is over MaxDatagram:
// minedBy of 20 emoji and 10 messages of 20 emoji each.
func emojiBlock() *chain.Block {
	b := block1()
	b.MinedBy = strings.Repeat("😀", 20)
	b.Messages = nil
	for range chain.MaxMessages {
		b.Messages = append(b.Messages, strings.Repeat("🧱", chain.MaxMessageRunes))
	}
	return b
}

// What we pass on (a block, a forwarded GOSSIP) is sent whole over
// MaxDatagram; what we create is not.
func TestEncodeRelayPassesOnOversizeContent(t *testing.T) {
	b := emojiBlock()
	gossip := Gossip{Host: "10.0.0.1", Port: 8999, ID: gossipID, Name: strings.Repeat("\x01", MaxNameBytes)}
	for _, m := range []Message{GetBlockReply{Block: b}, Announce{Block: b}, gossip} {
		if _, err := Encode(m); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Encode(%T): err = %v, want ErrTooLarge", m, err)
		}
		enc, err := EncodeRelay(m)
		if err != nil {
			t.Fatalf("EncodeRelay(%T): %v", m, err)
		}
		if len(enc) <= MaxDatagram || enc[len(enc)-1] != '\n' || bytes.Count(enc, []byte("\n")) != 1 {
			t.Errorf("EncodeRelay(%T): %d bytes, want one line over %d", m, len(enc), MaxDatagram)
		}
		if back := mustParse(t, string(enc)); !sameMessage(m, back) {
			t.Errorf("EncodeRelay(%T) round trip: %#v", m, back)
		}
	}
	// The emoji are raw UTF-8: 4 bytes each, 220 of them, plus the fields.
	enc, _ := EncodeRelay(GetBlockReply{Block: b})
	if len(enc) < 220*4 || len(enc) > 220*4+250 {
		t.Errorf("emoji block encodes to %d bytes: escaped?", len(enc))
	}
}

func TestEncodeRelayLimit(t *testing.T) {
	b := block1()
	overhead := len(mustEncode(t, Announce{Block: b})) - len(b.MinedBy)
	b.MinedBy = strings.Repeat("m", MaxRelayDatagram-overhead)
	enc, err := EncodeRelay(Announce{Block: b})
	if err != nil || len(enc) != MaxRelayDatagram {
		t.Errorf("largest ANNOUNCE: %d bytes, %v; want %d", len(enc), err, MaxRelayDatagram)
	}
	b.MinedBy += "m"
	if enc, err := EncodeRelay(Announce{Block: b}); !errors.Is(err, ErrTooLarge) || enc != nil {
		t.Errorf("ANNOUNCE of %d bytes: %d bytes, %v; want ErrTooLarge", MaxRelayDatagram+1, len(enc), err)
	}
	if MaxRelayDatagram > ReadBuffer {
		t.Errorf("we would pass on %d bytes but read only %d", MaxRelayDatagram, ReadBuffer)
	}
}

// Only content made by others goes through EncodeRelay: what we create
// must fit in MaxDatagram.
func TestEncodeRelayRefusesWhatWeCreate(t *testing.T) {
	for _, m := range []Message{nil, Stats{}, Consensus{}, StatsReply{Height: 1, Hash: block1Hash2024}, GetBlock{Height: 1},
		NewWord{Word: "w"}, GossipReply{Host: "h", Port: 1, Name: "n"}, Announce{}} {
		if enc, err := EncodeRelay(m); err == nil || enc != nil {
			t.Errorf("EncodeRelay(%#v) = %q, %v; want an error", m, enc, err)
		}
	}
}

// U+2028 and U+2029 go raw, as every other character: encoding/json
// escapes them to six bytes. An escaped backslash before "u2028" stays as
// it is.
func TestEncodeLineSeparatorsRaw(t *testing.T) {
	b := block1()
	b.MinedBy = "a\u2028b\u2029c"
	b.Messages = []string{`\u2028`, "\\\u2028", "\x01\u2029", strings.Repeat("\u2028", chain.MaxMessageRunes)}
	enc := mustEncode(t, GetBlockReply{Block: b})
	for _, want := range []string{`"minedBy":"a` + "\u2028b\u2029c" + `"`, `"\\u2028"`, `"\\` + "\u2028" + `"`, `"\u0001` + "\u2029" + `"`} {
		if !bytes.Contains(enc, []byte(want)) {
			t.Errorf("encoding lacks %s: %s", want, enc)
		}
	}
	if back := mustParse(t, string(enc)).(GetBlockReply); !reflect.DeepEqual(back.Block, b) {
		t.Errorf("round trip: %#v, want %#v", back.Block, b)
	}
}
