package peer

import (
	"net/netip"
	"time"

	"blockpeer/protocol"
)

// send encodes m and sends it to addr. What we create must fit in
// protocol.MaxDatagram bytes (Config.check and the miner see to it that it
// does); a GET_BLOCK_REPLY carries a block of our chain, valid content that
// we pass on whole whoever made it (see pass).
func (n *Node) send(to netip.AddrPort, m protocol.Message) {
	if r, ok := m.(protocol.GetBlockReply); ok && r.Block != nil {
		n.pass(to, m, r.Block.Hash)
		return
	}
	data, err := protocol.Encode(m)
	if err != nil {
		n.log.Warn().Err(err).Str("to", to.String()).Str("type", m.Type()).Msg("not sent: a datagram we create must fit")
		return
	}
	n.transmit(to, m, data)
}

// transmit sends data, the encoding of m, to addr.
func (n *Node) transmit(to netip.AddrPort, m protocol.Message, data []byte) {
	if err := n.tr.Send(to, data); err != nil {
		n.log.Debug().Err(err).Str("to", to.String()).Str("type", m.Type()).Msg("send failed")
		return
	}
	n.stats.Sent++
}

// sendBounded sends m to addr, a peer's request or our greeting, unless addr
// is over its reply rate or is a member only named in a message that has
// spent its credit (see Member.Proven); it reports whether m was sent.
// Neither is anyone's offence: the request may carry a forged source, and
// the naming message may come from anyone.
func (n *Node) sendBounded(to netip.AddrPort, m protocol.Message, now time.Time) bool {
	if r, ok := m.(protocol.GetBlockReply); ok && r.Block != nil {
		// The answer to a GET_BLOCK from to itself: only the rate
		// applies, and the block goes whole (see pass).
		if !n.replies.Allow(to, now) {
			n.stats.RateLimited++
			n.log.Debug().Str("to", to.String()).Str("type", m.Type()).Msg("reply dropped: over the reply rate")
			return false
		}
		n.pass(to, m, r.Block.Hash)
		return true
	}
	data, err := protocol.Encode(m)
	if err != nil {
		n.log.Warn().Err(err).Str("to", to.String()).Str("type", m.Type()).Msg("not sent: a datagram we create must fit")
		return false
	}
	if mem := n.members.Get(to); mem != nil && !mem.Proven {
		if mem.Credit < len(data) {
			n.stats.Unproven++
			n.log.Debug().Str("to", to.String()).Str("type", m.Type()).Msg("not sent: address not proven, credit spent")
			return false
		}
		mem.Credit -= len(data)
	}
	if !n.replies.Allow(to, now) {
		n.stats.RateLimited++
		n.log.Debug().Str("to", to.String()).Str("type", m.Type()).Msg("reply dropped: over the reply rate")
		return false
	}
	n.transmit(to, m, data)
	return true
}
