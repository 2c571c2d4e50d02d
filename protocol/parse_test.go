package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"blockpeer/chain"
)

// Real lines from the spec (section 2) and real blocks from vectors.json.
const (
	specGossip = `{"type":"GOSSIP","host":"192.168.0.27","port":8999,"id":"5b29f4c7-40ac-4522-b217-e90e9587c1e5","name":"xyz"}`
	// The spec abbreviates the hash: as written it is not a hash.
	specStatsReply    = `{"type":"STATS_REPLY","height":1962,"hash":"b2a35f...00000000"}`
	specGetBlockReply = `{"type":"GET_BLOCK_REPLY","height":1,"minedBy":"Prof!","nonce":"4776171179467","messages":["test"],"hash":"5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000","timestamp":1730974785}`
	specNullReply     = `{"type":"GET_BLOCK_REPLY","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
	specEmptyStats    = `{"type":"STATS_REPLY","height":0,"hash":null}`

	genesisHash2024 = "75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000"
	block1Hash2024  = "5c25ae996e712fc8e93c10a1b9fd3b42dd408aaa65f4c3e4dfe8982800000000"
	gossipID        = "5b29f4c7-40ac-4522-b217-e90e9587c1e5"
)

// block1 is the Fall 2024 block at height 1, as in specGetBlockReply.
func block1() *chain.Block {
	return &chain.Block{
		Height:    1,
		MinedBy:   "Prof!",
		Nonce:     "4776171179467",
		Messages:  []string{"test"},
		Hash:      block1Hash2024,
		Timestamp: 1730974785,
	}
}

// genesis2024 is the Fall 2024 genesis block.
func genesis2024() *chain.Block {
	return &chain.Block{
		Height:    0,
		MinedBy:   "Prof!",
		Nonce:     "663135608617883",
		Messages:  []string{"Keep it", "simple.", "Veni", "vidi", "vici"},
		Hash:      genesisHash2024,
		Timestamp: 1730910874,
	}
}

// blockLine returns the spec's block line with type typ and the field
// key replaced by the raw JSON value raw (or removed when raw is "").
func blockLine(typ, key, raw string) string {
	fields := []struct{ k, v string }{
		{"type", `"` + typ + `"`},
		{"height", `1`},
		{"minedBy", `"Prof!"`},
		{"nonce", `"4776171179467"`},
		{"messages", `["test"]`},
		{"hash", `"` + block1Hash2024 + `"`},
		{"timestamp", `1730974785`},
	}
	var parts []string
	for _, f := range fields {
		v := f.v
		if f.k == key {
			if raw == "" {
				continue
			}
			v = raw
		}
		parts = append(parts, `"`+f.k+`":`+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Replies that say "no such block": never a block, never a problem.
var missingBlockReplies = []struct{ name, line string }{
	{"all null", specNullReply},
	{"all None", `{"type":"GET_BLOCK_REPLY","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`},
	{"empty messages, current timestamp, null hash", `{"type":"GET_BLOCK_REPLY","height":5,"minedBy":null,"nonce":null,"messages":[],"hash":null,"timestamp":1730974785}`},
	{"empty messages, current timestamp, None hash", `{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"None","nonce":"None","messages":[],"hash":"None","timestamp":1730974785}`},
	{"empty messages, empty strings", `{"type":"GET_BLOCK_REPLY","height":5,"minedBy":"","nonce":"","messages":[],"hash":"","timestamp":1730974785}`},
	{"only the type", `{"type":"GET_BLOCK_REPLY"}`},
	{"height only", `{"type":"GET_BLOCK_REPLY","height":7}`},
}

// Replies that look like a block but are not a well-typed one.
var malformedBlockReplies = []struct{ name, line string }{
	{"height as string", blockLine(TypeGetBlockReply, "height", `"1"`)},
	{"height null", blockLine(TypeGetBlockReply, "height", `null`)},
	{"height negative", blockLine(TypeGetBlockReply, "height", `-1`)},
	{"height float", blockLine(TypeGetBlockReply, "height", `1.0`)},
	{"height missing", blockLine(TypeGetBlockReply, "height", ``)},
	{"timestamp 1.5", blockLine(TypeGetBlockReply, "timestamp", `1.5`)},
	{"timestamp 1e9", blockLine(TypeGetBlockReply, "timestamp", `1e9`)},
	{"timestamp as string", blockLine(TypeGetBlockReply, "timestamp", `"1730974785"`)},
	{"timestamp negative", blockLine(TypeGetBlockReply, "timestamp", `-1`)},
	{"timestamp over int64", blockLine(TypeGetBlockReply, "timestamp", `9223372036854775808`)},
	{"timestamp null", blockLine(TypeGetBlockReply, "timestamp", `null`)},
	{"messages containing a number", blockLine(TypeGetBlockReply, "messages", `["test",5]`)},
	{"messages containing null", blockLine(TypeGetBlockReply, "messages", `["test",null]`)},
	{"11 messages", blockLine(TypeGetBlockReply, "messages", `["1","2","3","4","5","6","7","8","9","10","11"]`)},
	{"messages a string", blockLine(TypeGetBlockReply, "messages", `"test"`)},
	{"messages null", blockLine(TypeGetBlockReply, "messages", `null`)},
	{"messages missing", blockLine(TypeGetBlockReply, "messages", ``)},
	{"hash a number", blockLine(TypeGetBlockReply, "hash", `12345`)},
	{"hash an array", blockLine(TypeGetBlockReply, "hash", `["`+block1Hash2024+`"]`)},
	{"minedBy null", blockLine(TypeGetBlockReply, "minedBy", `null`)},
	{"minedBy a number", blockLine(TypeGetBlockReply, "minedBy", `7`)},
	{"minedBy missing", blockLine(TypeGetBlockReply, "minedBy", ``)},
	{"nonce null", blockLine(TypeGetBlockReply, "nonce", `null`)},
	{"nonce an array", blockLine(TypeGetBlockReply, "nonce", `[1]`)},
	{"nonce missing", blockLine(TypeGetBlockReply, "nonce", ``)},
}

// STATS_REPLY lines from peers without a chain.
var noChainStatsReplies = []struct{ name, line string }{
	{"spec empty chain", specEmptyStats},
	{"spec line with abbreviated hash", specStatsReply},
	{"height -1", `{"type":"STATS_REPLY","height":-1,"hash":"` + block1Hash2024 + `"}`},
	{"height null", `{"type":"STATS_REPLY","height":null,"hash":"` + block1Hash2024 + `"}`},
	{"height string", `{"type":"STATS_REPLY","height":"5","hash":"` + block1Hash2024 + `"}`},
	{"height 0", `{"type":"STATS_REPLY","height":0,"hash":"` + block1Hash2024 + `"}`},
	{"height 1.5", `{"type":"STATS_REPLY","height":1.5,"hash":"` + block1Hash2024 + `"}`},
	{"height over MaxHeight", `{"type":"STATS_REPLY","height":16777217,"hash":"` + block1Hash2024 + `"}`},
	{"height missing", `{"type":"STATS_REPLY","hash":"` + block1Hash2024 + `"}`},
	{"garbage hash", `{"type":"STATS_REPLY","height":5,"hash":"garbage"}`},
	{"upper-case hash", `{"type":"STATS_REPLY","height":5,"hash":"` + strings.ToUpper(block1Hash2024) + `"}`},
	{"hash None", `{"type":"STATS_REPLY","height":5,"hash":"None"}`},
	{"hash null", `{"type":"STATS_REPLY","height":5,"hash":null}`},
	{"hash a number", `{"type":"STATS_REPLY","height":5,"hash":0}`},
	{"missing hash", `{"type":"STATS_REPLY","height":5}`},
	{"nothing", `{"type":"STATS_REPLY"}`},
	{"all None", `{"type":"STATS_REPLY","height":"None","hash":"None"}`},
}

const (
	nonceAsNumber         = `{"type":"GET_BLOCK_REPLY","height":1,"minedBy":"Prof!","nonce":12345678901234567890,"messages":["test"],"hash":"` + block1Hash2024 + `","timestamp":1730974785}`
	realNonceAsNumber     = `{"type":"GET_BLOCK_REPLY","height":1,"minedBy":"Prof!","nonce":4776171179467,"messages":["test"],"hash":"` + block1Hash2024 + `","timestamp":1730974785}`
	announceNulls         = `{"type":"ANNOUNCE","height":null,"minedBy":null,"nonce":null,"messages":null,"hash":null,"timestamp":null}`
	announceNone          = `{"type":"ANNOUNCE","height":"None","minedBy":"None","nonce":"None","messages":"None","hash":"None","timestamp":"None"}`
	goodStatsReply        = `{"type":"STATS_REPLY","height":1962,"hash":"` + block1Hash2024 + `"}`
	specGossipReply       = `{"type":"GOSSIP_REPLY","host":"192.168.0.27","port":8999,"name":"xyz"}`
	specGetBlock          = `{"type":"GET_BLOCK","height":1}`
	specStats             = `{"type":"STATS"}`
	specConsensus         = `{"type":"CONSENSUS"}`
	specNewWord           = `{"type":"NEW_WORD","word":"hello"}`
	specAnnounceGenesis   = `{"type":"ANNOUNCE","height":0,"minedBy":"Prof!","nonce":"663135608617883","messages":["Keep it","simple.","Veni","vidi","vici"],"hash":"` + genesisHash2024 + `","timestamp":1730910874}`
	gossipReorderedSpaced = "{ \"name\" : \"xyz\" , \"id\" : \"" + gossipID + "\" ,\n \"port\" : 8999 , \"host\" : \"192.168.0.27\" , \"type\" : \"GOSSIP\" }"
)

// seedLines is every example and oddity above, for the fuzz corpus.
func seedLines() []string {
	lines := []string{
		specGossip, specStatsReply, specGetBlockReply, specNullReply, specEmptyStats,
		nonceAsNumber, realNonceAsNumber, announceNulls, announceNone, goodStatsReply,
		specGossipReply, specGetBlock, specStats, specConsensus, specNewWord,
		specAnnounceGenesis, gossipReorderedSpaced,
		specGossip + "\n", specGossip + "\r\n", specGossip + "  \t \n",
		`{"type":"GOSSIP","host":"192.168.0.27","port":"8999","id":"x","name":"xyz"}`,
		`{"type":"GOSSIP","host":"192.168.0.27","port":0,"id":"x","name":"xyz"}`,
		`{"type":"GOSSIP","host":"192.168.0.27","port":70000,"id":"x","name":"xyz"}`,
		`{"type":"GOSSIP","host":"192.168.0.27","port":8999,"name":"xyz"}`,
		`{"type":"GOSSIP","host":"","port":8999,"id":"x","name":"xyz"}`,
		`{"type":"NEW_WORD","word":"<a&b>"}`,
		`{"type":"HELLO"}`, `{"type":"gossip"}`, `not json`, `[1,2]`, `{}`, `{"type":5}`, `{"type":null}`, ``,
		blockLine(TypeAnnounce, "", ""),
	}
	for _, set := range [][]struct{ name, line string }{missingBlockReplies, malformedBlockReplies, noChainStatsReplies} {
		for _, c := range set {
			lines = append(lines, c.line)
		}
	}
	return lines
}

func mustParse(t testing.TB, line string) Message {
	t.Helper()
	m, err := Parse([]byte(line))
	if err != nil {
		t.Fatalf("Parse(%s): unexpected error %v", line, err)
	}
	return m
}

func TestParseSpecExamples(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Message
	}{
		{"GOSSIP", specGossip, Gossip{Host: "192.168.0.27", Port: 8999, ID: gossipID, Name: "xyz"}},
		{"GOSSIP_REPLY", specGossipReply, GossipReply{Host: "192.168.0.27", Port: 8999, Name: "xyz"}},
		{"STATS", specStats, Stats{}},
		{"STATS_REPLY good", goodStatsReply, StatsReply{Height: 1962, Hash: block1Hash2024}},
		{"STATS_REPLY spec line (hash abbreviated in the spec)", specStatsReply, StatsReply{}},
		{"STATS_REPLY empty chain", specEmptyStats, StatsReply{}},
		{"GET_BLOCK", specGetBlock, GetBlock{Height: 1}},
		{"GET_BLOCK genesis", `{"type":"GET_BLOCK","height":0}`, GetBlock{Height: 0}},
		{"GET_BLOCK_REPLY", specGetBlockReply, GetBlockReply{Height: 1, Block: block1()}},
		{"GET_BLOCK_REPLY unknown height", specNullReply, GetBlockReply{Height: -1}},
		{"ANNOUNCE", blockLine(TypeAnnounce, "", ""), Announce{Block: block1()}},
		{"ANNOUNCE genesis", specAnnounceGenesis, Announce{Block: genesis2024()}},
		{"CONSENSUS", specConsensus, Consensus{}},
		{"NEW_WORD", specNewWord, NewWord{Word: "hello"}},
		{"GOSSIP without name", `{"type":"GOSSIP","host":"10.0.0.1","port":9000,"id":"abc"}`, Gossip{Host: "10.0.0.1", Port: 9000, ID: "abc"}},
		{"GOSSIP with null name", `{"type":"GOSSIP","host":"10.0.0.1","port":9000,"id":"abc","name":null}`, Gossip{Host: "10.0.0.1", Port: 9000, ID: "abc"}},
		{"GOSSIP_REPLY without name", `{"type":"GOSSIP_REPLY","host":"10.0.0.1","port":9000}`, GossipReply{Host: "10.0.0.1", Port: 9000}},
		{"STATS with extra fields", `{"type":"STATS","height":3,"junk":[1,{"a":null}]}`, Stats{}},
		{"NEW_WORD unicode", `{"type":"NEW_WORD","word":"h\u00e9llo \ud83d\ude00"}`, NewWord{Word: "héllo 😀"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.line)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%s)\n got %#v\nwant %#v", tc.line, got, tc.want)
			}
			if got.Type() != tc.want.Type() {
				t.Errorf("Type() = %q, want %q", got.Type(), tc.want.Type())
			}
		})
	}
}

// The spec's real block must parse into a block that validates on top of
// the real genesis: nothing in the hash-relevant fields was altered.
func TestParsedBlockValidates(t *testing.T) {
	g := mustParse(t, specAnnounceGenesis).(Announce).Block
	if err := chain.Validate(g, "", 0, 8); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	for _, line := range []string{specGetBlockReply, realNonceAsNumber} {
		r := mustParse(t, line).(GetBlockReply)
		if r.Block == nil {
			t.Fatalf("%s: no block (problem %v)", line, r.Problem)
		}
		if err := chain.Validate(r.Block, g.Hash, 1, 8); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}

func TestParseKeyOrderIrrelevant(t *testing.T) {
	want := mustParse(t, specGossip)
	if got := mustParse(t, gossipReorderedSpaced); !reflect.DeepEqual(got, want) {
		t.Errorf("reordered GOSSIP: got %#v, want %#v", got, want)
	}
	reordered := `{"timestamp":1730974785,"hash":"` + block1Hash2024 + `","messages":["test"],"nonce":"4776171179467","minedBy":"Prof!","height":1,"type":"GET_BLOCK_REPLY"}`
	if got, want := mustParse(t, reordered), mustParse(t, specGetBlockReply); !reflect.DeepEqual(got, want) {
		t.Errorf("reordered GET_BLOCK_REPLY: got %#v, want %#v", got, want)
	}
	if got := mustParse(t, `{"hash":"`+block1Hash2024+`","height":1962,"type":"STATS_REPLY"}`); got != (StatsReply{1962, block1Hash2024}) {
		t.Errorf("reordered STATS_REPLY: got %#v", got)
	}
}

func TestParseTrailingWhitespace(t *testing.T) {
	lines := []string{specGossip, specGetBlockReply, goodStatsReply, specStats, specNullReply, specNewWord}
	suffixes := []string{"\n", "\r\n", " ", "   ", "\t", " \n", "\n\n", " \r\n", "\r\n\r\n", " \t\r\n "}
	for _, line := range lines {
		want := mustParse(t, line)
		for _, s := range suffixes {
			got, err := Parse([]byte(line + s))
			if err != nil {
				t.Errorf("Parse(%q): %v", line+s, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) = %#v, want %#v", line+s, got, want)
			}
		}
	}
}

func TestParseUnknownType(t *testing.T) {
	for _, line := range []string{
		`{"type":"HELLO"}`,
		`{"type":"gossip","host":"a","port":1,"id":"x"}`, // types are case-sensitive
		`{"type":""}`,
		`{"type":"GOSSIP "}`,
		`{"type":"PING","height":1}` + "\n",
		`{"type":"` + strings.Repeat("X", 5000) + `"}`,
	} {
		m, err := Parse([]byte(line))
		if !errors.Is(err, ErrUnknownType) {
			t.Errorf("Parse(%.60s): err = %v, want ErrUnknownType", line, err)
		}
		if m != nil {
			t.Errorf("Parse(%.60s): message %#v, want nil", line, m)
		}
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrField) {
			t.Errorf("Parse(%.60s): unknown type also reported as %v", line, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("error message not cut short: %d bytes", len(err.Error()))
		}
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct{ name, line string }{
		{"empty", ``},
		{"only whitespace", " \r\n"},
		{"not JSON", `not json`},
		{"python dict", `{'type': 'STATS'}`},
		{"truncated", `{"type":"STATS"`},
		{"trailing garbage", `{"type":"STATS"} x`},
		{"two objects", `{"type":"STATS"}{"type":"STATS"}`},
		{"JSON array", `[{"type":"STATS"}]`},
		{"JSON string", `"STATS"`},
		{"JSON number", `42`},
		{"JSON null", `null`},
		{"empty object", `{}`},
		{"missing type", `{"height":1,"hash":"` + block1Hash2024 + `"}`},
		{"type a number", `{"type":5}`},
		{"type null", `{"type":null}`},
		{"type an array", `{"type":["STATS"]}`},
		{"type an object", `{"type":{"type":"STATS"}}`},
		{"type bool", `{"type":true}`},
		{"oversize", `{"type":"NEW_WORD","word":"` + strings.Repeat("a", ReadBuffer) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.line))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
			if m != nil {
				t.Errorf("message %#v, want nil", m)
			}
		})
	}
	if _, err := Parse(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse(nil): err = %v, want ErrMalformed", err)
	}
}

func TestParseFieldErrors(t *testing.T) {
	const (
		h  = `"host":"192.168.0.27"`
		id = `"id":"` + gossipID + `"`
	)
	bad := []struct{ name, line string }{
		{"GOSSIP port 0", `{"type":"GOSSIP",` + h + `,"port":0,` + id + `,"name":"xyz"}`},
		{"GOSSIP port 70000", `{"type":"GOSSIP",` + h + `,"port":70000,` + id + `,"name":"xyz"}`},
		{"GOSSIP port -1", `{"type":"GOSSIP",` + h + `,"port":-1,` + id + `,"name":"xyz"}`},
		{"GOSSIP port 8999.5", `{"type":"GOSSIP",` + h + `,"port":8999.5,` + id + `,"name":"xyz"}`},
		{"GOSSIP port string not a number", `{"type":"GOSSIP",` + h + `,"port":"abc",` + id + `,"name":"xyz"}`},
		{"GOSSIP port string 70000", `{"type":"GOSSIP",` + h + `,"port":"70000",` + id + `,"name":"xyz"}`},
		{"GOSSIP port NaN", `{"type":"GOSSIP",` + h + `,"port":"NaN",` + id + `,"name":"xyz"}`},
		{"GOSSIP port Inf", `{"type":"GOSSIP",` + h + `,"port":"Inf",` + id + `,"name":"xyz"}`},
		{"GOSSIP port null", `{"type":"GOSSIP",` + h + `,"port":null,` + id + `,"name":"xyz"}`},
		{"GOSSIP port missing", `{"type":"GOSSIP",` + h + `,` + id + `,"name":"xyz"}`},
		{"GOSSIP id missing", `{"type":"GOSSIP",` + h + `,"port":8999,"name":"xyz"}`},
		{"GOSSIP id empty", `{"type":"GOSSIP",` + h + `,"port":8999,"id":"","name":"xyz"}`},
		{"GOSSIP id number", `{"type":"GOSSIP",` + h + `,"port":8999,"id":5,"name":"xyz"}`},
		{"GOSSIP id null", `{"type":"GOSSIP",` + h + `,"port":8999,"id":null,"name":"xyz"}`},
		{"GOSSIP id too long", `{"type":"GOSSIP",` + h + `,"port":8999,"id":"` + strings.Repeat("a", MaxIDBytes+1) + `","name":"xyz"}`},
		{"GOSSIP host empty", `{"type":"GOSSIP","host":"","port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP host blank", `{"type":"GOSSIP","host":"   ","port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP host missing", `{"type":"GOSSIP","port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP host null", `{"type":"GOSSIP","host":null,"port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP host number", `{"type":"GOSSIP","host":192,"port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP host too long", `{"type":"GOSSIP","host":"` + strings.Repeat("h", MaxNameBytes+1) + `","port":8999,` + id + `,"name":"xyz"}`},
		{"GOSSIP name number", `{"type":"GOSSIP",` + h + `,"port":8999,` + id + `,"name":5}`},
		{"GOSSIP name too long", `{"type":"GOSSIP",` + h + `,"port":8999,` + id + `,"name":"` + strings.Repeat("n", MaxNameBytes+1) + `"}`},
		{"GOSSIP_REPLY port 0", `{"type":"GOSSIP_REPLY",` + h + `,"port":0,"name":"xyz"}`},
		{"GOSSIP_REPLY port 70000", `{"type":"GOSSIP_REPLY",` + h + `,"port":70000,"name":"xyz"}`},
		{"GOSSIP_REPLY host empty", `{"type":"GOSSIP_REPLY","host":"","port":8999,"name":"xyz"}`},
		{"GOSSIP_REPLY host missing", `{"type":"GOSSIP_REPLY","port":8999,"name":"xyz"}`},
		{"GOSSIP_REPLY name array", `{"type":"GOSSIP_REPLY",` + h + `,"port":8999,"name":["xyz"]}`},
		{"GET_BLOCK height missing", `{"type":"GET_BLOCK"}`},
		{"GET_BLOCK height null", `{"type":"GET_BLOCK","height":null}`},
		{"GET_BLOCK height None", `{"type":"GET_BLOCK","height":"None"}`},
		{"GET_BLOCK height 1.5", `{"type":"GET_BLOCK","height":1.5}`},
		{"GET_BLOCK height huge", `{"type":"GET_BLOCK","height":1e30}`},
		{"GET_BLOCK height array", `{"type":"GET_BLOCK","height":[1]}`},
		{"NEW_WORD word missing", `{"type":"NEW_WORD"}`},
		{"NEW_WORD word null", `{"type":"NEW_WORD","word":null}`},
		{"NEW_WORD word number", `{"type":"NEW_WORD","word":5}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.line))
			if !errors.Is(err, ErrField) {
				t.Errorf("Parse(%.80s): err = %v, want ErrField", tc.line, err)
			}
			if m != nil {
				t.Errorf("message %#v, want nil", m)
			}
		})
	}

	good := []struct {
		name string
		line string
		want Message
	}{
		{"GOSSIP port as string", `{"type":"GOSSIP",` + h + `,"port":"8999",` + id + `,"name":"xyz"}`, Gossip{"192.168.0.27", 8999, gossipID, "xyz"}},
		{"GOSSIP port as string with spaces", `{"type":"GOSSIP",` + h + `,"port":" 8999 ",` + id + `,"name":"xyz"}`, Gossip{"192.168.0.27", 8999, gossipID, "xyz"}},
		{"GOSSIP port 8999.0", `{"type":"GOSSIP",` + h + `,"port":8999.0,` + id + `,"name":"xyz"}`, Gossip{"192.168.0.27", 8999, gossipID, "xyz"}},
		{"GOSSIP port 1", `{"type":"GOSSIP",` + h + `,"port":1,` + id + `,"name":"xyz"}`, Gossip{"192.168.0.27", 1, gossipID, "xyz"}},
		{"GOSSIP port 65535", `{"type":"GOSSIP",` + h + `,"port":65535,` + id + `,"name":"xyz"}`, Gossip{"192.168.0.27", 65535, gossipID, "xyz"}},
		{"GOSSIP host padded", `{"type":"GOSSIP","host":" 10.0.0.1 ","port":8999,` + id + `,"name":"xyz"}`, Gossip{"10.0.0.1", 8999, gossipID, "xyz"}},
		{"GOSSIP longest fields", `{"type":"GOSSIP","host":"` + strings.Repeat("h", MaxNameBytes) + `","port":8999,"id":"` + strings.Repeat("i", MaxIDBytes) + `","name":"` + strings.Repeat("n", MaxNameBytes) + `"}`,
			Gossip{strings.Repeat("h", MaxNameBytes), 8999, strings.Repeat("i", MaxIDBytes), strings.Repeat("n", MaxNameBytes)}},
		{"GOSSIP_REPLY port as string", `{"type":"GOSSIP_REPLY",` + h + `,"port":"8999","name":"xyz"}`, GossipReply{"192.168.0.27", 8999, "xyz"}},
		{"GET_BLOCK height as string", `{"type":"GET_BLOCK","height":"7"}`, GetBlock{7}},
		{"GET_BLOCK height 7.0", `{"type":"GET_BLOCK","height":7.0}`, GetBlock{7}},
		{"NEW_WORD empty word", `{"type":"NEW_WORD","word":""}`, NewWord{""}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.line); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseMissingBlockReplies(t *testing.T) {
	for _, tc := range missingBlockReplies {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := mustParse(t, tc.line).(GetBlockReply)
			if !ok {
				t.Fatalf("not a GetBlockReply")
			}
			if r.Block != nil {
				t.Errorf("Block = %#v, want nil", r.Block)
			}
			if r.Problem != nil {
				t.Errorf("Problem = %v, want nil", r.Problem)
			}
		})
	}
	// The claimed height is kept when there is one, -1 otherwise.
	for line, want := range map[string]int{
		specNullReply:                                 -1,
		missingBlockReplies[1].line:                   -1,
		missingBlockReplies[2].line:                   5,
		`{"type":"GET_BLOCK_REPLY"}`:                  -1,
		missingBlockReplies[6].line:                   7,
		blockLine(TypeGetBlockReply, "height", `"1"`): -1,
	} {
		if r := mustParse(t, line).(GetBlockReply); r.Height != want {
			t.Errorf("%s: Height = %d, want %d", line, r.Height, want)
		}
	}
}

func TestParseMalformedBlockReplies(t *testing.T) {
	for _, tc := range malformedBlockReplies {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := mustParse(t, tc.line).(GetBlockReply)
			if !ok {
				t.Fatalf("not a GetBlockReply")
			}
			if r.Block != nil {
				t.Errorf("Block = %#v, want nil", r.Block)
			}
			if !errors.Is(r.Problem, ErrField) {
				t.Errorf("Problem = %v, want ErrField", r.Problem)
			}
			// The same block as an ANNOUNCE is an error.
			announce := strings.Replace(tc.line, TypeGetBlockReply, TypeAnnounce, 1)
			m, err := Parse([]byte(announce))
			if !errors.Is(err, ErrField) || m != nil {
				t.Errorf("ANNOUNCE: got %#v, %v; want nil, ErrField", m, err)
			}
		})
	}
	// Exactly ten messages is a block.
	ten := blockLine(TypeGetBlockReply, "messages", `["1","2","3","4","5","6","7","8","9","10"]`)
	if r := mustParse(t, ten).(GetBlockReply); r.Block == nil || len(r.Block.Messages) != 10 || r.Problem != nil {
		t.Errorf("ten messages: %#v", r)
	}
	// No messages is a block when receiving (it will not validate later).
	none := blockLine(TypeGetBlockReply, "messages", `[]`)
	if r := mustParse(t, none).(GetBlockReply); r.Block == nil || len(r.Block.Messages) != 0 || r.Problem != nil {
		t.Errorf("no messages: %#v", r)
	}
}

func TestParseStatsReplyNoChain(t *testing.T) {
	for _, tc := range noChainStatsReplies {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := mustParse(t, tc.line).(StatsReply)
			if !ok {
				t.Fatalf("not a StatsReply")
			}
			if r.HasChain() {
				t.Errorf("HasChain() true for %#v", r)
			}
		})
	}
}

func TestParseStatsReplyGood(t *testing.T) {
	for line, want := range map[string]StatsReply{
		goodStatsReply: {1962, block1Hash2024},
		`{"type":"STATS_REPLY","height":1,"hash":"` + genesisHash2024 + `"}`:        {1, genesisHash2024},
		`{"type":"STATS_REPLY","height":16777216,"hash":"` + genesisHash2024 + `"}`: {MaxHeight, genesisHash2024},
	} {
		r, ok := mustParse(t, line).(StatsReply)
		if !ok || r != want || !r.HasChain() {
			t.Errorf("%s: got %#v (HasChain %v), want %#v with a chain", line, r, r.HasChain(), want)
		}
	}
}

func TestParseNonceAsNumber(t *testing.T) {
	for line, want := range map[string]string{
		nonceAsNumber:     "12345678901234567890", // beyond int64 and float64 precision
		realNonceAsNumber: "4776171179467",
		blockLine(TypeGetBlockReply, "nonce", `0`):                              "0",
		blockLine(TypeGetBlockReply, "nonce", `123456789012345678901234567890`): "123456789012345678901234567890",
		blockLine(TypeGetBlockReply, "nonce", `"007"`):                          "007",
	} {
		r := mustParse(t, line).(GetBlockReply)
		if r.Block == nil {
			t.Errorf("%s: no block (problem %v)", line, r.Problem)
			continue
		}
		if r.Block.Nonce != want {
			t.Errorf("%s: Nonce = %q, want %q", line, r.Block.Nonce, want)
		}
	}
	a := mustParse(t, strings.Replace(nonceAsNumber, TypeGetBlockReply, TypeAnnounce, 1)).(Announce)
	if a.Block.Nonce != "12345678901234567890" {
		t.Errorf("ANNOUNCE nonce = %q", a.Block.Nonce)
	}
}

func TestParseAnnounceNulls(t *testing.T) {
	for _, line := range []string{
		announceNulls,
		announceNone,
		`{"type":"ANNOUNCE"}`,
		`{"type":"ANNOUNCE","height":5,"minedBy":"","nonce":"","messages":[],"hash":"","timestamp":1730974785}`,
	} {
		m, err := Parse([]byte(line))
		if err == nil || m != nil {
			t.Errorf("Parse(%s) = %#v, %v; want an error", line, m, err)
		}
		if !errors.Is(err, ErrField) {
			t.Errorf("Parse(%s): err = %v, want ErrField", line, err)
		}
	}
}

// Parse must not keep references into the datagram buffer: the caller
// reuses its read buffer.
func TestParseDoesNotAliasInput(t *testing.T) {
	buf := []byte(specGetBlockReply + "\n")
	r := mustParse(t, string(buf)).(GetBlockReply)
	r2, err := Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if !reflect.DeepEqual(r2, r) {
		t.Errorf("parsed message changed with its buffer: %#v", r2)
	}
	buf = []byte(specGossip)
	g, err := Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if want := mustParse(t, specGossip); !reflect.DeepEqual(g, want) {
		t.Errorf("parsed gossip changed with its buffer: %#v", g)
	}
}
