// Package peer is the blockpeer node: one event loop that owns all state
// (membership, the chain, the consensus round and the sync), the transports
// it talks through, gossip membership and the cleanup of silent peers.
package peer

import (
	"context"
	"errors"
	"fmt"
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

	members *memberTable
	seen    *seenIDs
	ourIDs  *seenIDs // gossip ids we sent: ignored when they come back
	calls   chan func()
	done    chan struct{}

	gossip        gossipTimers
	nextConsensus time.Time
	nextExpire    time.Time

	lastRoundStart time.Time
	lastHint       time.Time        // when a hint last started a round (see hint)
	round          *consensus.Round // the last round started (it may be decided while a sync runs)
	sync           *syncRun
	excluded       *consensus.Exclusions
	lastRound      []consensus.Group // groups of the last decided round, for status
	lastSync       *SyncResult       // the last adoption, for status
	warnedZeros    int               // the other difficulty last told about (see pumpRound)
	regreets       []regreet         // members to greet again, oldest first

	mine mineState

	events   []Event              // the last eventRing events, for Status
	eventSeq uint64               // the last event's Seq
	obs      observed             // what observe saw last
	bansSeen map[string]time.Time // bans already told as events, by address
	heldTips map[netip.AddrPort]heldTip

	offenders *offenderTable // misbehaving peers: scores, bans, warnings
	replies   *rateLimiter   // replies per destination
	forwards  *rateLimiter   // GOSSIPs forwarded per sender

	oversize *loggedOversize // blocks whose send over protocol.MaxDatagram was logged (see pass)

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
	Unproven                 int // datagrams not sent to an address not proven: its credit was spent
	FromBanned               int // datagrams dropped unread from banned peers
	Offences                 int // misbehaviours recorded against peers
	Bans                     int
}

// gossipTimers are our own gossip rounds.
type gossipTimers struct {
	next        time.Time       // the next round
	ours        protocol.Gossip // our GOSSIP of the current round
	lonelyRetry time.Duration   // while we know no peer: the delay of the next retry (see gossipRound)
	nextLonely  time.Time       // that retry (zero: none)
}

// mineState is the miner's: the search running, the words waiting, its
// pace and its hash rate.
type mineState struct {
	miner     *mining
	words     []string      // NEW_WORDs waiting for a block
	lastMined time.Time     // when our miner last found a block
	restAt    time.Time     // when a paced miner starts again (zero: not waiting)
	hashes    atomic.Uint64 // hashes tried by the miner, ever
	rate      hashWindow    // hash rate over the last seconds, for Status
}

// regreet is a member to greet once more at a time, if still not proven.
type regreet struct {
	addr netip.AddrPort
	at   time.Time
}

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
		cfg:      cfg,
		tr:       tr,
		chain:    ch,
		log:      cfg.Log.With().Str("node", cfg.Name).Logger(),
		rng:      rand.New(rand.NewPCG(seed, seed>>1|1)),
		members:  newMemberTable(cfg.Limits.MaxPeers),
		seen:     newSeenIDs(cfg.Timings.SeenIDTTL, cfg.Limits.SeenIDs),
		ourIDs:   newSeenIDs(cfg.Timings.SeenIDTTL, cfg.Limits.OurIDs),
		calls:    make(chan func()),
		done:     make(chan struct{}),
		excluded: consensus.NewExclusions(cfg.Limits.Exclusions),
		ids:      seededIDs(cfg),

		oversize:  newLoggedOversize(256),
		offenders: newOffenderTable(cfg.Limits),
		replies:   newRateLimiter(cfg.Limits.ReplyRate, cfg.Limits.ReplyBurst, cfg.Limits.ReplySources),
		forwards:  newRateLimiter(cfg.Limits.ForwardRate, cfg.Limits.ForwardBurst, cfg.Limits.ReplySources),
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
				n.handle(p, n.received(p))
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
			n.log.Info().Int("blocks", n.chain.Height()).Msg("stopped")
			n.emit(Event{Kind: EventStopped, Blocks: n.chain.Height(), Text: "stopped with " + blocksWord(n.chain.Height())})
			return nil
		case p, ok := <-priority:
			if !ok {
				priority = nil
				continue
			}
			n.handle(p, n.received(p))
		case p, ok := <-packets:
			if !ok {
				return errors.New("transport closed")
			}
			n.handle(p, n.received(p))
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
	n.log.Info().Str("addr", n.cfg.Advertise.String()).Int("blocks", n.chain.Height()).
		Int("seeds", len(n.cfg.Seeds)).Int("difficulty", n.cfg.Difficulty).Msg("joining")
	n.obs.tip, n.obs.tipAt = n.chain.TipHash(), now
	n.emit(Event{Time: now, Kind: EventJoined, Blocks: n.chain.Height(), Hash: n.chain.TipHash(),
		Text: "joined at " + n.cfg.Advertise.String() + " with " + blocksWord(n.chain.Height())})
	n.gossipRound(now)
	n.nextConsensus = now.Add(n.cfg.Timings.JoinDelay)
	n.nextExpire = now.Add(time.Second)
	n.restartMining()
}

// received returns when p arrived: the transport's stamp, so that round
// trips do not absorb the time a packet waited in the loop's queue, unless
// the node runs on another clock than the transport's.
func (n *Node) received(p Packet) time.Time {
	now := n.cfg.Now()
	if !p.At.IsZero() && !p.At.After(now) && now.Sub(p.At) < time.Second {
		return p.At
	}
	return now
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
	if !now.Before(n.gossip.next) || (!n.gossip.nextLonely.IsZero() && !now.Before(n.gossip.nextLonely) && n.members.Len() == 0) {
		n.gossipRound(now)
	}
	if !now.Before(n.nextExpire) {
		n.expirePeers(now)
		n.nextExpire = now.Add(min(time.Second, n.cfg.Timings.PeerTimeout/4))
	}
	n.greetAgain(now)
	n.pumpRound(now)
	if n.sync != nil {
		n.pumpSync(now)
	}
	if !now.Before(n.nextConsensus) {
		n.startConsensus(now, "timer")
	}
	defer n.observe(now)
	if n.cfg.Mine || n.mine.miner != nil {
		n.sampleHashRate(now)
		if n.mine.miner == nil && !n.mine.restAt.IsZero() && !now.Before(n.mine.restAt) {
			n.restartMining()
		}
	}
}

// handle acts on one datagram. Nothing here holds a datagram against
// its source address: a UDP source can be forged, and a malformed, unknown
// or unsolicited datagram costs its sender nothing. Only wrong answers to
// our own requests, from the exact address asked, are offences (see
// noteSync).
func (n *Node) handle(p Packet, now time.Time) {
	defer n.observe(now)
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
		return
	}
	if m := n.members.Get(p.From); m != nil {
		n.members.Prove(m, now) // a datagram from a member's own address: a sign of life, and proof the address is its
	}
	switch m := msg.(type) {
	case protocol.Gossip:
		n.onGossip(p.From, m, len(p.Data), now)
	case protocol.GossipReply:
		if addr, ok := n.peerAddr(m.Host, m.Port, p.From); ok && !n.offenders.Banned(addr, now) {
			n.learn(addr, m.Name, addr == p.From, len(p.Data), now)
		}
	case protocol.Stats:
		if n.sendBounded(p.From, protocol.StatsReply{Height: n.chain.Height(), Hash: n.chain.TipHash()}, now) {
			n.stats.StatsServed++
		}
	case protocol.StatsReply:
		n.onStatsReply(p.From, m, now)
	case protocol.GetBlock:
		b, _ := n.chain.Block(m.Height)
		if n.sendBounded(p.From, protocol.GetBlockReply{Block: b}, now) {
			n.stats.GetBlocksServed++
		}
	case protocol.GetBlockReply:
		n.onGetBlockReply(p.From, m, now)
	case protocol.Announce:
		n.onAnnounce(p.From, m.Block, now)
	case protocol.Consensus:
		n.onConsensus(p.From, now)
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

// maxCredit bounds what an address not proven may be owed: three
// datagrams' worth of its naming messages.
const maxCredit = 3 * protocol.MaxDatagram

// greetAgainAfter is when a member named but not yet heard from at its own
// address is greeted once more: a peer that gossips before it binds its
// socket missed the first greeting.
const greetAgainAfter = 2 * time.Second

// learn records addr, named by a message of size bytes (proven: the
// message came from addr itself), and greets it when it is new: our
// GOSSIP, so that peers that add members only from GOSSIP learn us, and a
// STATS, whose answer from addr proves it and tells its chain. An address
// not proven is owed at most three times the bytes that named it, in all.
func (n *Node) learn(addr netip.AddrPort, name string, proven bool, size int, now time.Time) (*Member, bool) {
	m, isNew := n.members.Touch(addr, name, proven, now)
	if m == nil {
		n.log.Debug().Str("peer", addr.String()).Msg("peer table full: not added")
		return nil, false
	}
	if !m.Proven {
		m.Credit = min(m.Credit+3*size, maxCredit)
	}
	if !isNew {
		return m, false
	}
	ev := n.log.Info()
	if !m.Proven {
		ev = n.log.Debug() // perhaps nobody: found when it answers
	}
	ev.Str("peer", addr.String()).Str("name", m.Name).Bool("proven", m.Proven).Int("peers", n.members.Len()).Msg("peer found")
	n.emit(Event{Time: now, Kind: EventPeerFound, Blocks: n.chain.Height(), Peer: addr.String(),
		Text: fmt.Sprintf("found %s (%s): %d peers", m.Name, addr, n.members.Len())})
	return m, true
}

// greet sends a new member our GOSSIP and a STATS (its chain may be taller
// than ours: see onStatsReply), and, when it is not proven, schedules one
// more greeting.
func (n *Node) greet(m *Member, now time.Time) {
	if n.gossip.ours.ID == "" { // not started: no round yet
		n.gossip.ours = n.newGossip(now)
	}
	// This round's id, which the network has mostly seen: a fresh id
	// would flood the network once per peer that learns of a newcomer.
	n.sendBounded(m.Addr, n.gossip.ours, now)
	if n.sendBounded(m.Addr, protocol.Stats{}, now) && n.round != nil {
		n.round.Ask(m.Addr, now) // its answer counts in a round still collecting
	}
	if !m.Proven && len(n.regreets) < n.cfg.Limits.MaxPeers {
		m.GreetAgain = now.Add(greetAgainAfter)
		n.regreets = append(n.regreets, regreet{addr: m.Addr, at: m.GreetAgain})
	}
}

// greetAgain sends our GOSSIP once more to the members greeted
// greetAgainAfter ago and not heard from since.
func (n *Node) greetAgain(now time.Time) {
	for len(n.regreets) > 0 && !now.Before(n.regreets[0].at) {
		r := n.regreets[0]
		n.regreets = n.regreets[1:]
		if m := n.members.Get(r.addr); m != nil && !m.Proven && m.GreetAgain.Equal(r.at) {
			m.GreetAgain = time.Time{}
			n.sendBounded(m.Addr, n.gossip.ours, now)
		}
	}
}

func (n *Node) onGossip(from netip.AddrPort, g protocol.Gossip, size int, now time.Time) {
	if n.ourIDs.Has(g.ID) {
		return
	}
	origin, ok := n.peerAddr(g.Host, g.Port, from)
	if !ok || n.offenders.Banned(origin, now) {
		return
	}
	// A copy of an id seen already (relays send each other the same
	// gossip) adds no credit to an origin not proven, and gets it no
	// second GOSSIP_REPLY: one naming adds up to one answer's worth.
	fresh := !n.seen.Has(g.ID)
	if !fresh {
		size = 0
	}
	m, isNew := n.learn(origin, g.Name, origin == from, size, now)
	if m == nil {
		return
	}
	if fresh || m.Proven {
		n.sendBounded(origin, protocol.GossipReply{Host: n.cfg.Advertise.Addr().String(), Port: int(n.cfg.Advertise.Port()), Name: n.cfg.Name}, now)
	}
	if isNew {
		n.greet(m, now)
	}
	if !n.seen.Add(g.ID, now) {
		return // forwarded already
	}
	// A flood of fresh ids must not become three floods.
	if !n.forwards.Allow(from, now) {
		n.stats.RateLimited++
		n.log.Debug().Str("from", from.String()).Msg("GOSSIP not forwarded: sender over the forward rate")
		return
	}
	for _, to := range n.members.Random(n.rng, 3, origin, from) {
		n.pass(to, g, g.ID) // someone else's GOSSIP: forwarded whole
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
	n.gossip.ours = g
	targets := append([]netip.AddrPort(nil), n.cfg.Seeds...) // Random picks proven members only
	targets = append(targets, n.members.Random(n.rng, 3, n.cfg.Seeds...)...)
	for _, to := range targets {
		if to != n.cfg.Advertise && to != n.tr.LocalAddr() {
			n.send(to, g)
		}
	}
	n.gossip.next = now.Add(n.cfg.Timings.GossipInterval)
	// While we know no peer although we have seeds (our GOSSIP or every
	// reply was lost, or the seeds are down), tick gossips again sooner if
	// we still know none then: after JoinDelay, then twice as long each
	// time, up to the interval.
	if n.members.Len() > 0 || len(n.cfg.Seeds) == 0 {
		n.gossip.lonelyRetry, n.gossip.nextLonely = 0, time.Time{}
		return
	}
	n.gossip.lonelyRetry = min(max(2*n.gossip.lonelyRetry, n.cfg.Timings.JoinDelay), n.cfg.Timings.GossipInterval)
	n.gossip.nextLonely = now.Add(n.gossip.lonelyRetry)
}

func (n *Node) expirePeers(now time.Time) {
	for _, m := range n.members.Expire(now, n.cfg.Timings.PeerTimeout) {
		n.log.Info().Str("peer", m.Addr.String()).Str("name", m.Name).
			Dur("silent", now.Sub(m.LastSeen).Round(time.Second)).Int("peers", n.members.Len()).Msg("peer dropped: silent")
		n.emit(Event{Time: now, Kind: EventPeerDropped, Blocks: n.chain.Height(), Peer: m.Addr.String(),
			Text: fmt.Sprintf("dropped %s (%s): silent for %s", m.Name, m.Addr, now.Sub(m.LastSeen).Round(time.Second))})
	}
}

// ErrStopped is returned by calls on a node that is not running.
var ErrStopped = errors.New("node stopped")
