package peer

import (
	"errors"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"time"

	"blockpeer/chain"
	"blockpeer/consensus"
	"blockpeer/protocol"
)

// startConsensus sends STATS to every known peer and seed and opens a
// round; it returns false when a round or a sync is already running.
func (n *Node) startConsensus(now time.Time, why string) bool {
	n.nextConsensus = now.Add(n.cfg.Timings.ConsensusInterval)
	if n.round != nil || n.sync != nil {
		return false
	}
	r := &round{deadline: now.Add(n.cfg.Timings.StatsWindow), asked: make(map[netip.AddrPort]bool),
		replied: make(map[netip.AddrPort]bool), tally: consensus.NewTally(n.cfg.Limits.TallyReports)}
	for _, m := range n.members.All() {
		r.asked[m.Addr] = true
	}
	for _, s := range n.cfg.Seeds {
		if s != n.cfg.Advertise {
			r.asked[s] = true
		}
	}
	for _, addr := range slices.SortedFunc(maps.Keys(r.asked), netip.AddrPort.Compare) {
		n.send(addr, protocol.Stats{}) // in address order: a seeded run is the same every time
	}
	n.round = r
	n.lastRoundStart = now
	n.stats.ConsensusRounds++
	n.log.Debug().Str("why", why).Int("asked", len(r.asked)).Msg("consensus: STATS sent")
	return true
}

func (n *Node) onStatsReply(from netip.AddrPort, s protocol.StatsReply, now time.Time) {
	if n.round != nil && !n.round.asked[from] {
		from = sameHost(from, maps.Keys(n.round.asked))
	}
	if m := n.members.Get(from); m != nil {
		m.Height, m.Hash, m.ReportedAt = s.Height, s.Hash, now
	}
	collecting := n.round != nil && n.round.collecting()
	if collecting && n.members.Get(from) != nil {
		n.round.asked[from] = true // a member we asked on discovery, answering mid-round
	}
	if !collecting || !n.round.asked[from] {
		if n.members.Get(from) == nil {
			n.log.Debug().Str("from", from.String()).Msg("STATS_REPLY from an address we never asked: dropped")
			n.noise(from, "unsolicited replies", now)
			return
		}
		n.tallerHint(from, s, now)
		return
	}
	if s.HasChain() {
		n.round.tally.Add(from.String(), consensus.Key{Height: s.Height, Hash: s.Hash})
	}
	n.round.replied[from] = true
	if len(n.round.replied) == len(n.round.asked) {
		n.finishRound(now) // everyone answered: no need to wait out the window
	}
}

// tallerHint starts a round when a peer answers a STATS outside one (we
// ask every new peer) with a chain taller than ours, instead of waiting
// for the consensus timer: at most once per 1/8 of the consensus interval,
// as a liar could report a new taller chain in every reply.
func (n *Node) tallerHint(from netip.AddrPort, s protocol.StatsReply, now time.Time) {
	key := consensus.Key{Height: s.Height, Hash: s.Hash}
	if n.members.Get(from) == nil || !s.HasChain() || s.Height <= n.chain.Height() || n.bad.Has(key) ||
		now.Sub(n.lastTallerHint) < n.cfg.Timings.ConsensusInterval/8 {
		n.log.Debug().Str("from", from.String()).Int("height", s.Height).Msg("STATS_REPLY outside a round: noted")
		return
	}
	if n.startConsensus(now, "a peer reports a taller chain") {
		n.lastTallerHint = now
		n.log.Info().Str("peer", from.String()).Int("height", s.Height).Int("our_height", n.chain.Height()).
			Msg("a peer reports a taller chain: consensus")
	}
}

// finishRound closes the STATS window and picks the chain to follow.
func (n *Node) finishRound(now time.Time) {
	n.round.groups = n.round.tally.Groups()
	n.lastRound = n.round.groups
	ev := n.log.Info().Int("replies", n.round.tally.Len()).Int("chains", len(n.round.groups))
	if len(n.round.groups) > 0 {
		g := n.round.groups[0]
		ev = ev.Int("tallest", g.Height).Str("hash", short(g.Hash)).Int("backers", len(g.Backers))
	}
	ev.Int("our_height", n.chain.Height()).Msg("consensus: replies in")
	n.followNext(now)
}

// followNext starts a sync toward the best group not marked bad, or ends
// the round when we already hold the tallest valid chain.
func (n *Node) followNext(now time.Time) {
	groups := n.round.groups
	if len(n.round.skip) > 0 {
		groups = slices.DeleteFunc(slices.Clone(groups), func(g consensus.Group) bool { return n.round.skip[g.Key] })
	}
	g, ok := consensus.Choose(groups, n.bad, n.chain.Height())
	switch {
	case !ok && n.chain.Height() == 0:
		n.log.Info().Msg("consensus: no peer reports a chain yet")
	case !ok:
		n.log.Info().Int("height", n.chain.Height()).Str("tip", short(n.chain.TipHash())).
			Msg("consensus: we hold the tallest valid chain")
	}
	if !ok {
		n.round = nil
		return
	}
	n.log.Info().Int("height", g.Height).Str("hash", short(g.Hash)).Strs("backers", g.Backers).
		Msg("consensus: chose chain")
	cfg := consensus.DefaultSyncConfig(n.cfg.Difficulty)
	cfg.RequestTimeout = n.cfg.Timings.RequestTimeout
	cfg.MaxWindow = n.cfg.Limits.SyncWindow
	cfg.InitialWindow = min(cfg.InitialWindow, cfg.MaxWindow)
	cfg.Lookahead = n.cfg.Limits.SyncLookahead
	n.sync = &syncRun{Sync: consensus.NewSync(g, n.chain, cfg), started: now, nextProgress: now.Add(2 * time.Second),
		nextKeep: now.Add(keepInterval)}
	n.pumpSync(now)
}

func (n *Node) onGetBlockReply(from netip.AddrPort, r protocol.GetBlockReply, now time.Time) {
	if n.sync == nil {
		n.unsolicitedBlock(from, r, now)
		return
	}
	v := n.toSync(from, r, now)
	if v == consensus.Unsolicited && r.Block != nil && !n.knownAddr(from) {
		// Some peers answer from another socket: try the one backer we
		// asked on that host. Only with a block (which is verified), and
		// only from an address that is no peer of ours: another peer on
		// the same host must not speak for a backer (a "no such block" or
		// a broken block would get it dropped).
		backers := func(yield func(netip.AddrPort) bool) {
			for _, b := range n.sync.Backers() {
				if a, err := netip.ParseAddrPort(b); err == nil && !yield(a) {
					return
				}
			}
		}
		if alt := sameHost(from, backers); alt != from {
			v = n.toSync(alt, r, now)
		}
	}
	if v == consensus.Unsolicited {
		n.unsolicitedBlock(from, r, now)
	}
	n.pumpSync(now)
}

// knownAddr reports whether addr is a member, a seed or a peer asked in
// the current round: a peer in its own right.
func (n *Node) knownAddr(addr netip.AddrPort) bool {
	return n.members.Get(addr) != nil || slices.Contains(n.cfg.Seeds, addr) || n.round != nil && n.round.asked[addr]
}

// unsolicitedBlock drops a GET_BLOCK_REPLY nothing asked for. Late answers
// of peers we know are normal (to resent requests, after a sync ended);
// from an address we never asked it is noise.
func (n *Node) unsolicitedBlock(from netip.AddrPort, r protocol.GetBlockReply, now time.Time) {
	n.log.Debug().Str("from", from.String()).Int("height", r.Height).Msg("unsolicited GET_BLOCK_REPLY dropped")
	if !n.knownAddr(from) {
		n.noise(from, "unsolicited replies", now)
	}
}

// toSync hands a GET_BLOCK_REPLY from a backer to the sync.
func (n *Node) toSync(from netip.AddrPort, r protocol.GetBlockReply, now time.Time) consensus.Verdict {
	if r.Block != nil {
		return n.sync.OnBlock(from.String(), r.Block, now)
	}
	if r.Problem != nil {
		n.log.Debug().Err(r.Problem).Str("from", from.String()).Msg("GET_BLOCK_REPLY is not a block")
	}
	return n.sync.OnMissing(from.String(), r.Height, now)
}

// pumpSync sends the sync's requests and acts on its end.
func (n *Node) pumpSync(now time.Time) {
	s := n.sync
	for _, req := range s.Poll(now) {
		addr, err := netip.ParseAddrPort(req.Peer)
		if err != nil {
			continue
		}
		n.send(addr, protocol.GetBlock{Height: req.Height})
		n.stats.GetBlocksSent++
		s.requests++
	}
	for _, note := range s.TakeNotes() {
		n.noteSync(note, now)
	}
	switch s.Phase() {
	case consensus.Done:
		n.sync = nil
		n.adopt(s, now)
		n.round = nil
	case consensus.Failed:
		n.sync = nil
		n.keepVerified(s) // what was verified is a valid chain all the same
		if s.MarkBad() {
			n.bad.Mark(s.Target())
			n.log.Warn().Int("height", s.Target().Height).Str("hash", short(s.Target().Hash)).Err(s.Err()).
				Msg("consensus: chain marked bad; trying the next")
			n.followNext(now)
			return
		}
		retry := now.Add(n.cfg.Timings.ConsensusInterval / 8)
		if retry.Before(n.nextConsensus) {
			n.nextConsensus = retry
		}
		n.log.Info().Err(s.Err()).Dur("retry_in", n.nextConsensus.Sub(now).Round(time.Second)).Msg("sync abandoned: backers stopped answering")
		// Not marked bad (had they answered, they might have served it),
		// but not tried again this round: a tall chain backed only by
		// peers that never answer must not keep us off the next one.
		if n.round.skip == nil {
			n.round.skip = make(map[consensus.Key]bool)
		}
		n.round.skip[s.Target()] = true
		n.followNext(now)
	default:
		if !now.Before(s.nextKeep) {
			s.nextKeep = now.Add(keepInterval)
			n.keepVerified(s)
		}
		if !now.Before(s.nextProgress) {
			s.nextProgress = now.Add(2 * time.Second)
			done, total := s.Progress()
			rate := float64(done) / now.Sub(s.started).Seconds()
			ev := n.log.Info().Str("phase", s.Phase().String()).Int("verified", done).Int("total", total).
				Int("in_flight", s.InFlight()).Int("backers", len(s.Backers())).Float64("blocks_per_s", round1(rate))
			if rate > 0 {
				ev = ev.Dur("eta", time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second))
			}
			ev.Msg("sync progress")
		}
	}
}

// adopt replaces our chain with a finished sync's candidate.
func (n *Node) adopt(s *syncRun, now time.Time) {
	from, blocks := s.Result()
	if len(blocks) == 0 {
		return
	}
	k := s.keptHeld(n.chain)
	var err error
	if k < len(blocks) {
		err = n.chain.Adopt(from+k, blocks[k:])
	}
	switch {
	case errors.Is(err, chain.ErrNotTaller):
		n.log.Info().Err(err).Msg("sync: candidate no longer taller; kept ours")
		return
	case err != nil:
		n.bad.Mark(s.Target())
		n.log.Warn().Err(err).Msg("sync: candidate failed verification; marked bad")
		return
	}
	n.stats.Adopted++
	took := now.Sub(s.started)
	n.lastSync = &SyncResult{Height: n.chain.Height(), ForkPoint: from, Fetched: len(blocks), Requests: s.requests, Seconds: took.Seconds()}
	n.log.Info().Int("height", n.chain.Height()).Str("tip", short(n.chain.TipHash())).Int("fork_point", from).
		Int("fetched", len(blocks)).Int("requests", s.requests).Dur("took", took.Round(time.Millisecond)).
		Float64("blocks_per_s", round1(float64(len(blocks))/max(took.Seconds(), 1e-3))).Bool("moved", s.Moved()).
		Msg("chain valid: adopted")
	n.restartMining()
}

func (n *Node) onAnnounce(from netip.AddrPort, b *chain.Block, now time.Time) {
	h := n.chain.Height()
	switch {
	case b.Height == h:
		if err := chain.CheckFields(b, n.cfg.Difficulty); err != nil {
			n.offend(from, pointsLie, "invalid ANNOUNCE ignored", err, now)
			return
		}
		if err := n.chain.Append(b); err != nil {
			// Well-formed but not on our tip: a block of another fork, or
			// a forged one; consensus decides between forks.
			n.log.Debug().Err(err).Str("from", from.String()).Int("height", b.Height).Msg("ANNOUNCE does not link to our tip: ignored")
			return
		}
		n.stats.BlocksAnnouncedAdded++
		if m := n.members.Get(from); m != nil {
			m.Height, m.Hash, m.ReportedAt = b.Height+1, b.Hash, now
		}
		n.log.Info().Int("height", b.Height).Str("hash", short(b.Hash)).Str("minedBy", b.MinedBy).
			Str("from", from.String()).Msg("announced block added")
		n.restartMining()
	case b.Height > h:
		if err := chain.CheckFields(b, n.cfg.Difficulty); err != nil {
			n.offend(from, pointsLie, "invalid ANNOUNCE ignored", err, now)
			return
		}
		// A sync is due: fetch the announcer's chain at once, without a
		// STATS round (a miner faster than a round would leave us behind).
		g := consensus.Group{Key: consensus.Key{Height: b.Height + 1, Hash: b.Hash}, Backers: []string{from.String()}}
		if n.round != nil || n.sync != nil || n.bad.Has(g.Key) {
			n.log.Debug().Int("announced", b.Height).Int("our_height", h).Msg("ANNOUNCE ahead of us: a sync is already running")
			return
		}
		n.log.Info().Int("announced", b.Height).Int("our_height", h).Str("from", from.String()).
			Msg("ANNOUNCE is ahead of us: fetching from the announcer")
		n.round = &round{groups: []consensus.Group{g}}
		n.followNext(now)
	default:
		n.log.Debug().Int("height", b.Height).Int("our_height", h).Msg("ANNOUNCE below our tip ignored")
	}
}

// sameHost maps a reply from an address we did not ask to the one address
// we asked on the same host, if there is exactly one: some peers answer
// from another socket than the one they listen on. Otherwise it returns
// from unchanged.
func sameHost(from netip.AddrPort, asked iter.Seq[netip.AddrPort]) netip.AddrPort {
	var match netip.AddrPort
	n := 0
	for a := range asked {
		if a.Addr() == from.Addr() {
			match, n = a, n+1
		}
	}
	if n == 1 {
		return match
	}
	return from
}

func short(hash string) string {
	return hash[:min(len(hash), 12)] // the tail is all zeros
}

func round1(f float64) float64 { return float64(int64(f*10)) / 10 }
