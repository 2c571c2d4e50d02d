package peer

import (
	"net/netip"
	"strings"
	"time"

	"blockpeer/consensus"
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
		why := what
		if err != nil {
			// The gist: "sent an invalid block: its block 1 does not
			// link to ...", without the hashes that follow.
			parts := strings.SplitN(err.Error(), ": ", 3)
			why += ": " + strings.Join(parts[:min(2, len(parts))], ": ")
		}
		n.noteBan(addr, why, now) // before it leaves the table: the event names it
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
	ev = ev.Str("peer", addr.String()).Err(err).Float64("score", oneDecimal(o.Score))
	if o.Banned {
		ev = ev.Dur("banned_for", n.cfg.Limits.BanDuration)
	}
	if heldBack > 0 {
		ev = ev.Int("offences_not_logged", heldBack)
	}
	ev.Msg(what)
}

// noteSync turns what a sync learned about a backer into an offence and,
// for a lie or a claim it could not serve, an exclusion from that chain.
// A sync only learns from answers to its requests from the backer's own
// address (see consensus.Sync.OnBlock).
func (n *Node) noteSync(target consensus.Key, note consensus.Note, now time.Time) {
	switch note.Kind {
	case consensus.NoteOtherDifficulty:
		n.log.Debug().Str("peer", note.Peer.String()).Int("zeros", note.Zeros).Err(note.Err).
			Msg("sync: backer dropped: its chain is at another difficulty")
		return
	case consensus.NoteLied, consensus.NoteLacking:
		n.excluded.Exclude(note.Peer, target)
	}
	points := map[consensus.NoteKind]float64{
		consensus.NoteLied: pointsLie, consensus.NoteLacking: pointsLacking, consensus.NoteSilent: pointsSilent,
	}[note.Kind]
	n.offend(note.Peer, points, "sync: backer dropped ("+note.Kind.String()+")", note.Err, now)
}
