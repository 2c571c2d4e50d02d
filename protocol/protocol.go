// Package protocol is the course network's wire format: one JSON object per
// UDP datagram. Parse turns untrusted bytes into typed messages, validating
// every field strictly (gjson, never trusting what arrives); Encode writes
// compact JSON ending with a newline so that replies read well in `nc -u`:
// at most MaxDatagram bytes for what we create, and with EncodeRelay up to
// MaxRelayDatagram bytes for valid content made by others that we pass on.
//
// It touches no socket and no clock.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"blockpeer/chain"
)

// Sizes of datagrams.
const (
	// MaxDatagram is the largest datagram we create (Encode): the
	// instructor's tools and most peers read with a 1024-byte buffer.
	MaxDatagram = 1024
	// MaxRelayDatagram is the largest datagram we pass on (EncodeRelay): a
	// valid block made by someone else can be over MaxDatagram (minedBy has
	// no length limit, a message 20 four-byte characters), and the spec has
	// it sent whole rather than not at all, up to 64 KiB. 65,507 bytes is
	// the largest UDP payload over IPv4.
	MaxRelayDatagram = 65507
	// ReadBuffer is the buffer we read with; larger datagrams are dropped.
	ReadBuffer = 64 << 10
	// MaxNameBytes bounds a peer's name and a host string from GOSSIP. A
	// forwarded GOSSIP that encodes over MaxDatagram (escapes) is passed on
	// whole (EncodeRelay); our own name must fit (Encode).
	MaxNameBytes = 200
	// MaxIDBytes bounds a gossip id (a uuid is 36 characters).
	MaxIDBytes = 100
	// MaxHeight bounds every height we accept: far above any course chain,
	// far below anything that could make us allocate without bound.
	MaxHeight = 1 << 24
	// MaxWordRunes is the longest word a miner accepts (a block message).
	MaxWordRunes = chain.MaxMessageRunes
)

// Message types.
const (
	TypeGossip        = "GOSSIP"
	TypeGossipReply   = "GOSSIP_REPLY"
	TypeStats         = "STATS"
	TypeStatsReply    = "STATS_REPLY"
	TypeGetBlock      = "GET_BLOCK"
	TypeGetBlockReply = "GET_BLOCK_REPLY"
	TypeAnnounce      = "ANNOUNCE"
	TypeConsensus     = "CONSENSUS"
	TypeNewWord       = "NEW_WORD"
)

// Message is one of the typed messages below.
type Message interface {
	// Type returns the message's wire type, e.g. "GOSSIP".
	Type() string
}

// Gossip announces a peer (the originator) to the network.
type Gossip struct {
	Host string // originator's host, as it wrote it
	Port int
	ID   string
	Name string
}

// GossipReply is a peer's answer to our GOSSIP: its own address and name.
type GossipReply struct {
	Host string
	Port int
	Name string
}

// Stats asks for a peer's chain height and top hash.
type Stats struct{}

// StatsReply is a peer's chain: Height blocks, the top one with hash Hash.
// A peer without a chain (height 0, -1, null, a string, a garbage hash...)
// is parsed as the zero StatsReply; HasChain tells which.
type StatsReply struct {
	Height int
	Hash   string
}

// HasChain reports whether the reply describes a chain to follow.
func (s StatsReply) HasChain() bool { return s.Height > 0 && chain.IsHash(s.Hash) }

// GetBlock asks for the block at Height (0-based).
type GetBlock struct {
	Height int
}

// GetBlockReply carries a block, or Block == nil for "no such block" (all
// nulls, "None", an empty or malformed block: never taken as a block).
// Height is the height the reply claims (or -1 when it has none); Problem
// says why Block is nil when the reply looked like a block but was not one.
type GetBlockReply struct {
	Height  int
	Block   *chain.Block
	Problem error
}

// Announce carries a freshly mined block.
type Announce struct {
	Block *chain.Block
}

// Consensus asks a peer to run a consensus now.
type Consensus struct{}

// NewWord gives a miner a word for a future block.
type NewWord struct {
	Word string
}

func (Gossip) Type() string        { return TypeGossip }
func (GossipReply) Type() string   { return TypeGossipReply }
func (Stats) Type() string         { return TypeStats }
func (StatsReply) Type() string    { return TypeStatsReply }
func (GetBlock) Type() string      { return TypeGetBlock }
func (GetBlockReply) Type() string { return TypeGetBlockReply }
func (Announce) Type() string      { return TypeAnnounce }
func (Consensus) Type() string     { return TypeConsensus }
func (NewWord) Type() string       { return TypeNewWord }

// ErrTooLarge is returned by Encode for a message over MaxDatagram bytes,
// and by EncodeRelay for one over MaxRelayDatagram bytes.
var ErrTooLarge = errors.New("message does not fit in one datagram")

// Encode returns m, a message we create, as compact JSON followed by a
// newline. It fails rather than produce a datagram over MaxDatagram bytes:
// everything we make must reach peers that read with a 1024-byte buffer.
func Encode(m Message) ([]byte, error) {
	return encode(m, MaxDatagram)
}

// EncodeRelay returns m, valid content made by someone else that we pass
// on, encoded as Encode does but up to MaxRelayDatagram bytes: a
// GET_BLOCK_REPLY or ANNOUNCE of a block, or a GOSSIP we forward. The spec
// has such a datagram sent whole even over MaxDatagram (silence would stall
// every peer syncing from us); the caller says so in its log when it is.
// Any other message is refused: what we create goes through Encode.
func EncodeRelay(m Message) ([]byte, error) {
	switch m.(type) {
	case GetBlockReply, Announce, Gossip:
		return encode(m, MaxRelayDatagram)
	case nil:
		return nil, errors.New("encode: no message")
	}
	return nil, fmt.Errorf("encode %s: only a block or a forwarded GOSSIP is passed on over %d bytes", m.Type(), MaxDatagram)
}

// encode writes m as compact JSON with a newline, in at most limit bytes.
func encode(m Message, limit int) ([]byte, error) {
	var v any
	switch m := m.(type) {
	case Gossip:
		v = struct {
			Type string `json:"type"`
			Host string `json:"host"`
			Port int    `json:"port"`
			ID   string `json:"id"`
			Name string `json:"name"`
		}{TypeGossip, m.Host, m.Port, m.ID, m.Name}
	case GossipReply:
		v = struct {
			Type string `json:"type"`
			Host string `json:"host"`
			Port int    `json:"port"`
			Name string `json:"name"`
		}{TypeGossipReply, m.Host, m.Port, m.Name}
	case Stats, Consensus:
		v = struct {
			Type string `json:"type"`
		}{m.Type()}
	case StatsReply:
		var hash *string
		if m.Height > 0 {
			hash = &m.Hash
		}
		v = struct {
			Type   string  `json:"type"`
			Height int     `json:"height"`
			Hash   *string `json:"hash"`
		}{TypeStatsReply, m.Height, hash}
	case GetBlock:
		v = struct {
			Type   string `json:"type"`
			Height int    `json:"height"`
		}{TypeGetBlock, m.Height}
	case GetBlockReply:
		v = blockJSON(TypeGetBlockReply, m.Block)
	case Announce:
		if m.Block == nil {
			return nil, errors.New("encode ANNOUNCE: no block")
		}
		v = blockJSON(TypeAnnounce, m.Block)
	case NewWord:
		v = struct {
			Type string `json:"type"`
			Word string `json:"word"`
		}{TypeNewWord, m.Word}
	default:
		return nil, fmt.Errorf("encode: unknown message %T", m)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the newline
		return nil, fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	data := rawSeparators(buf.Bytes())
	if len(data) > limit {
		return nil, fmt.Errorf("encode %s: %d bytes, over %d: %w", m.Type(), len(data), limit, ErrTooLarge)
	}
	return data, nil
}

// rawSeparators undoes encoding/json's escaping of U+2028 and U+2029, which
// it does for JavaScript whatever SetEscapeHTML says: the spec has UTF-8
// sent raw, and the escape doubles their size. What JSON requires stays
// escaped (quotes, backslashes, control characters). data is encoding/json's output, where every
// backslash starts an escape.
func rawSeparators(data []byte) []byte {
	if !bytes.Contains(data, []byte(`\u202`)) {
		return data
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			out = append(out, data[i])
			continue
		}
		if esc := data[i:min(i+6, len(data))]; string(esc) == `\u2028` || string(esc) == `\u2029` {
			out = utf8.AppendRune(out, 0x2020+rune(esc[5]-'0'))
			i += 5
			continue
		}
		out = append(out, data[i:min(i+2, len(data))]...) // another escape: \\ stays \\
		i++
	}
	return out
}

// blockJSON is a block message; a nil block is the "no such block" reply
// with all six fields null.
func blockJSON(typ string, b *chain.Block) any {
	type wire struct {
		Type      string    `json:"type"`
		Height    *int      `json:"height"`
		MinedBy   *string   `json:"minedBy"`
		Nonce     *string   `json:"nonce"`
		Messages  *[]string `json:"messages"`
		Hash      *string   `json:"hash"`
		Timestamp *int64    `json:"timestamp"`
	}
	if b == nil {
		return wire{Type: typ}
	}
	msgs := b.Messages
	if msgs == nil {
		msgs = []string{}
	}
	return wire{typ, &b.Height, &b.MinedBy, &b.Nonce, &msgs, &b.Hash, &b.Timestamp}
}
