package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"blockpeer/chain"
)

// Parse errors. Parse wraps them with detail; test with errors.Is.
var (
	ErrMalformed   = errors.New("malformed message")
	ErrUnknownType = errors.New("unknown message type")
	ErrField       = errors.New("bad field")
)

// Parse decodes one datagram. Trailing whitespace is ignored. Messages of
// an unknown type return ErrUnknownType (to be ignored); anything that is
// not a JSON object with a string "type", or whose fields have the wrong
// type or range, returns an error wrapping ErrMalformed or ErrField.
//
// Replies that describe "nothing" are not errors: a STATS_REPLY without a
// chain parses as a StatsReply with HasChain false, and a GET_BLOCK_REPLY
// that is not a usable block parses with Block nil.
func Parse(data []byte) (Message, error) {
	data = bytes.TrimRight(data, " \t\r\n")
	if len(data) > ReadBuffer {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	if !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("%w: not JSON", ErrMalformed)
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	t := root.Get("type")
	if t.Type != gjson.String {
		return nil, fmt.Errorf("%w: no string \"type\"", ErrMalformed)
	}
	switch t.Str {
	case TypeGossip:
		return parseGossip(root)
	case TypeGossipReply:
		host, port, err := hostPort(root)
		if err != nil {
			return nil, fmt.Errorf("GOSSIP_REPLY: %w", err)
		}
		name, err := optionalName(root)
		if err != nil {
			return nil, fmt.Errorf("GOSSIP_REPLY: %w", err)
		}
		return GossipReply{Host: host, Port: port, Name: name}, nil
	case TypeStats:
		return Stats{}, nil
	case TypeStatsReply:
		return parseStatsReply(root), nil
	case TypeGetBlock:
		h, ok := lenientInt(root.Get("height"), math.MinInt32, math.MaxInt32)
		if !ok {
			return nil, fmt.Errorf("GET_BLOCK: %w: height %s", ErrField, show(root.Get("height")))
		}
		return GetBlock{Height: h}, nil
	case TypeGetBlockReply:
		b, h, problem := parseBlock(root)
		return GetBlockReply{Height: h, Block: b, Problem: problem}, nil
	case TypeAnnounce:
		b, _, problem := parseBlock(root)
		if b == nil {
			if problem == nil {
				problem = fmt.Errorf("%w: no block", ErrField)
			}
			return nil, fmt.Errorf("ANNOUNCE: %w", problem)
		}
		return Announce{Block: b}, nil
	case TypeConsensus:
		return Consensus{}, nil
	case TypeNewWord:
		w := root.Get("word")
		if w.Type != gjson.String {
			return nil, fmt.Errorf("NEW_WORD: %w: word %s", ErrField, show(w))
		}
		return NewWord{Word: w.Str}, nil
	}
	return nil, fmt.Errorf("%w: %.40q", ErrUnknownType, t.Str)
}

func parseGossip(root gjson.Result) (Message, error) {
	host, port, err := hostPort(root)
	if err != nil {
		return nil, fmt.Errorf("GOSSIP: %w", err)
	}
	id := root.Get("id")
	if id.Type != gjson.String || id.Str == "" || len(id.Str) > MaxIDBytes {
		return nil, fmt.Errorf("GOSSIP: %w: id %s", ErrField, show(id))
	}
	name, err := optionalName(root)
	if err != nil {
		return nil, fmt.Errorf("GOSSIP: %w", err)
	}
	return Gossip{Host: host, Port: port, ID: id.Str, Name: name}, nil
}

// hostPort reads the "host" and "port" fields every gossip message has.
// The port may be a number or a numeric string.
func hostPort(root gjson.Result) (string, int, error) {
	host := root.Get("host")
	if host.Type != gjson.String || strings.TrimSpace(host.Str) == "" || len(host.Str) > MaxNameBytes {
		return "", 0, fmt.Errorf("%w: host %s", ErrField, show(host))
	}
	port, ok := lenientInt(root.Get("port"), 1, 65535)
	if !ok {
		return "", 0, fmt.Errorf("%w: port %s", ErrField, show(root.Get("port")))
	}
	return strings.TrimSpace(host.Str), port, nil
}

// optionalName reads "name": absent or null is "", anything else must be a
// string of at most MaxNameBytes.
func optionalName(root gjson.Result) (string, error) {
	name := root.Get("name")
	switch {
	case !name.Exists() || name.Type == gjson.Null:
		return "", nil
	case name.Type != gjson.String || len(name.Str) > MaxNameBytes:
		return "", fmt.Errorf("%w: name %s", ErrField, show(name))
	}
	return name.Str, nil
}

func parseStatsReply(root gjson.Result) StatsReply {
	h, ok := strictInt(root.Get("height"), 1, MaxHeight)
	hash := root.Get("hash")
	if !ok || hash.Type != gjson.String || !chain.IsHash(hash.Str) {
		return StatsReply{}
	}
	return StatsReply{Height: h, Hash: hash.Str}
}

// parseBlock reads the six block fields. It returns a nil block and a nil
// problem for the ways peers say "no such block" (nulls, "None", missing
// fields), and a nil block with the problem for anything else that is not
// a well-typed block. The claimed height is -1 when there is none.
func parseBlock(root gjson.Result) (*chain.Block, int, error) {
	height, ok := strictInt(root.Get("height"), 0, MaxHeight)
	if !ok {
		height = -1
	}
	hash := root.Get("hash")
	if isNothing(hash) {
		return nil, height, nil
	}
	if !ok {
		return nil, height, fmt.Errorf("%w: height %s", ErrField, show(root.Get("height")))
	}
	if hash.Type != gjson.String {
		return nil, height, fmt.Errorf("%w: hash %s", ErrField, show(hash))
	}
	minedBy := root.Get("minedBy")
	if minedBy.Type != gjson.String {
		return nil, height, fmt.Errorf("%w: minedBy %s", ErrField, show(minedBy))
	}
	nonce := root.Get("nonce")
	var nonceStr string
	switch nonce.Type {
	case gjson.String:
		nonceStr = nonce.Str
	case gjson.Number: // the digits as sent: the hash rule uses the text
		nonceStr = nonce.Raw
	default:
		return nil, height, fmt.Errorf("%w: nonce %s", ErrField, show(nonce))
	}
	ts, ok := strictInt(root.Get("timestamp"), 0, math.MaxInt64)
	if !ok {
		return nil, height, fmt.Errorf("%w: timestamp %s", ErrField, show(root.Get("timestamp")))
	}
	msgs := root.Get("messages")
	if !msgs.IsArray() {
		return nil, height, fmt.Errorf("%w: messages %s", ErrField, show(msgs))
	}
	var messages []string
	var bad error
	msgs.ForEach(func(_, m gjson.Result) bool {
		if m.Type != gjson.String || len(messages) == chain.MaxMessages {
			bad = fmt.Errorf("%w: messages %s", ErrField, show(msgs))
			return false
		}
		messages = append(messages, m.Str)
		return true
	})
	if bad != nil {
		return nil, height, bad
	}
	return &chain.Block{
		Height:    height,
		MinedBy:   minedBy.Str,
		Nonce:     nonceStr,
		Messages:  messages,
		Hash:      hash.Str,
		Timestamp: int64(ts),
	}, height, nil
}

// isNothing reports the ways peers write "no value": missing, null, "None".
func isNothing(r gjson.Result) bool {
	return !r.Exists() || r.Type == gjson.Null || r.Type == gjson.String && (r.Str == "None" || r.Str == "")
}

// strictInt accepts only a JSON integer literal in [lo, hi] (no fraction,
// no exponent, no string): block fields take part in the hash.
func strictInt(r gjson.Result, lo, hi int64) (int, bool) {
	if r.Type != gjson.Number {
		return 0, false
	}
	v, err := strconv.ParseInt(r.Raw, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, false
	}
	return int(v), true
}

// lenientInt accepts an integer in [lo, hi] written as a JSON number
// (1e3 and 7.0 included, when integral) or as a numeric string, as people
// type them into nc.
func lenientInt(r gjson.Result, lo, hi int64) (int, bool) {
	var f float64
	switch r.Type {
	case gjson.Number:
		f = r.Num
	case gjson.String:
		v, err := strconv.ParseFloat(strings.TrimSpace(r.Str), 64)
		if err != nil {
			return 0, false
		}
		f = v
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, false
	}
	return int(f), true
}

// show renders a field for an error message, cut short.
func show(r gjson.Result) string {
	if !r.Exists() {
		return "missing"
	}
	s := r.Raw
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
