package peer

import (
	"net/netip"
	"time"

	"blockpeer/consensus"
	"blockpeer/protocol"
)

// offend records that addr misbehaved (what, err) and logs it: a warning
// at most once per Limits.WarnInterval for each peer, debug lines in
// between. Offences worth fewer points than a silent backer are noise:
// they are logged (at debug level) by the caller, and warned about only
// when they get the peer banned.
func (n *Node) offend(addr netip.AddrPort, points float64, what string, err error, now time.Time) {
	n.stats.Offences++
	o := n.offenders.Add(addr, points, now)
	if o.Banned {
		n.stats.Bans++
		if m := n.members.Remove(addr); m != nil {
			n.log.Debug().Str("peer", addr.String()).Msg("banned peer removed from the peer table")
		}
	}
	serious := points >= pointsSilent || o.Banned
	if !serious {
		return
	}
	ok, heldBack := n.offenders.TakeWarning(addr, now)
	ev := n.log.Debug()
	if ok {
		ev = n.log.Warn()
	}
	ev = ev.Str("peer", addr.String()).Err(err).Float64("score", round1(o.Score))
	if o.Banned {
		ev = ev.Dur("banned_for", n.cfg.Limits.BanDuration)
	}
	if heldBack > 0 {
		ev = ev.Int("offences_not_logged", heldBack)
	}
	ev.Msg(what)
}

// noise records a malformed, unsolicited or over-rate datagram from addr.
func (n *Node) noise(addr netip.AddrPort, what string, now time.Time) {
	n.offend(addr, pointsNoise, "peer banned: too many "+what, nil, now)
}

// reply sends m to addr unless addr is over its reply rate; it reports
// whether m was sent. GET_BLOCKs over the rate are no offence: a peer
// syncing from us alone asks as fast as we answer, and the dropped replies
// slow it down (it resends fewer at a time); other requests over the rate
// are a flood.
func (n *Node) reply(to netip.AddrPort, m protocol.Message, now time.Time) bool {
	if !n.replies.Allow(to, now) {
		n.stats.RateLimited++
		n.log.Debug().Str("to", to.String()).Str("type", m.Type()).Msg("reply dropped: over the reply rate")
		if _, block := m.(protocol.GetBlockReply); !block {
			n.offend(to, pointsOverRate, "peer banned: too many requests over the reply rate", nil, now)
		}
		return false
	}
	n.send(to, m)
	return true
}

// noteSync turns what a sync learned about a backer into an offence.
func (n *Node) noteSync(note consensus.Note, now time.Time) {
	addr, err := netip.ParseAddrPort(note.Peer)
	if err != nil {
		return
	}
	points := map[consensus.NoteKind]float64{
		consensus.NoteLied: pointsLie, consensus.NoteLacking: pointsLacking, consensus.NoteSilent: pointsSilent,
	}[note.Kind]
	n.offend(addr, points, "sync: backer dropped ("+note.Kind.String()+")", note.Err, now)
}
