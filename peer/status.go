package peer

import (
	"context"
	"net/netip"
	"time"

	"blockpeer/chain"
)

// Status is a snapshot of a node for people: the status page, the lab's
// console and tests. It is a copy: safe to keep and to read anywhere.
type Status struct {
	Name       string           `json:"name"`
	Addr       string           `json:"addr"`
	Difficulty int              `json:"difficulty"`
	Height     int              `json:"height"`
	Tip        string           `json:"tip"`
	Sync       *SyncStatus      `json:"sync"`      // nil when not syncing
	LastSync   *SyncResult      `json:"last_sync"` // the last chain adopted, nil before any
	Consensus  []GroupStatus    `json:"consensus"`
	Peers      []PeerStatus     `json:"peers"`
	Mining     MiningStatus     `json:"mining"`
	Counters   Counters         `json:"counters"`
	Offenders  []OffenderStatus `json:"offenders"` // misbehaving peers, worst first (at most 50)
	Events     []Event          `json:"events"`    // the last events, oldest first (at most 64)
	Time       time.Time        `json:"time"`
}

// SyncStatus describes a sync in progress.
type SyncStatus struct {
	Phase     string   `json:"phase"`
	Height    int      `json:"height"` // target chain
	Hash      string   `json:"hash"`
	ForkPoint int      `json:"fork_point"`
	Verified  int      `json:"verified"`
	Total     int      `json:"total"`
	InFlight  int      `json:"in_flight"`
	Backers   []string `json:"backers"`
}

// SyncResult describes an adopted chain: how much was fetched and how
// long it took from the choice of the chain to its adoption.
type SyncResult struct {
	Height    int     `json:"height"`
	ForkPoint int     `json:"fork_point"`
	Fetched   int     `json:"fetched"`
	Requests  int     `json:"requests"`
	Seconds   float64 `json:"seconds"`
}

// GroupStatus is one chain of the last consensus round.
type GroupStatus struct {
	Height  int      `json:"height"`
	Hash    string   `json:"hash"`
	Backers []string `json:"backers"`
	Bad     bool     `json:"bad"`    // every backer refused: each lied about it or could not serve it
	Proven  bool     `json:"proven"` // its top block was shown in the round
}

// PeerStatus is one member and its chain as we know it now: what it last
// told us (STATS_REPLY, ANNOUNCE), moved forward by the blocks we
// ANNOUNCEd to it when it was on our chain.
type PeerStatus struct {
	Name       string    `json:"name"`
	Addr       string    `json:"addr"`
	LastSeen   time.Time `json:"last_seen"`
	Height     int       `json:"height"` // its number of blocks (top: Height-1)
	Hash       string    `json:"hash"`
	ReportedAt time.Time `json:"reported_at"` // when we learnt it; zero: never
	Proven     bool      `json:"proven"`      // heard from at its own address (see Member.Proven)
	// Source says how we know: "told" (its STATS_REPLY or ANNOUNCE),
	// "our announce" (it was on our chain and we ANNOUNCEd the next
	// block to it), "" (nothing yet).
	Source string `json:"source"`
	// Relation is its chain beside ours: "same" (our tip), "ahead",
	// "behind" (it told us so after our tip last changed), "earlier" (a
	// block of our chain, or no chain, as of before our tip last changed:
	// it may well hold our tip since), "fork" (another chain), ""
	// (unknown).
	Relation string `json:"relation"`
	// Stale: what we know is older than two consensus intervals.
	Stale bool `json:"stale"`
}

// OffenderStatus is a peer that misbehaved: its offence score now and
// until when it is banned (zero: not banned).
type OffenderStatus struct {
	Addr        string    `json:"addr"`
	Score       float64   `json:"score"`
	BannedUntil time.Time `json:"banned_until"`
}

// MiningStatus describes the miner.
type MiningStatus struct {
	Enabled bool   `json:"enabled"`
	Active  bool   `json:"active"`
	Hashes  uint64 `json:"hashes"`
	// HashRate is hashes per second while mining, over the last
	// HashRateWindow (the rests between blocks do not count): the rate
	// of the last stretch of mining when the miner rests.
	HashRate float64 `json:"hash_rate"`
	// State: "mining", "resting" (it waits on purpose until RestUntil:
	// -block-interval), "no chain" (it waits for a chain to mine on),
	// "off".
	State     string    `json:"state"`
	RestUntil time.Time `json:"rest_until"` // zero unless resting
	Queued    int       `json:"queued_words"`
}

// HashRateWindow is how far back the hash rate looks.
const HashRateWindow = 10 * time.Second

// Status returns a snapshot of the node, taken on its event loop.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var s Status
	err := n.do(ctx, func() { s = n.status() })
	return s, err
}

func (n *Node) status() Status {
	now := n.cfg.Now()
	s := Status{
		Name: n.cfg.Name, Addr: n.cfg.Advertise.String(), Difficulty: n.cfg.Difficulty,
		Height: n.chain.Height(), Tip: n.chain.TipHash(), Counters: n.stats, Time: now,
		Consensus: []GroupStatus{}, Peers: []PeerStatus{}, LastSync: n.lastSync,
		Events: append([]Event{}, n.events...),
	}
	if sy := n.sync; sy != nil {
		done, total := sy.Progress()
		s.Sync = &SyncStatus{Phase: sy.Phase().String(), Height: sy.Target().Height, Hash: sy.Target().Hash,
			ForkPoint: sy.ForkPoint(), Verified: done, Total: total, InFlight: sy.InFlight(), Backers: addrStrings(sy.Backers())}
	}
	for _, g := range n.lastRound {
		s.Consensus = append(s.Consensus, GroupStatus{Height: g.Height, Hash: g.Hash, Backers: addrStrings(g.Backers),
			Bad: n.excluded.Refused(g), Proven: n.round != nil && n.round.Proven(g.Key)})
	}
	for _, m := range n.members.All() {
		s.Peers = append(s.Peers, n.peerStatus(m, now))
	}
	s.Offenders = n.offenders.List(now, 50)
	s.Mining = MiningStatus{Enabled: n.cfg.Mine, Active: n.mine.miner != nil, Hashes: n.mine.hashes.Load(), HashRate: n.mine.rate.rate, Queued: len(n.mine.words)}
	switch {
	case n.mine.miner != nil:
		s.Mining.State = "mining"
	case !n.cfg.Mine:
		s.Mining.State = "off"
	case !n.mine.restAt.IsZero():
		s.Mining.State, s.Mining.RestUntil = "resting", n.mine.restAt
	default:
		s.Mining.State = "no chain"
	}
	return s
}

// peerStatus is m's chain as we know it now.
func (n *Node) peerStatus(m *Member, now time.Time) PeerStatus {
	p := PeerStatus{Name: m.Name, Addr: m.Addr.String(), LastSeen: m.LastSeen, Height: m.Height, Hash: m.Hash,
		ReportedAt: m.ReportedAt, Proven: m.Proven}
	if !m.ReportedAt.IsZero() {
		p.Source = "told"
	}
	if t, ok := n.heldTips[m.Addr]; ok && t.At.After(m.ReportedAt) && t.Height > m.Height {
		p.Height, p.Hash, p.ReportedAt, p.Source = t.Height, t.Hash, t.At, "our announce"
	}
	if p.Source == "" {
		return p
	}
	ours := n.chain.Height()
	switch {
	case p.Hash == n.chain.TipHash():
		p.Relation = "same"
	case p.Height > ours:
		p.Relation = "ahead"
	case p.Height == 0 || n.chain.HashAt(p.Height-1) == p.Hash:
		p.Relation = "earlier"
		if !p.ReportedAt.Before(n.obs.tipAt) {
			p.Relation = "behind"
		}
	default:
		p.Relation = "fork"
	}
	p.Stale = p.Relation != "same" && now.Sub(p.ReportedAt) > 2*n.cfg.Timings.ConsensusInterval
	return p
}

// hashWindow keeps a second-by-second record of the hashes tried and the
// time spent mining, to give a rate over HashRateWindow.
type hashWindow struct {
	active  time.Duration // time spent mining by miners since stopped
	samples []hashSample  // one a second, the oldest first
	rate    float64
}

// stopped accounts for a miner that ran for d and tried hashes; until
// the window has two samples, its rate is the rate shown.
func (w *hashWindow) stopped(d time.Duration, hashes uint64) {
	w.active += d
	if len(w.samples) < 2 && d > 0 && hashes > 0 {
		w.rate = float64(hashes) / d.Seconds()
	}
}

type hashSample struct {
	at     time.Time
	hashes uint64
	active time.Duration
}

// sampleHashRate updates the miner's hash rate, at most once a second.
func (n *Node) sampleHashRate(now time.Time) {
	w := &n.mine.rate
	if k := len(w.samples); k > 0 && now.Sub(w.samples[k-1].at) < time.Second {
		return
	}
	active := w.active
	if n.mine.miner != nil {
		active += now.Sub(n.mine.miner.started)
	}
	cur := hashSample{at: now, hashes: n.mine.hashes.Load(), active: active}
	for len(w.samples) > 1 && now.Sub(w.samples[1].at) >= HashRateWindow {
		w.samples = w.samples[1:]
	}
	if len(w.samples) > 0 {
		old := w.samples[0]
		if dt := cur.active - old.active; dt > 0 && cur.hashes > old.hashes {
			w.rate = float64(cur.hashes-old.hashes) / dt.Seconds()
		}
	}
	w.samples = append(w.samples, cur)
}

// addrStrings returns the addresses as strings, for JSON.
func addrStrings(addrs []netip.AddrPort) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Blocks returns up to limit blocks from height from upwards (copies).
func (n *Node) Blocks(ctx context.Context, from, limit int) ([]chain.Block, error) {
	var out []chain.Block
	err := n.do(ctx, func() {
		for h := max(from, 0); h < n.chain.Height() && len(out) < limit; h++ {
			b, _ := n.chain.Block(h)
			out = append(out, *b.Clone())
		}
	})
	return out, err
}

// Height returns our chain's height (number of blocks).
func (n *Node) Height(ctx context.Context) (int, error) {
	var h int
	err := n.do(ctx, func() { h = n.chain.Height() })
	return h, err
}

// Counters returns the node's counters.
func (n *Node) Counters(ctx context.Context) (Counters, error) {
	var c Counters
	err := n.do(ctx, func() { c = n.stats })
	return c, err
}

// Addr returns the address the node advertises.
func (n *Node) Addr() string { return n.cfg.Advertise.String() }

// Port returns the UDP port the node advertises.
func (n *Node) Port() int { return int(n.cfg.Advertise.Port()) }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }
