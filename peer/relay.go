package peer

import (
	"net/netip"

	"github.com/rs/zerolog"

	"blockpeer/protocol"
)

// loggedOversize is the bounded set of blocks (their hashes) whose
// oversize send has been logged, so that a block served to every peer that
// syncs is logged once, not once per request.
type loggedOversize struct {
	keys map[string]struct{}
	max  int
}

func newLoggedOversize(max int) *loggedOversize {
	return &loggedOversize{keys: make(map[string]struct{}), max: max}
}

// first records key and reports whether it was not recorded yet. When the
// set is full it starts again: a key may then be logged once more.
func (s *loggedOversize) first(key string) bool {
	if _, ok := s.keys[key]; ok {
		return false
	}
	if len(s.keys) >= s.max {
		clear(s.keys)
	}
	s.keys[key] = struct{}{}
	return true
}

// pass sends m, valid content made by someone else that we pass on (a
// block we serve, a GOSSIP we forward), whole: up to
// protocol.MaxRelayDatagram bytes, as the spec says, rather than not at
// all. key names the content (a block hash, a gossip id). A send over
// protocol.MaxDatagram, or one too large even to pass on, is logged: once
// per block at info, and at debug for a GOSSIP (anyone can make those; each
// id is forwarded once, to at most 3 peers).
func (n *Node) pass(to netip.AddrPort, m protocol.Message, key string) {
	data, err := protocol.EncodeRelay(m)
	if err == nil && len(data) <= protocol.MaxDatagram {
		n.transmit(to, m, data)
		return
	}
	var ev *zerolog.Event
	if _, gossip := m.(protocol.Gossip); gossip {
		ev = n.log.Debug().Str("id", key)
	} else if n.oversize.first(key) {
		ev = n.log.Info().Str("hash", key)
	}
	if ev != nil {
		ev = ev.Str("to", to.String())
		if err != nil {
			ev.Err(err).Msgf("%s not sent: too large even to pass on whole", m.Type())
		} else {
			ev.Int("bytes", len(data)).Msgf("%s sent whole although over %d bytes, as the spec says (peers that read only %d bytes miss it)", m.Type(), protocol.MaxDatagram, protocol.MaxDatagram)
		}
	}
	if err == nil {
		n.transmit(to, m, data)
	}
}
