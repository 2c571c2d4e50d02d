package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"blockpeer/chain"
)

// A chain file is a JSON array of blocks with the wire fields (height,
// minedBy, nonce, messages, hash, timestamp), genesis first, one block per
// line. WriteBlocks writes one; ReadBlocks reads one back.

// ErrChainFile is wrapped by every error about a chain file's form.
var ErrChainFile = errors.New("not a chain file")

// WriteBlocks writes blocks to w as a chain file.
func WriteBlocks(w io.Writer, blocks []*chain.Block) error {
	bw := bufio.NewWriter(w)
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	bw.WriteString("[")
	for i, b := range blocks {
		line.Reset()
		if err := enc.Encode(b); err != nil {
			return fmt.Errorf("encode block %d: %w", i, err)
		}
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		bw.WriteString(sep)
		bw.Write(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
	}
	bw.WriteString("\n]\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write chain file: %w", err)
	}
	return nil
}

// fileBlock is a block as read from a chain file: pointers tell a missing
// or null field from a zero one.
type fileBlock struct {
	Height    *int            `json:"height"`
	MinedBy   *string         `json:"minedBy"`
	Nonce     json.RawMessage `json:"nonce"`
	Messages  *[]*string      `json:"messages"`
	Hash      *string         `json:"hash"`
	Timestamp *int64          `json:"timestamp"`
}

// ReadBlocks reads a chain file. Each block must have the six wire fields
// with their types (a nonce may be a JSON integer, as some peers send it:
// its digits are the nonce); other fields are ignored. It checks the form
// only: Verify checks the chain.
func ReadBlocks(r io.Reader) ([]*chain.Block, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChainFile, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%w: want a JSON array of blocks", ErrChainFile)
	}
	var blocks []*chain.Block
	for dec.More() {
		i := len(blocks)
		var fb fileBlock
		if err := dec.Decode(&fb); err != nil {
			return nil, fmt.Errorf("%w: element %d: %v", ErrChainFile, i, err)
		}
		b, err := fb.block()
		if err != nil {
			return nil, fmt.Errorf("%w: element %d: %v", ErrChainFile, i, err)
		}
		blocks = append(blocks, b)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, fmt.Errorf("%w: after element %d: %v", ErrChainFile, len(blocks), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the array", ErrChainFile)
	}
	return blocks, nil
}

func (fb *fileBlock) block() (*chain.Block, error) {
	missing := ""
	switch {
	case fb.Height == nil:
		missing = "height"
	case fb.MinedBy == nil:
		missing = "minedBy"
	case fb.Messages == nil:
		missing = "messages"
	case fb.Hash == nil:
		missing = "hash"
	case fb.Timestamp == nil:
		missing = "timestamp"
	}
	if missing != "" {
		return nil, fmt.Errorf("field %s missing or null", missing)
	}
	nonce, err := parseNonce(fb.Nonce)
	if err != nil {
		return nil, err
	}
	b := &chain.Block{Height: *fb.Height, MinedBy: *fb.MinedBy, Nonce: nonce, Hash: *fb.Hash, Timestamp: *fb.Timestamp,
		Messages: make([]string, 0, len(*fb.Messages))}
	for j, m := range *fb.Messages {
		if m == nil {
			return nil, fmt.Errorf("message %d is null", j)
		}
		b.Messages = append(b.Messages, *m)
	}
	return b, nil
}

func parseNonce(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("field nonce missing or null")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("nonce: %v", err)
		}
		return s, nil
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("nonce %s is neither a string nor an integer", raw)
		}
	}
	return string(raw), nil
}

// ReadFile reads the chain file at path.
func ReadFile(path string) ([]*chain.Block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blocks, err := ReadBlocks(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return blocks, nil
}

// WriteFile writes blocks to the chain file at path, replacing it.
func WriteFile(path string, blocks []*chain.Block) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := WriteBlocks(f, blocks); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
