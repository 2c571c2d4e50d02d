package peer

import (
	"time"

	"blockpeer/chain"
)

// keepInterval is how often a sync puts the blocks it has verified so far
// into our chain, and so into the store, in one transaction.
const keepInterval = time.Second

// keepVerified puts the blocks s has settled so far into our chain once
// they make a chain strictly taller than ours (they are a valid chain from
// our fork point, so that is an adoption like any other). It runs every
// keepInterval during a sync and when a sync fails. With a store, a node
// stopped or killed in the middle of a long sync keeps what it had
// verified, and its next sync fetches only the rest.
func (n *Node) keepVerified(s *syncRun) {
	from, blocks := s.Settled() // never a block two backers dispute
	k := s.keptStill(n.chain)
	if k == len(blocks) || from+len(blocks) <= n.chain.Height() {
		return
	}
	if err := n.chain.Adopt(from+k, blocks[k:]); err != nil {
		n.log.Warn().Err(err).Int("from", from+k).Msg("sync: could not keep the verified blocks")
		return
	}
	s.kept = len(blocks)
	n.log.Debug().Int("blocks", n.chain.Height()).Int("kept", len(blocks)-k).Msg("sync: verified blocks stored")
	n.restartMining()
}

// keptStill returns how many of the sync's leading verified blocks our chain
// holds: s.kept, unless our chain moved off them since, or the sync rolled
// back blocks of a backer found lying (the blocks we kept are valid all the
// same: they stay until a taller chain replaces them).
func (s *syncRun) keptStill(c *chain.Chain) int {
	from, blocks := s.Result()
	s.kept = min(s.kept, len(blocks))
	if s.kept > 0 && c.HashAt(from+s.kept-1) != blocks[s.kept-1].Hash {
		s.kept = 0
	}
	return s.kept
}
