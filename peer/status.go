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

// PeerStatus is one member.
type PeerStatus struct {
	Name       string    `json:"name"`
	Addr       string    `json:"addr"`
	LastSeen   time.Time `json:"last_seen"`
	Height     int       `json:"height"` // its chain as it last told us
	Hash       string    `json:"hash"`
	ReportedAt time.Time `json:"reported_at"` // zero: never
	Proven     bool      `json:"proven"`      // heard from at its own address (see Member.Proven)
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
	Enabled  bool    `json:"enabled"`
	Active   bool    `json:"active"`
	Hashes   uint64  `json:"hashes"`
	HashRate float64 `json:"hash_rate"` // hashes per second, recent
	Queued   int     `json:"queued_words"`
}

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
		s.Peers = append(s.Peers, PeerStatus{Name: m.Name, Addr: m.Addr.String(), LastSeen: m.LastSeen, Height: m.Height,
			Hash: m.Hash, ReportedAt: m.ReportedAt, Proven: m.Proven})
	}
	s.Offenders = n.offenders.List(now, 50)
	s.Mining = MiningStatus{Enabled: n.cfg.Mine, Active: n.miner != nil, Hashes: n.hashes.Load(), HashRate: n.hashRate, Queued: len(n.words)}
	return s
}

// sampleHashRate updates the miner's hash rate, at most once a second.
func (n *Node) sampleHashRate(now time.Time) {
	dt := now.Sub(n.rateAt)
	if dt < time.Second {
		return
	}
	hashes := n.hashes.Load()
	if !n.rateAt.IsZero() {
		n.hashRate = float64(hashes-n.rateHashes) / dt.Seconds()
	}
	n.rateAt, n.rateHashes = now, hashes
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
