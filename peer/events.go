package peer

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"blockpeer/chain"
	"blockpeer/consensus"
)

// Event kinds: what a node tells people about (the lab's console, the
// network page's feed). They are words for people and tools, not protocol.
const (
	EventJoined      = "joined"       // the node started
	EventStopped     = "stopped"      // the node stopped
	EventMined       = "mined"        // our miner found a block
	EventTip         = "tip"          // our chain's top block changed (a block added, a chain adopted)
	EventSync        = "sync"         // a sync ended: a chain adopted
	EventRound       = "round"        // a consensus round ended: the chains reported
	EventPeerFound   = "peer-found"   // a new member
	EventPeerDropped = "peer-dropped" // a member silent too long, removed
	EventBan         = "ban"          // a peer banned
	EventWord        = "word"         // a NEW_WORD queued for mining
)

// eventRing bounds how many events a node keeps for its status.
const eventRing = 64

// Event is one thing that happened on a node, for people. Blocks and Top
// are the node's chain after it (Top = Blocks-1, the top block's index).
type Event struct {
	Seq    uint64    `json:"seq"` // per node, from 1
	Time   time.Time `json:"time"`
	Node   string    `json:"node"`
	Kind   string    `json:"kind"`
	Blocks int       `json:"blocks"`
	Hash   string    `json:"hash,omitempty"`  // the block or chain concerned (mined, tip, sync, round: the tallest)
	Prev   string    `json:"prev,omitempty"`  // tip, mined: the hash of the block below it
	Index  int       `json:"index,omitempty"` // mined, tip: the block's index
	By     string    `json:"by,omitempty"`    // mined, tip: who mined the block
	Peer   string    `json:"peer,omitempty"`  // peer-found, peer-dropped, ban: its address
	Words  []string  `json:"words,omitempty"` // mined, tip, word
	Text   string    `json:"text"`            // one line for people
}

// emit records e in the node's ring and hands it to Config.OnEvent. It
// runs on the event loop.
func (n *Node) emit(e Event) {
	n.eventSeq++
	e.Seq, e.Node = n.eventSeq, n.cfg.Name
	if e.Time.IsZero() {
		e.Time = n.cfg.Now()
	}
	if len(n.events) >= eventRing {
		copy(n.events, n.events[1:])
		n.events = n.events[:eventRing-1]
	}
	n.events = append(n.events, e)
	if n.cfg.OnEvent != nil {
		n.cfg.OnEvent(e)
	}
}

// Events returns the events the node kept with a sequence number above
// since (at most the last 64), oldest first.
func (n *Node) Events(ctx context.Context, since uint64) ([]Event, error) {
	var out []Event
	err := n.do(ctx, func() {
		for _, e := range n.events {
			if e.Seq > since {
				out = append(out, e)
			}
		}
	})
	return out, err
}

// noteBan records that addr was banned, and why, as an event; offend
// calls it (a ban it did not report is found by observe, with its score
// for a why).
func (n *Node) noteBan(addr netip.AddrPort, why string, now time.Time) {
	if n.bansSeen == nil {
		n.bansSeen = map[string]time.Time{}
	}
	n.bansSeen[addr.String()] = now
	n.emit(Event{Time: now, Kind: EventBan, Blocks: n.chain.Height(), Peer: addr.String(), Text: "banned " + addr.String() + ": " + why})
}

// observe turns what changed since the last call into events: our tip,
// an adoption, a finished consensus round, a ban. handle and tick call it
// last, so that the code doing those things needs no event calls.
func (n *Node) observe(now time.Time) {
	o := &n.obs
	if tip := n.chain.TipHash(); tip != o.tip {
		o.tip, o.tipAt = tip, now
		h := n.chain.Height()
		e := Event{Time: now, Kind: EventTip, Blocks: h, Hash: tip, Index: h - 1}
		if b, ok := n.chain.Block(h - 1); ok {
			e.By, e.Words = b.MinedBy, b.Messages
		}
		if h > 1 {
			e.Prev = n.chain.HashAt(h - 2)
		}
		e.Text = fmt.Sprintf("now %s, top #%d %s by %s", blocksWord(h), h-1, chain.ShortHash(tip), e.By)
		if h == 0 {
			e.Text = "no chain"
		}
		n.emit(e)
	}
	if n.stats.Adopted != o.adopted {
		o.adopted = n.stats.Adopted
		if s := n.lastSync; s != nil {
			from := fmt.Sprintf("above #%d", s.ForkPoint-1)
			if s.ForkPoint == 0 {
				from = "from genesis"
			}
			n.emit(Event{Time: now, Kind: EventSync, Blocks: s.Height, Hash: n.chain.TipHash(),
				Text: fmt.Sprintf("synced: %s fetched %s in %.0f ms, now %s", plural(s.Fetched, "block"), from, s.Seconds*1000, blocksWord(s.Height))})
		}
	}
	if changed(o.round, n.lastRound) {
		o.round = n.lastRound
		var parts []string
		for _, g := range n.lastRound {
			bad := ""
			if n.excluded.Refused(g) {
				bad = " (refused: every backer lied about it)"
			}
			parts = append(parts, fmt.Sprintf("%s %s by %d%s", blocksWord(g.Height), chain.ShortHash(g.Hash), len(g.Backers), bad))
		}
		e := Event{Time: now, Kind: EventRound, Blocks: n.chain.Height(), Text: "consensus: " + strings.Join(parts, "; ")}
		if len(n.lastRound) > 0 {
			e.Hash = n.lastRound[0].Hash
		}
		n.emit(e)
	}
	if n.stats.Bans != o.bans {
		o.bans = n.stats.Bans
		if n.bansSeen == nil {
			n.bansSeen = map[string]time.Time{}
		}
		for _, off := range n.offenders.List(now, 50) {
			if off.BannedUntil.IsZero() {
				continue
			}
			if at, ok := n.bansSeen[off.Addr]; ok && now.Sub(at) < n.cfg.Limits.BanDuration {
				continue
			}
			n.bansSeen[off.Addr] = now
			n.emit(Event{Time: now, Kind: EventBan, Blocks: n.chain.Height(), Peer: off.Addr,
				Text: fmt.Sprintf("banned %s: offence score %.1f", off.Addr, off.Score)})
		}
		for a, at := range n.bansSeen { // bounded: forget bans that ended
			if now.Sub(at) >= n.cfg.Limits.BanDuration {
				delete(n.bansSeen, a)
			}
		}
	}
}

// observed is what observe saw last.
type observed struct {
	tip     string
	tipAt   time.Time // when our tip last changed
	adopted int
	bans    int
	round   []consensus.Group
}

// changed reports whether the last round's groups are another round's.
func changed(old, cur []consensus.Group) bool {
	if len(old) != len(cur) {
		return true
	}
	return len(cur) > 0 && &old[0] != &cur[0]
}

// blocksWord says how many blocks a chain has, and its top: "98 blocks,
// top #97", words that cannot be taken for one another.
func blocksWord(blocks int) string {
	switch blocks {
	case 0:
		return "no blocks"
	case 1:
		return "1 block, top #0"
	}
	return fmt.Sprintf("%d blocks, top #%d", blocks, blocks-1)
}

// plural is "1 block", "2 blocks".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
