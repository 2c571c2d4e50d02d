package chain

import (
	"errors"
	"fmt"
)

// ErrNotTaller is returned when a candidate would not make the chain taller.
var ErrNotTaller = errors.New("candidate chain is not taller than ours")

// ErrDamaged is wrapped by the error of a Store's Load that met a record
// that is not the next block (a gap or undecodable bytes); Load returns
// the blocks before it with it, and Open keeps them.
var ErrDamaged = errors.New("stored chain is damaged")

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
// the stored chain (see Open, which also says what it found).
func New(difficulty int, store Store) (*Chain, error) {
	c, _, err := Open(difficulty, store, nil)
	return c, err
}

// LoadReport says what Open found in a store.
type LoadReport struct {
	Verification          // of the stored blocks, as a chain from genesis
	Tail         []*Block // stored blocks from the first invalid one up: not part of the chain
}

// Open returns a chain on store holding the longest valid prefix of the
// stored chain, verified as a whole (see Verify; progress may be nil).
// Stored blocks past that prefix, returned in the report's Tail, are never
// served; they stay in the store until DropStoredTail or until the chain
// grows over them.
func Open(difficulty int, store Store, progress func(verified, total int)) (*Chain, LoadReport, error) {
	c := &Chain{difficulty: difficulty, store: store}
	if store == nil {
		return c, LoadReport{}, nil
	}
	stored, err := store.Load()
	var damage error
	if errors.Is(err, ErrDamaged) {
		damage, err = err, nil // the blocks before the damage are usable
	}
	if err != nil {
		return nil, LoadReport{}, fmt.Errorf("load chain: %w", err)
	}
	r := LoadReport{Verification: Verify(stored, difficulty, progress)}
	if r.Err == nil && damage != nil {
		r.Err = damage
	}
	c.blocks = stored[:r.Valid:r.Valid]
	r.Tail = stored[r.Valid:]
	return c, r, nil
}

// DropStoredTail deletes from the store every block above the chain's top
// (the invalid tail Open reported), in one transaction.
func (c *Chain) DropStoredTail() error {
	if c.store == nil {
		return nil
	}
	if err := c.store.Replace(len(c.blocks), nil); err != nil {
		return fmt.Errorf("drop stored blocks from %d: %w", len(c.blocks), err)
	}
	return nil
}

// ValidPrefix returns how many leading blocks of blocks form a valid chain
// from genesis.
func ValidPrefix(blocks []*Block, difficulty int) int {
	return Verify(blocks, difficulty, nil).Valid
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

// ShortHash returns the first 12 hex digits of a hash, enough to tell
// chains apart in a log line (the tail is the difficulty's zeros).
func ShortHash(hash string) string { return hash[:min(len(hash), 12)] }
