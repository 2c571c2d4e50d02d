package peer

import (
	"github.com/tidwall/gjson"

	"blockpeer/protocol"
)

// urgentMaxBytes is the largest datagram Urgent looks into: the control
// messages are a few hundred bytes at most (a GOSSIP with a 64-byte name
// and id), and a large datagram is a block, whose parse is the bulk of
// the work anyway.
const urgentMaxBytes = 512

// Urgent reports whether data is a small control message the node should
// handle before any backlog of block traffic: STATS, STATS_REPLY, GOSSIP,
// GOSSIP_REPLY or CONSENSUS. It only peeks at the "type" field; the
// datagram is parsed and checked in full when the node handles it, so a
// datagram sorted into the wrong lane is only served sooner or later.
func Urgent(data []byte) bool {
	if len(data) > urgentMaxBytes {
		return false
	}
	t := gjson.GetBytes(data, "type")
	if t.Type != gjson.String {
		return false
	}
	switch t.Str {
	case protocol.TypeStats, protocol.TypeStatsReply, protocol.TypeGossip, protocol.TypeGossipReply, protocol.TypeConsensus:
		return true
	}
	return false
}
