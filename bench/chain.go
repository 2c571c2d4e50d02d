package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// Difficulty is the test chain's: low, so that generating 10,000 blocks
// takes about a second; verification costs the same at any difficulty.
const Difficulty = 2

// blockSet is the test chain with what the rows need of it.
type blockSet struct {
	blocks   []*chain.Block
	replies  [][]byte // GET_BLOCK_REPLY datagram of each height
	requests [][]byte // GET_BLOCK datagram of each height
}

// loadChain returns the n-block test chain, from the cache under dir if
// it is there and valid, else mined now and cached.
func loadChain(dir string, n int) (*blockSet, error) {
	path := filepath.Join(dir, fmt.Sprintf("blockpeer-bench-d%d-n%d.json", Difficulty, n))
	blocks, err := readChain(path, n)
	if err != nil {
		blocks = chain.Extend(nil, n, Difficulty, "bench", 1_700_000_000)
		if err := writeChain(path, blocks); err != nil {
			return nil, err
		}
	}
	bs := &blockSet{blocks: blocks}
	for h, b := range blocks {
		rep, err := protocol.EncodeRelay(protocol.GetBlockReply{Block: b}) // served as a node serves it: whole
		if err != nil {
			return nil, fmt.Errorf("encode block %d: %w", h, err)
		}
		req, err := protocol.Encode(protocol.GetBlock{Height: h})
		if err != nil {
			return nil, fmt.Errorf("encode GET_BLOCK %d: %w", h, err)
		}
		bs.replies = append(bs.replies, rep)
		bs.requests = append(bs.requests, req)
	}
	return bs, nil
}

func readChain(path string, n int) ([]*chain.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []*chain.Block
	if err := json.Unmarshal(data, &blocks); err != nil {
		return nil, fmt.Errorf("cached chain %s: %w", path, err)
	}
	if len(blocks) != n || chain.ValidPrefix(blocks, Difficulty) != n {
		return nil, fmt.Errorf("cached chain %s: not a valid %d-block chain", path, n)
	}
	return blocks, nil
}

// writeChain writes the chain through a temporary file and a rename, so a
// reader never sees half a file.
func writeChain(path string, blocks []*chain.Block) error {
	data, err := json.Marshal(blocks)
	if err != nil {
		return fmt.Errorf("cache chain: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cache chain: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("cache chain: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cache chain: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cache chain: %w", err)
	}
	return nil
}
