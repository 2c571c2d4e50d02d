package peer

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"blockpeer/chain"
	"blockpeer/protocol"
)

// What we create must fit in protocol.MaxDatagram bytes: our GOSSIP and
// GOSSIP_REPLY with our name, and the blocks we mine with our name and the
// queued NEW_WORDs. The fields we do not choose in advance (address, gossip
// id, nonce) are taken at their longest; the height and timestamp too when
// the check is for any block (a name at start, a word on arrival).

// worstWord is the word that encodes longest: 20 control characters, which
// JSON escapes to six bytes each.
var worstWord = strings.Repeat("\x01", chain.MaxMessageRunes)

// blockFits reports whether a block mined at height with timestamp, by
// minedBy with msgs, fits in one datagram whatever nonce the miner finds,
// as a GET_BLOCK_REPLY (which is longer than the ANNOUNCE of it).
func blockFits(height int, timestamp int64, minedBy string, msgs []string) bool {
	b := &chain.Block{
		Height:    height,
		MinedBy:   minedBy,
		Messages:  msgs,
		Nonce:     strings.Repeat("9", chain.MaxNonceRunes),
		Hash:      strings.Repeat("0", 64),
		Timestamp: timestamp,
	}
	_, err := protocol.Encode(protocol.GetBlockReply{Block: b})
	return err == nil
}

// anyBlockFits reports whether a block mined by minedBy with msgs fits at
// every height and time.
func anyBlockFits(minedBy string, msgs []string) bool {
	return blockFits(math.MaxInt, math.MaxInt64, minedBy, msgs)
}

// CheckName says why name cannot be a node's name, or returns nil: peers
// drop a GOSSIP whose name is over protocol.MaxNameBytes bytes, and our
// GOSSIP, our GOSSIP_REPLY and a block we mine with it and any one word
// must each fit in protocol.MaxDatagram bytes.
func CheckName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("a name is required")
	case !utf8.ValidString(name):
		return errors.New("the name is not valid UTF-8")
	case len(name) > protocol.MaxNameBytes:
		return fmt.Errorf("the name is %d bytes long; at most %d (peers drop a GOSSIP with a longer name)", len(name), protocol.MaxNameBytes)
	}
	worstHost := "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
	g := protocol.Gossip{Host: worstHost, Port: math.MaxUint16, ID: strings.Repeat("f", protocol.MaxIDBytes), Name: name}
	if _, err := protocol.Encode(g); err != nil {
		return fmt.Errorf("our GOSSIP with this name would not fit in a %d-byte datagram (JSON escapes control characters to 6 bytes): %w", protocol.MaxDatagram, err)
	}
	if !anyBlockFits(name, []string{worstWord}) {
		return fmt.Errorf("a block we mine with this name would not fit in a %d-byte datagram (JSON escapes control characters to 6 bytes)", protocol.MaxDatagram)
	}
	return nil
}
