package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"blockpeer/chain"
	"blockpeer/internal/vectors"
	"blockpeer/store"
)

func TestChainFileRoundTrip(t *testing.T) {
	v := vectors.Load(t)
	real := []*chain.Block{v.Find(t, "fall2024-main", 0).Copy(), v.Find(t, "fall2024-main", 1).Copy()}
	awkward := chain.Extend(nil, 3, testDifficulty, "<a&b>", 1)
	awkward[1].Messages = []string{"line\u2028sep", `"q" \ x`, "日本語😀"}
	for name, blocks := range map[string][]*chain.Block{"real": real, "awkward": awkward, "empty": nil} {
		var buf bytes.Buffer
		if err := store.WriteBlocks(&buf, blocks); err != nil {
			t.Fatalf("%s: WriteBlocks: %v", name, err)
		}
		if lines := strings.Count(buf.String(), "\n"); lines != len(blocks)+2 {
			t.Errorf("%s: %d lines, want one per block plus the brackets:\n%s", name, lines, buf.String())
		}
		got, err := store.ReadBlocks(&buf)
		if err != nil {
			t.Fatalf("%s: ReadBlocks: %v", name, err)
		}
		if len(got) != len(blocks) || (len(blocks) > 0 && !reflect.DeepEqual(got, blocks)) {
			t.Fatalf("%s: read back %+v, want %+v", name, got, blocks)
		}
	}
	// The real blocks' file holds the wire fields exactly.
	var buf bytes.Buffer
	if err := store.WriteBlocks(&buf, real[:1]); err != nil {
		t.Fatal(err)
	}
	want := `{"height":0,"minedBy":"Prof!","nonce":"663135608617883","messages":["Keep it","simple.","Veni","vidi","vici"],"hash":"75977fa09516d028befa0695e16c93be20271b66630236d38718e35700000000","timestamp":1730910874}`
	if got := strings.Split(buf.String(), "\n")[1]; got != want {
		t.Errorf("genesis line\n got %s\nwant %s", got, want)
	}
}

func TestReadBlocksForm(t *testing.T) {
	const g = `"height":0,"minedBy":"m","messages":["x"],"hash":"` + "ab" + `","timestamp":5`
	ok := map[string]string{
		`[{` + g + `,"nonce":"12"}]`:                             "12",
		`[{` + g + `,"nonce":12}]`:                               "12", // as some peers send it
		` [ {` + g + `,"nonce":"7","type":"ANNOUNCE"} ] ` + "\n": "7",  // extra fields ignored
	}
	for in, nonce := range ok {
		got, err := store.ReadBlocks(strings.NewReader(in))
		if err != nil || len(got) != 1 || got[0].Nonce != nonce || got[0].Timestamp != 5 {
			t.Errorf("%s: %+v, %v; want one block with nonce %s", in, got, err, nonce)
		}
	}
	for _, in := range []string{
		``, `{}`, `[`, `[1]`, `["x"]`, `[{` + g + `}]`, `[{` + g + `,"nonce":null}]`,
		`[{` + g + `,"nonce":1.5}]`, `[{` + g + `,"nonce":-1}]`, `[{` + g + `,"nonce":true}]`,
		`[{"minedBy":"m","messages":["x"],"hash":"ab","timestamp":5,"nonce":"1"}]`,
		`[{"height":null,"minedBy":"m","messages":["x"],"hash":"ab","timestamp":5,"nonce":"1"}]`,
		`[{"height":"0","minedBy":"m","messages":["x"],"hash":"ab","timestamp":5,"nonce":"1"}]`,
		`[{"height":0,"minedBy":"m","messages":["x",null],"hash":"ab","timestamp":5,"nonce":"1"}]`,
		`[{"height":0,"minedBy":"m","messages":"x","hash":"ab","timestamp":5,"nonce":"1"}]`,
		`[{"height":0,"minedBy":"m","messages":["x"],"hash":"ab","timestamp":5.5,"nonce":"1"}]`,
		`[{"height":0,"minedBy":"m","messages":["x"],"hash":"ab","nonce":"1"}]`,
		`[{` + g + `,"nonce":"1"}] [`, `[{` + g + `,"nonce":"1"}`,
	} {
		if got, err := store.ReadBlocks(strings.NewReader(in)); !errors.Is(err, store.ErrChainFile) {
			t.Errorf("%q: %+v, %v; want an error wrapping ErrChainFile", in, got, err)
		}
	}
	if _, err := store.ReadFile(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}
