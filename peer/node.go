// Package peer is the blockpeer node: one event loop that owns all state
// (membership, the chain, the consensus round and the sync), the transports
// it talks through, gossip membership and the cleanup of silent peers.
package peer

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"blockpeer/chain"
	"blockpeer/consensus"
	"blockpeer/protocol"
)

// Node is one peer of the network. All its state is owned by the goroutine
// running Run; other goroutines reach it only through calls (see do).
type Node struct {
	cfg   Config
	tr    Transport
	chain *chain.Chain
	log   zerolog.Logger
	rng   *rand.Rand
	ids   *rand.Rand // a seeded node's gossip ids; nil: crypto-random

	members *Members
	seen    *SeenIDs
	ourIDs  *SeenIDs // gossip ids we sent: ignored when they come back
	calls   chan func()
	done    chan struct{}

	nextGossip    time.Time
	gossip        protocol.Gossip // our GOSSIP of the current round
	lonelyRetry   time.Duration   // while we know no peer: the delay of the next retry (see gossipRound)
	nextLonely    time.Time       // that retry (zero: none)
	nextConsensus time.Time
	nextExpire    time.Time

	lastRoundStart time.Time
	lastTallerHint time.Time // last round started because a peer reported a taller chain
	round          *round
	sync           *syncRun
	bad            *consensus.BadSet
	lastRound      []consensus.Group // groups of the last finished round, for status
	lastSync       *SyncResult       // the last adoption, for status

	miner     *mining
	words     []string      // NEW_WORDs waiting for a block
	lastMined time.Time     // when our miner last found a block
	mineAt    time.Time     // when a paced miner starts again (zero: not waiting)
	hashes    atomic.Uint64 // hashes tried by the miner, ever

	rateAt     time.Time // hash rate sampling, for Status
	rateHashes uint64
	hashRate   float64

	offenders *Offenders    // misbehaving peers: scores, bans, warnings
	replies   *ReplyLimiter // replies per destination
	forwards  *ReplyLimiter // GOSSIPs forwarded per sender

	stats Counters
}

// Counters count what the node did, for tests and the status page.
type Counters struct {
	Received, Sent, Dropped  int
	GetBlocksSent            int // requests we sent while syncing
	GetBlocksServed          int // requests we answered
	StatsServed              int
	BlocksAnnouncedAdded     int
	GossipForwarded          int
	ConsensusRounds, Adopted int
	Mined                    int
	RateLimited              int // replies not sent: over the reply rate of their destination
	FromBanned               int // datagrams dropped unread from banned peers
	Offences                 int // misbehaviours recorded against peers
	Bans                     int
}

// round is a consensus round collecting STATS replies.
type round struct {
	deadline time.Time
	asked    map[netip.AddrPort]bool
	replied  map[netip.AddrPort]bool
	tally    *consensus.Tally
	groups   []consensus.Group
	skip     map[consensus.Key]bool // chains whose sync was abandoned this round
}

// collecting reports whether the round still takes STATS replies (a round
// opened by an ANNOUNCE asks nobody and has its one group from the start).
func (r *round) collecting() bool { return r.asked != nil && r.groups == nil }

// syncRun is a sync in progress toward one group.
type syncRun struct {
	*consensus.Sync
	started      time.Time
	nextProgress time.Time
	requests     int
	nextKeep     time.Time // when verified blocks are next put in our chain (see keepVerified)
	kept         int       // leading verified blocks our chain holds
}

// New returns a node that talks through tr and keeps ch. Run starts it.
func New(cfg Config, tr Transport, ch *chain.Chain) (*Node, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	seed := cfg.RandSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	n := &Node{
		cfg:     cfg,
		tr:      tr,
		chain:   ch,
		log:     cfg.Log.With().Str("node", cfg.Name).Logger(),
		rng:     rand.New(rand.NewPCG(seed, seed>>1|1)),
		members: NewMembers(cfg.MaxPeers),
		seen:    NewSeenIDs(cfg.Timings.SeenIDTTL, cfg.Limits.SeenIDs),
		ourIDs:  NewSeenIDs(cfg.Timings.SeenIDTTL, cfg.Limits.OurIDs),
		calls:   make(chan func()),
		done:    make(chan struct{}),
		bad:     consensus.NewBadSet(cfg.Limits.BadChains),
		ids:     seededIDs(cfg),

		offenders: NewOffenders(cfg.Limits),
		replies:   NewReplyLimiter(cfg.ReplyRate, cfg.ReplyBurst, cfg.Limits.ReplySources),
		forwards:  NewReplyLimiter(cfg.Limits.ForwardRate, cfg.Limits.ForwardBurst, cfg.Limits.ReplySources),
	}
	return n, nil
}

// Run joins the network and handles events until ctx is done or the
// transport closes. It closes neither the transport nor the chain.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.done)
	defer n.stopMining()
	n.start(n.cfg.Now())
	ticker := time.NewTicker(n.cfg.Timings.Tick)
	defer ticker.Stop()
	// While a sync runs, its requests are checked for expiry every
	// syncTick besides after each reply: when a window's replies are all
	// lost the replies stop, and a Tick of the course's 50 ms would hold
	// every resend that long.
	syncTicker := time.NewTicker(syncTick)
	defer syncTicker.Stop()
	packets, priority := n.tr.Packets(), PriorityOf(n.tr)
	streak := 0 // urgent datagrams handled in a row
	for {
		// The priority lane first (see Laned), but at most
		// maxPriorityStreak in a row: a flood of urgent datagrams slows
		// the rest, it does not stop it.
		if priority != nil && streak < maxPriorityStreak {
			select {
			case p, ok := <-priority:
				if !ok {
					priority = nil
					continue
				}
				streak++
				n.handle(p, n.cfg.Now())
				continue
			default:
			}
		}
		streak = 0
		var syncC <-chan time.Time // nil, never ready, while no sync runs
		if n.sync != nil {
			syncC = syncTicker.C
		}
		select {
		case <-ctx.Done():
			n.log.Info().Int("height", n.chain.Height()).Msg("stopped")
			return nil
		case p, ok := <-priority:
			if !ok {
				priority = nil
				continue
			}
			n.handle(p, n.cfg.Now())
		case p, ok := <-packets:
			if !ok {
				return errors.New("transport closed")
			}
			n.handle(p, n.cfg.Now())
		case <-ticker.C:
			n.tick(n.cfg.Now())
		case <-syncC:
			if n.sync != nil {
				n.pumpSync(n.cfg.Now())
			}
		case f := <-n.calls:
			f()
		}
	}
}

// syncTick is how often Run checks a running sync's requests for expiry
// (see Run); a fraction of the shortest request timeout.
const syncTick = 5 * time.Millisecond

// maxPriorityStreak is how many datagrams of the priority lane Run handles
// in a row before it takes anything else that is waiting.
const maxPriorityStreak = 32

// start joins the network: the first GOSSIP, the timers, the miner. Run
// calls it, then handle for each datagram and tick every Timings.Tick; the
// simulator (Sim) drives the same three on virtual time.
func (n *Node) start(now time.Time) {
	n.log.Info().Str("addr", n.cfg.Advertise.String()).Int("height", n.chain.Height()).
		Int("seeds", len(n.cfg.Seeds)).Int("difficulty", n.cfg.Difficulty).Msg("joining")
	n.gossipRound(now)
	n.nextConsensus = now.Add(n.cfg.Timings.JoinDelay)
	n.nextExpire = now.Add(time.Second)
	n.restartMining()
}

// do runs f on the event loop and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case n.calls <- func() { f(); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	select {
	case <-ran:
		return nil
	case <-n.done:
		return ErrStopped
	}
}

func (n *Node) tick(now time.Time) {
	if !now.Before(n.nextGossip) || (!n.nextLonely.IsZero() && !now.Before(n.nextLonely) && n.members.Len() == 0) {
		n.gossipRound(now)
	}
	if !now.Before(n.nextExpire) {
		n.expirePeers(now)
		n.nextExpire = now.Add(min(time.Second, n.cfg.Timings.PeerTimeout/4))
	}
	if n.round != nil && n.sync == nil && !now.Before(n.round.deadline) {
		n.finishRound(now)
	}
	if n.sync != nil {
		n.pumpSync(now)
	}
	if !now.Before(n.nextConsensus) {
		n.startConsensus(now, "timer")
	}
	if n.cfg.Mine {
		n.sampleHashRate(now)
		if n.miner == nil && !n.mineAt.IsZero() && !now.Before(n.mineAt) {
			n.restartMining()
		}
	}
}

// send encodes m and sends it to addr.
func (n *Node) send(to netip.AddrPort, m protocol.Message) {
	data, err := protocol.Encode(m)
	if err != nil {
		n.log.Warn().Err(err).Str("to", to.String()).Msg("not sent")
		return
	}
	if err := n.tr.Send(to, data); err != nil {
		n.log.Debug().Err(err).Str("to", to.String()).Str("type", m.Type()).Msg("send failed")
		return
	}
	n.stats.Sent++
}

func (n *Node) handle(p Packet, now time.Time) {
	n.stats.Received++
	if n.offenders.Banned(p.From, now) {
		n.stats.Dropped++
		n.stats.FromBanned++ // no line: a banned flooder would flood the log
		return
	}
	msg, err := protocol.Parse(p.Data)
	if err != nil {
		n.stats.Dropped++
		n.log.Debug().Err(err).Str("from", p.From.String()).Msg("dropped datagram")
		if errors.Is(err, protocol.ErrUnknownType) {
			// The spec has peers ignore unknown types: a peer may speak an
			// extension now and then; only a flood of them is an offence.
			n.offend(p.From, pointsOverRate, "peer banned: too many datagrams of unknown types", nil, now)
			return
		}
		n.noise(p.From, "malformed datagrams", now)
		return
	}
	if m := n.members.Get(p.From); m != nil {
		m.LastSeen = now // any datagram from a member's address is a sign of life
	}
	switch m := msg.(type) {
	case protocol.Gossip:
		n.onGossip(p.From, m, now)
	case protocol.GossipReply:
		if addr, ok := n.peerAddr(m.Host, m.Port, p.From); ok && !n.offenders.Banned(addr, now) {
			n.touch(addr, m.Name, now)
		}
	case protocol.Stats:
		if n.reply(p.From, protocol.StatsReply{Height: n.chain.Height(), Hash: n.chain.TipHash()}, now) {
			n.stats.StatsServed++
		}
	case protocol.StatsReply:
		n.onStatsReply(p.From, m, now)
	case protocol.GetBlock:
		b, _ := n.chain.Block(m.Height)
		if n.reply(p.From, protocol.GetBlockReply{Block: b}, now) {
			n.stats.GetBlocksServed++
		}
	case protocol.GetBlockReply:
		n.onGetBlockReply(p.From, m, now)
	case protocol.Announce:
		n.onAnnounce(p.From, m.Block, now)
	case protocol.Consensus:
		// At most one round per STATS window: each round asks every peer,
		// so a flood of CONSENSUS must not become a flood of STATS.
		if now.Sub(n.lastRoundStart) < n.cfg.Timings.StatsWindow || !n.startConsensus(now, "CONSENSUS from "+p.From.String()) {
			n.log.Debug().Str("from", p.From.String()).Msg("CONSENSUS ignored: a round is running or just ran")
		}
	case protocol.NewWord:
		n.onNewWord(p.From, m.Word)
	}
}

// peerAddr turns a host and port from a gossip message into an address.
// Hosts must be IP literals (or "localhost"): we resolve no names inside
// the event loop. An unspecified host (0.0.0.0) means the datagram's source.
func (n *Node) peerAddr(host string, port int, from netip.AddrPort) (netip.AddrPort, bool) {
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		n.log.Debug().Str("host", host).Str("from", from.String()).Msg("gossip host is not an IP address: ignored")
		return netip.AddrPort{}, false
	}
	if ip.IsUnspecified() {
		ip = from.Addr()
	}
	addr := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	if addr == n.cfg.Advertise || addr == n.tr.LocalAddr() {
		return netip.AddrPort{}, false // ourselves
	}
	return addr, true
}

// touch records a sign of life from addr; it logs new peers.
func (n *Node) touch(addr netip.AddrPort, name string, now time.Time) (isNew bool) {
	m, isNew := n.members.Touch(addr, name, now)
	if m == nil {
		n.log.Debug().Str("peer", addr.String()).Msg("peer table full: not added")
		return false
	}
	if isNew {
		n.log.Info().Str("peer", addr.String()).Str("name", m.Name).Int("peers", n.members.Len()).Msg("peer found")
		n.reply(addr, protocol.Stats{}, now) // its chain may be taller than ours: see onStatsReply
	}
	return isNew
}

func (n *Node) onGossip(from netip.AddrPort, g protocol.Gossip, now time.Time) {
	if n.ourIDs.Has(g.ID) {
		return
	}
	origin, ok := n.peerAddr(g.Host, g.Port, from)
	if !ok || n.offenders.Banned(origin, now) {
		return
	}
	if n.touch(origin, g.Name, now) {
		// Some peers only learn of us from our GOSSIP: tell it at once,
		// with this round's id, which the network has mostly seen: a
		// fresh id would flood the network once per peer that learns of
		// a newcomer (N floods of 4N datagrams for one join).
		if n.gossip.ID == "" { // not started: no round yet
			n.gossip = n.newGossip(now)
		}
		n.reply(origin, n.gossip, now)
	}
	n.reply(origin, protocol.GossipReply{Host: n.cfg.Advertise.Addr().String(), Port: int(n.cfg.Advertise.Port()), Name: n.cfg.Name}, now)
	if !n.seen.Add(g.ID, now) {
		return // forwarded already
	}
	// A flood of fresh ids must not become three floods.
	if !n.forwards.Allow(from, now) {
		n.stats.RateLimited++
		n.log.Debug().Str("from", from.String()).Msg("GOSSIP not forwarded: sender over the forward rate")
		n.offend(from, pointsOverRate, "peer banned: too many GOSSIPs over the forward rate", nil, now)
		return
	}
	for _, to := range n.members.Random(n.rng, 3, origin, from) {
		n.send(to, g)
		n.stats.GossipForwarded++
	}
}

// newGossip returns a GOSSIP about us with a fresh id.
func (n *Node) newGossip(now time.Time) protocol.Gossip {
	id := n.newGossipID()
	n.ourIDs.Add(id, now)
	return protocol.Gossip{Host: n.cfg.Advertise.Addr().String(), Port: int(n.cfg.Advertise.Port()), ID: id, Name: n.cfg.Name}
}

// gossipRound sends a fresh GOSSIP to the seeds and up to 3 known peers.
func (n *Node) gossipRound(now time.Time) {
	g := n.newGossip(now)
	n.gossip = g
	targets := append([]netip.AddrPort(nil), n.cfg.Seeds...)
	targets = append(targets, n.members.Random(n.rng, 3, n.cfg.Seeds...)...)
	for _, to := range targets {
		if to != n.cfg.Advertise && to != n.tr.LocalAddr() {
			n.send(to, g)
		}
	}
	n.nextGossip = now.Add(n.cfg.Timings.GossipInterval)
	// While we know no peer although we have seeds (our GOSSIP or every
	// reply was lost, or the seeds are down), tick gossips again sooner if
	// we still know none then: after JoinDelay, then twice as long each
	// time, up to the interval.
	if n.members.Len() > 0 || len(n.cfg.Seeds) == 0 {
		n.lonelyRetry, n.nextLonely = 0, time.Time{}
		return
	}
	n.lonelyRetry = min(max(2*n.lonelyRetry, n.cfg.Timings.JoinDelay), n.cfg.Timings.GossipInterval)
	n.nextLonely = now.Add(n.lonelyRetry)
}

func (n *Node) expirePeers(now time.Time) {
	for _, m := range n.members.Expire(now, n.cfg.Timings.PeerTimeout) {
		n.log.Info().Str("peer", m.Addr.String()).Str("name", m.Name).
			Dur("silent", now.Sub(m.LastSeen).Round(time.Second)).Int("peers", n.members.Len()).Msg("peer dropped: silent")
	}
}

// ErrStopped is returned by calls on a node that is not running.
var ErrStopped = errors.New("node stopped")
