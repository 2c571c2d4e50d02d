package chain

// ForkPoint returns the first height where a and b differ (by hash), or
// the shorter length when one is a prefix of the other.
func ForkPoint(a, b []*Block) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i].Hash != b[i].Hash {
			return i
		}
	}
	return n
}

// Import makes blocks, a whole chain from genesis (as read from a chain
// file), our chain: it verifies them as a whole, then adopts the part above
// the point where they part from ours, in one store transaction. Like any
// adoption it must make our chain strictly taller: otherwise it returns an
// error wrapping ErrNotTaller and nothing changes. It returns the fork
// point.
func (c *Chain) Import(blocks []*Block) (forkPoint int, err error) {
	if v := Verify(blocks, c.difficulty, nil); !v.OK() {
		return 0, v.Err
	}
	from := ForkPoint(c.blocks, blocks)
	return from, c.Adopt(from, blocks[from:])
}
