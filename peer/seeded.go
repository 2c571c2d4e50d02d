package peer

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"

	"github.com/google/uuid"
)

// seededIDs returns the source of a seeded node's gossip ids (nil when
// cfg.RandSeed is 0: crypto-random ids). The node's name and address are
// mixed in, so nodes given the same seed still send different ids.
func seededIDs(cfg Config) *rand.Rand {
	if cfg.RandSeed == 0 {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(cfg.Name))
	h.Write([]byte(cfg.Advertise.String()))
	return rand.New(rand.NewPCG(cfg.RandSeed, h.Sum64()))
}

// newGossipID returns a fresh random UUID: from the seeded source when the
// node has one, so that a seeded run (the simulator) sends the same bytes
// every time.
func (n *Node) newGossipID() string {
	if n.ids == nil {
		return uuid.NewString()
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], n.ids.Uint64())
	binary.LittleEndian.PutUint64(b[8:], n.ids.Uint64())
	id, err := uuid.NewRandomFromReader(bytes.NewReader(b[:]))
	if err != nil { // cannot happen: the reader holds 16 bytes
		return uuid.NewString()
	}
	return id.String()
}
