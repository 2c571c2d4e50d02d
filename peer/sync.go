package peer

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"blockpeer/chain"
	"blockpeer/consensus"
	"blockpeer/protocol"
)

// startConsensus sends STATS to every proven member and seed and opens a
// round; it returns false when a round is still collecting or proving. A
// running sync does not put a round off: the round may find a taller or
// better-backed chain, which then takes over (see follow).
func (n *Node) startConsensus(now time.Time, why string) bool {
	n.nextConsensus = now.Add(n.cfg.Timings.ConsensusInterval)
	if n.round != nil && n.round.Phase() != consensus.Decided {
		return false
	}
	var asked []netip.AddrPort
	for _, m := range n.members.All() {
		if m.Proven {
			asked = append(asked, m.Addr)
		}
	}
	for _, s := range n.cfg.Seeds {
		if s != n.cfg.Advertise && !slices.Contains(asked, s) {
			asked = append(asked, s)
		}
	}
	slices.SortFunc(asked, netip.AddrPort.Compare) // a seeded run is the same every time
	n.round = consensus.NewRound(why, now, asked, consensus.RoundConfig{
		Difficulty: n.cfg.Difficulty, Window: n.cfg.Timings.StatsWindow, MaxReports: n.cfg.Limits.TallyReports,
		MinProofWait: min(100*time.Millisecond, n.cfg.Timings.StatsWindow), MaxProofWait: n.cfg.Timings.StatsWindow,
	})
	for _, addr := range asked {
		n.send(addr, protocol.Stats{})
	}
	n.lastRoundStart = now
	n.stats.ConsensusRounds++
	n.log.Debug().Str("why", why).Int("asked", len(asked)).Msg("consensus: STATS sent")
	return true
}

// hintInterval is the least time between two rounds started by hints (a
// member's taller STATS_REPLY, an ANNOUNCE above our tip): a liar can send
// a hint in every datagram.
func (n *Node) hintInterval() time.Duration { return 4 * n.cfg.Timings.StatsWindow }

// hint starts a round now, unless a hint started one within hintInterval
// (or a round is still collecting: see startConsensus).
func (n *Node) hint(now time.Time, why string) {
	if now.Sub(n.lastHint) < n.hintInterval() {
		n.log.Debug().Str("why", why).Msg("consensus hint: a round ran just now")
		return
	}
	if n.startConsensus(now, why) {
		n.lastHint = now
		n.log.Info().Str("why", why).Int("our_blocks", n.chain.Height()).Msg("consensus: round started early")
	}
}

func (n *Node) onStatsReply(from netip.AddrPort, s protocol.StatsReply, now time.Time) {
	m := n.members.Get(from)
	if m != nil {
		m.Height, m.Hash, m.ReportedAt = s.Height, s.Hash, now
	}
	if n.round != nil && n.round.OnStats(from, consensus.Key{Height: s.Height, Hash: s.Hash}, s.HasChain(), now) {
		n.pumpRound(now)
		return
	}
	if m == nil {
		// Only the address we asked may answer: some peers ask from
		// one port and answer from another, but a STATS_REPLY from
		// anywhere else could be anyone's.
		n.log.Debug().Str("from", from.String()).Msg("STATS_REPLY from an address we did not ask: dropped")
		return
	}
	key := consensus.Key{Height: s.Height, Hash: s.Hash}
	if s.HasChain() && s.Height > n.chain.Height() && !n.excluded.Has(from, key) {
		n.hint(now, "a peer reports a taller chain")
	}
}

// pumpRound sends the round's proof requests and acts on its decision.
func (n *Node) pumpRound(now time.Time) {
	r := n.round
	if r == nil || r.Phase() == consensus.Decided {
		return
	}
	for _, q := range r.Poll(now, n.chain.Height(), n.excluded) {
		n.send(q.Peer, protocol.GetBlock{Height: q.Height})
	}
	if r.Phase() != consensus.Decided {
		return
	}
	groups := r.Groups()
	n.lastRound = groups
	ev := n.log.Info().Int("replies", r.Replies()).Int("asked", r.AskedCount()).Int("chains", len(groups))
	if len(groups) > 0 {
		g := groups[0]
		ev = ev.Int("tallest", g.Height).Str("hash", chain.ShortHash(g.Hash)).Int("backers", len(g.Backers)).Bool("proven", r.Proven(g.Key))
	}
	ev.Int("our_blocks", n.chain.Height()).Msg("consensus: replies in")
	if zeros := r.OtherDifficulty(); zeros > 0 && zeros != n.warnedZeros {
		n.warnedZeros = zeros
		n.log.Error().Msgf("every peer's chain has valid hashes with %d trailing zeros, but -difficulty is %d: "+
			"is this network at difficulty %d? (restart with -difficulty %d)", zeros, n.cfg.Difficulty, zeros, zeros)
	}
	g, ok := r.Choice()
	if !ok && r.Replies() < r.AskedCount() {
		// Replies were lost: the next round comes sooner than the timer's
		// (a node that heard nothing would otherwise wait a whole
		// consensus interval).
		n.nextConsensus = minTime(n.nextConsensus, now.Add(n.cfg.Timings.ConsensusInterval/8))
	}
	n.follow(g, ok, now)
}

// follow starts a sync toward g, the choice of a round; ok false: none.
// A sync already running toward g takes g's backers too; one toward a
// chain lower than g, or as tall with fewer backers, gives way to g.
func (n *Node) follow(g consensus.Group, ok bool, now time.Time) {
	if !ok {
		if n.sync == nil {
			if n.chain.Height() == 0 {
				n.log.Info().Msg("consensus: no peer reports a chain yet")
			} else {
				n.log.Info().Int("blocks", n.chain.Height()).Str("tip", chain.ShortHash(n.chain.TipHash())).
					Msg("consensus: we hold the tallest valid chain")
			}
		}
		return
	}
	if s := n.sync; s != nil {
		t := s.Target()
		switch {
		case g.Key == t:
			s.AddBackers(g.Backers)
			return
		case g.Height < t.Height || g.Height == t.Height && len(g.Backers) <= len(s.Backers()):
			n.log.Debug().Int("blocks", g.Height).Msg("consensus: chose a chain no better than the one being fetched")
			return
		}
		n.log.Info().Int("blocks", g.Height).Int("was", t.Height).Msg("sync: a better chain takes over")
		n.sync = nil
		n.keepVerified(s)
	}
	n.log.Info().Int("blocks", g.Height).Str("hash", chain.ShortHash(g.Hash)).Stringer("backers", addrList(g.Backers)).
		Bool("proven", n.round != nil && n.round.Proven(g.Key)).Msg("consensus: chose chain")
	cfg := consensus.DefaultSyncConfig(n.cfg.Difficulty)
	cfg.RequestTimeout = n.cfg.Timings.RequestTimeout
	cfg.MaxWindow = n.cfg.Limits.SyncWindow
	cfg.InitialWindow = min(cfg.InitialWindow, cfg.MaxWindow)
	cfg.Lookahead = n.cfg.Limits.SyncLookahead
	cfg.StallTimeout = 0 // scaled from RequestTimeout
	n.sync = &syncRun{Sync: consensus.NewSync(g, n.chain, cfg), started: now, nextProgress: now.Add(2 * time.Second),
		nextKeep: now.Add(keepInterval)}
	n.pumpSync(now)
}

// addrList prints addresses in a log line.
type addrList []netip.AddrPort

func (l addrList) String() string { return fmt.Sprint([]netip.AddrPort(l)) }

func (n *Node) onGetBlockReply(from netip.AddrPort, r protocol.GetBlockReply, now time.Time) {
	used := false
	if r.Block != nil && n.round != nil && n.round.OnBlock(r.Block) {
		used = true
		n.pumpRound(now)
	}
	if n.sync != nil {
		if n.toSync(from, r, now) != consensus.Unsolicited {
			used = true
		}
		n.pumpSync(now)
	}
	if !used {
		// Late answers to resent requests are normal; anything else
		// is noise, and cheap to forge: dropped, never held against
		// the source address.
		n.log.Debug().Str("from", from.String()).Int("height", r.Height).Msg("unsolicited GET_BLOCK_REPLY dropped")
	}
}

// toSync hands a GET_BLOCK_REPLY to the sync.
func (n *Node) toSync(from netip.AddrPort, r protocol.GetBlockReply, now time.Time) consensus.Verdict {
	if r.Block != nil {
		return n.sync.OnBlock(from, r.Block, now)
	}
	if r.Problem != nil {
		n.log.Debug().Err(r.Problem).Str("from", from.String()).Msg("GET_BLOCK_REPLY is not a block")
	}
	return n.sync.OnMissing(from, r.Height, now)
}

// pumpSync sends the sync's requests and acts on its end.
func (n *Node) pumpSync(now time.Time) {
	s := n.sync
	for _, req := range s.Poll(now) {
		n.send(req.Peer, protocol.GetBlock{Height: req.Height})
		n.stats.GetBlocksSent++
		s.requests++
	}
	for _, note := range s.TakeNotes() {
		n.noteSync(s.Target(), note, now)
	}
	switch s.Phase() {
	case consensus.Done:
		n.sync = nil
		n.adopt(s, now)
	case consensus.Failed:
		n.sync = nil
		n.keepVerified(s) // what was verified is a valid chain all the same
		retry := now.Add(n.cfg.Timings.ConsensusInterval / 8)
		if retry.Before(n.nextConsensus) {
			n.nextConsensus = retry
		}
		n.log.Info().Err(s.Err()).Dur("retry_in", n.nextConsensus.Sub(now).Round(time.Second)).Msg("sync abandoned")
		// Not tried again this round: the next choice of the round, if
		// any, is fetched now.
		if n.round != nil && n.round.Phase() == consensus.Decided {
			g, ok := n.round.Skip(s.Target())
			if ok {
				n.follow(g, ok, now)
			}
		}
	default:
		if !now.Before(s.nextKeep) {
			s.nextKeep = now.Add(keepInterval)
			n.keepVerified(s)
		}
		if !now.Before(s.nextProgress) {
			s.nextProgress = now.Add(2 * time.Second)
			n.logProgress(s, now)
		}
	}
}

func (n *Node) logProgress(s *syncRun, now time.Time) {
	done, total := s.Progress()
	rate := float64(done) / now.Sub(s.started).Seconds()
	ev := n.log.Info().Str("phase", s.Phase().String()).Int("verified", done).Int("total", total).
		Int("in_flight", s.InFlight()).Int("backers", len(s.Backers())).Float64("blocks_per_s", oneDecimal(rate))
	if rate > 0 {
		ev = ev.Dur("eta", time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second))
	}
	ev.Msg("sync progress")
}

// adopt replaces our chain with a finished sync's candidate.
func (n *Node) adopt(s *syncRun, now time.Time) {
	from, blocks := s.Result()
	if len(blocks) == 0 {
		return
	}
	k := s.keptStill(n.chain)
	var err error
	if k < len(blocks) {
		err = n.chain.Adopt(from+k, blocks[k:])
	}
	switch {
	case errors.Is(err, chain.ErrNotTaller):
		n.log.Info().Err(err).Msg("sync: candidate no longer taller; kept ours")
		return
	case err != nil:
		// Every block was verified on arrival: this is a bug, not a
		// peer's doing.
		n.log.Error().Err(err).Msg("sync: verified candidate refused by the chain")
		return
	}
	n.stats.Adopted++
	took := now.Sub(s.started)
	n.lastSync = &SyncResult{Height: n.chain.Height(), ForkPoint: from, Fetched: len(blocks), Requests: s.requests, Seconds: took.Seconds()}
	n.log.Info().Int("blocks", n.chain.Height()).Str("tip", chain.ShortHash(n.chain.TipHash())).Int("fork_point", from).
		Int("fetched", len(blocks)).Int("requests", s.requests).Dur("took", took.Round(time.Millisecond)).
		Float64("blocks_per_s", oneDecimal(float64(len(blocks))/max(took.Seconds(), 1e-3))).Bool("moved", s.Moved()).
		Msg("chain valid: adopted")
	n.restartMining()
}

// onAnnounce checks an announced block in full before it does anything.
// One that extends our tip is appended. One above our tip is only a hint
// that a round should run soon: an ANNOUNCE costs its sender nothing, so
// it never starts a sync from the announcer alone. A bad one is dropped
// and held against nobody (its source address may be forged).
func (n *Node) onAnnounce(from netip.AddrPort, b *chain.Block, now time.Time) {
	if err := chain.CheckFields(b, n.cfg.Difficulty); err != nil {
		n.log.Debug().Err(err).Str("from", from.String()).Msg("invalid ANNOUNCE dropped")
		return
	}
	h := n.chain.Height()
	switch {
	case b.Height == h:
		if err := n.chain.Append(b); err != nil {
			// Well-formed but not on our tip: a block of another fork,
			// or a forged one; consensus decides between forks.
			n.log.Debug().Err(err).Str("from", from.String()).Int("top", b.Height).Msg("ANNOUNCE does not link to our tip: ignored")
			return
		}
		n.stats.BlocksAnnouncedAdded++
		if m := n.members.Get(from); m != nil {
			m.Height, m.Hash, m.ReportedAt = b.Height+1, b.Hash, now
		}
		n.log.Info().Int("top", b.Height).Int("blocks", b.Height+1).Str("hash", chain.ShortHash(b.Hash)).Str("minedBy", b.MinedBy).
			Str("from", from.String()).Msg("announced block added")
		n.restartMining()
	case b.Height > h:
		n.hint(now, fmt.Sprintf("ANNOUNCE of block %d from %s", b.Height, from))
	default:
		n.log.Debug().Int("top", b.Height).Int("our_blocks", h).Msg("ANNOUNCE below our tip ignored")
	}
}

// onConsensus runs a round for a proven member, at most once per STATS
// window: each round asks every member, so CONSENSUS from a stranger, or
// a flood of them, must not turn into a flood of STATS.
func (n *Node) onConsensus(from netip.AddrPort, now time.Time) {
	m := n.members.Get(from)
	switch {
	case m == nil || !m.Proven:
		n.log.Debug().Str("from", from.String()).Msg("CONSENSUS from a non-member ignored (GOSSIP first)")
	case now.Sub(n.lastRoundStart) < n.cfg.Timings.StatsWindow || !n.startConsensus(now, "CONSENSUS from "+from.String()):
		n.log.Debug().Str("from", from.String()).Msg("CONSENSUS ignored: a round is running or just ran")
	}
}

func oneDecimal(f float64) float64 { return float64(int64(f*10)) / 10 }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
