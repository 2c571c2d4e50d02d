package protocol

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics on untrusted bytes, and that
// whatever it accepts survives Encode (EncodeRelay for what we pass on) and
// a second Parse unchanged: what we relay or serve is what we received.
//
// Under plain `go test` it runs the seed corpus below (every example line
// of the spec and every oddity the parse tests cover) plus testdata/fuzz.
func FuzzParse(f *testing.F) {
	for _, line := range seedLines() {
		f.Add([]byte(line))
	}
	for _, m := range []Message{
		GetBlockReply{Block: block1()},
		GetBlockReply{Block: genesis2024()},
		GetBlockReply{},
		Announce{Block: genesis2024()},
		StatsReply{},
		StatsReply{Height: 2, Hash: block1Hash2024},
		Gossip{Host: "192.168.0.27", Port: 8999, ID: gossipID, Name: "xyz"},
		GossipReply{Host: "192.168.0.27", Port: 8999, Name: "xyz"},
		GetBlock{Height: 3},
		NewWord{Word: "<a&b>"},
	} {
		enc, err := Encode(m)
		if err != nil {
			f.Fatalf("Encode(%#v): %v", m, err)
		}
		f.Add(enc)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatalf("Parse returned %#v with error %v", m, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrField) {
				t.Fatalf("error %v wraps none of ErrMalformed, ErrUnknownType, ErrField", err)
			}
			return
		}
		if m == nil {
			t.Fatalf("Parse returned a nil message and a nil error")
		}
		checkParsed(t, m)

		// Blocks and GOSSIPs are what we pass on (whole); the rest is
		// only ever encoded when we create it.
		encode, limit := Encode, MaxDatagram
		switch m.(type) {
		case GetBlockReply, Announce, Gossip:
			encode, limit = EncodeRelay, MaxRelayDatagram
		}
		enc, err := encode(m)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("Encode(%#v): %v", m, err)
		}
		if len(enc) > limit {
			t.Fatalf("Encode produced %d bytes", len(enc))
		}
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-Parse of %q (from %#v): %v", enc, m, err)
		}
		if !sameMessage(m, m2) {
			t.Fatalf("round trip changed the message:\n input   %q\n parsed  %#v\n encoded %q\n re-read %#v", data, m, enc, m2)
		}
	})
}

// checkParsed checks the invariants of an accepted message.
func checkParsed(t *testing.T, m Message) {
	t.Helper()
	switch m := m.(type) {
	case Gossip:
		if m.Port < 1 || m.Port > 65535 || m.Host == "" || m.ID == "" {
			t.Fatalf("bad GOSSIP accepted: %#v", m)
		}
	case GossipReply:
		if m.Port < 1 || m.Port > 65535 || m.Host == "" {
			t.Fatalf("bad GOSSIP_REPLY accepted: %#v", m)
		}
	case StatsReply:
		if m != (StatsReply{}) && !m.HasChain() {
			t.Fatalf("STATS_REPLY without a chain is not the zero value: %#v", m)
		}
	case GetBlockReply:
		if m.Block != nil && (m.Problem != nil || m.Block.Height != m.Height || m.Block.Height < 0 || m.Block.Timestamp < 0 || len(m.Block.Messages) > 10) {
			t.Fatalf("bad GET_BLOCK_REPLY: %#v (block %#v)", m, m.Block)
		}
		if m.Block == nil && m.Problem != nil && !errors.Is(m.Problem, ErrField) {
			t.Fatalf("GET_BLOCK_REPLY problem %v is not ErrField", m.Problem)
		}
	case Announce:
		if m.Block == nil || m.Block.Height < 0 || m.Block.Timestamp < 0 || len(m.Block.Messages) > 10 {
			t.Fatalf("bad ANNOUNCE: %#v", m.Block)
		}
	}
}

// sameMessage compares a parsed message with its re-parsed encoding. For
// block-carrying messages only the block travels (a GET_BLOCK_REPLY's
// claimed height and problem are receive-side information).
func sameMessage(a, b Message) bool {
	switch a := a.(type) {
	case GetBlockReply:
		b, ok := b.(GetBlockReply)
		return ok && reflect.DeepEqual(a.Block, b.Block)
	case Announce:
		b, ok := b.(Announce)
		return ok && reflect.DeepEqual(a.Block, b.Block)
	}
	return reflect.DeepEqual(a, b)
}
