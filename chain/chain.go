package chain

import (
	"errors"
	"fmt"
)

// ErrNotTaller is returned when a candidate would not make the chain taller.
var ErrNotTaller = errors.New("candidate chain is not taller than ours")

// Store keeps a chain across restarts. Implementations must make Replace
// atomic: after a crash the stored chain is either the old or the new one.
type Store interface {
	// Load returns the stored blocks in height order.
	Load() ([]*Block, error)
	// Replace keeps the stored blocks below height from, drops the rest and
	// stores blocks as heights from, from+1, ...
	Replace(from int, blocks []*Block) error
	Close() error
}

// Chain is a verified chain: every block in it validates on top of its
// predecessor at the chain's difficulty. It is not safe for concurrent use;
// the node's event loop owns it.
type Chain struct {
	difficulty int
	blocks     []*Block
	store      Store // nil: memory only
}

// New returns an empty chain, or, with a store, the longest valid prefix of
// the stored chain. Stored blocks past that prefix are left alone until the
// chain grows over them (so opening a store at the wrong difficulty loses
// nothing); they are never served.
func New(difficulty int, store Store) (*Chain, error) {
	c := &Chain{difficulty: difficulty, store: store}
	if store == nil {
		return c, nil
	}
	stored, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("load chain: %w", err)
	}
	c.blocks = stored[:ValidPrefix(stored, difficulty)]
	return c, nil
}

// ValidPrefix returns how many leading blocks of blocks form a valid chain
// from genesis.
func ValidPrefix(blocks []*Block, difficulty int) int {
	prev := ""
	for i, b := range blocks {
		if Validate(b, prev, i, difficulty) != nil {
			return i
		}
		prev = b.Hash
	}
	return len(blocks)
}

// Difficulty returns the number of trailing zeros every block's hash needs.
func (c *Chain) Difficulty() int { return c.difficulty }

// Height returns the number of blocks (the STATS height): top index + 1.
func (c *Chain) Height() int { return len(c.blocks) }

// TipHash returns the top block's hash, or "" for an empty chain.
func (c *Chain) TipHash() string { return c.HashAt(len(c.blocks) - 1) }

// HashAt returns the hash of the block at height h, or "" when h is out of
// range (so HashAt(-1) is the "previous hash" of a genesis block).
func (c *Chain) HashAt(h int) string {
	if h < 0 || h >= len(c.blocks) {
		return ""
	}
	return c.blocks[h].Hash
}

// Block returns the block at height h. The block must not be modified.
func (c *Chain) Block(h int) (*Block, bool) {
	if h < 0 || h >= len(c.blocks) {
		return nil, false
	}
	return c.blocks[h], true
}

// Append validates b as the next block and adds it. The chain keeps b:
// the caller must not modify it afterwards.
func (c *Chain) Append(b *Block) error {
	h := len(c.blocks)
	if err := Validate(b, c.HashAt(h-1), h, c.difficulty); err != nil {
		return err
	}
	if c.store != nil {
		if err := c.store.Replace(h, []*Block{b}); err != nil {
			return fmt.Errorf("store block %d: %w", h, err)
		}
	}
	c.blocks = append(c.blocks, b)
	return nil
}

// Adopt replaces everything from height from upwards with suffix, whose
// first block is at height from. The result must validate as a whole and be
// strictly taller than the chain it replaces; otherwise nothing changes.
// The chain keeps the blocks: the caller must not modify them afterwards.
func (c *Chain) Adopt(from int, suffix []*Block) error {
	if from < 0 || from > len(c.blocks) {
		return fmt.Errorf("adopt at %d: our chain has %d blocks", from, len(c.blocks))
	}
	if from+len(suffix) <= len(c.blocks) {
		return fmt.Errorf("%w: %d blocks, we hold %d", ErrNotTaller, from+len(suffix), len(c.blocks))
	}
	prev := c.HashAt(from - 1)
	for i, b := range suffix {
		if err := Validate(b, prev, from+i, c.difficulty); err != nil {
			return fmt.Errorf("candidate block %d: %w", from+i, err)
		}
		prev = b.Hash
	}
	if c.store != nil {
		if err := c.store.Replace(from, suffix); err != nil {
			return fmt.Errorf("store chain from %d: %w", from, err)
		}
	}
	blocks := make([]*Block, from, from+len(suffix))
	copy(blocks, c.blocks[:from])
	c.blocks = append(blocks, suffix...)
	return nil
}

// Close closes the chain's store, if any.
func (c *Chain) Close() error {
	if c.store == nil {
		return nil
	}
	return c.store.Close()
}
