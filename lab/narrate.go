package lab

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"blockpeer/peer"
)

// Event is one line of the lab's story: what the console prints and the
// page's feed shows.
type Event struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // block, fork, resolved, joined, stopped, sync, round, dropped, ban, word, action
	Text string    `json:"text"`
	// Block and Nodes: a block's spread (kind block): its hash, and each
	// node that got it with how long after it was mined, in order.
	Block string        `json:"block,omitempty"`
	Nodes []NodeReached `json:"nodes,omitempty"`
}

// NodeReached is when a node got a block, after it was mined.
type NodeReached struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

// labRing bounds the lab's story.
const labRing = 200

// spreadWait is how long the narrator waits for a block to reach every
// node before it says where it got.
const spreadWait = 5 * time.Second

// narrator turns the nodes' events into the lab's story.
type narrator struct {
	out  io.Writer
	up   func() []string
	in   chan peer.Event
	mu   sync.Mutex // guards ring and seq (read by the page)
	ring []Event
	seq  uint64

	names map[string]string // address -> name, for peers that are not lab nodes (the liar)

	// owned by run
	tips    map[string]string // node -> tip hash
	blocks  []*spread         // blocks mined, being followed
	forkAt  map[int]minedAt   // index -> the first block mined at it (recent)
	fork    bool              // a fork is open
	pending []*group          // lines many nodes say alike, gathered a moment
}

// minedAt is who mined which block at an index.
type minedAt struct{ hash, by string }

// group gathers the same line from several nodes (every node's consensus
// round seeing a liar, every node banning it) into one.
type group struct {
	kind, text string
	nodes      []string
	first      time.Time
}

// gatherFor is how long alike lines are gathered.
const gatherFor = 700 * time.Millisecond

// spread follows one mined block.
type spread struct {
	hash    string
	index   int
	by      string
	words   []string
	mined   time.Time
	reached []NodeReached
}

func newNarrator(out io.Writer, up func() []string) *narrator {
	return &narrator{out: out, up: up, in: make(chan peer.Event, 4096), names: map[string]string{},
		tips: map[string]string{}, forkAt: map[int]minedAt{}}
}

// event takes a node's event; it runs on the node's loop, so it never
// blocks (an event that does not fit is lost).
func (r *narrator) event(e peer.Event) {
	select {
	case r.in <- e:
	default:
	}
}

// name gives a name to a peer address that is not a lab node's.
func (r *narrator) name(addr, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names[addr] = name
}

func (r *narrator) nameOf(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.names[addr]; ok {
		return n + " (" + addr + ")"
	}
	return addr
}

// gather adds a node's line to the group of alike lines.
func (r *narrator) gather(kind, node, text string, t time.Time) {
	for _, g := range r.pending {
		if g.kind == kind && g.text == text {
			g.nodes = append(g.nodes, node)
			return
		}
	}
	r.pending = append(r.pending, &group{kind: kind, text: text, nodes: []string{node}, first: t})
}

// flush tells the groups gathered long enough (all when force).
func (r *narrator) flush(now time.Time, force bool) {
	keep := r.pending[:0]
	for _, g := range r.pending {
		if !force && now.Sub(g.first) < gatherFor {
			keep = append(keep, g)
			continue
		}
		who := strings.Join(g.nodes, ", ")
		if up := r.up(); len(g.nodes) > 1 && len(g.nodes) >= len(up) {
			who = fmt.Sprintf("all %d nodes", len(g.nodes))
		}
		r.add(Event{Time: now, Kind: g.kind, Text: who + ": " + g.text})
	}
	r.pending = keep
}

// say tells a line of the lab's own (an action, a failure).
func (r *narrator) say(format string, args ...any) {
	r.add(Event{Time: time.Now(), Kind: "action", Text: fmt.Sprintf(format, args...)})
}

func (r *narrator) add(e Event) {
	r.mu.Lock()
	r.seq++
	e.Seq = r.seq
	if len(r.ring) >= labRing {
		r.ring = slices.Delete(r.ring, 0, 1)
	}
	r.ring = append(r.ring, e)
	r.mu.Unlock()
	if r.out != nil {
		fmt.Fprintf(r.out, "%s %s\n", e.Time.Format("15:04:05"), e.Text)
	}
}

// since returns the story after seq, oldest first.
func (r *narrator) since(seq uint64) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []Event{}
	for _, e := range r.ring {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

func (r *narrator) run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.in:
			r.handle(e)
		case now := <-t.C:
			r.check(now)
			r.flush(now, false)
		}
	}
}

func (r *narrator) handle(e peer.Event) {
	switch e.Kind {
	case peer.EventJoined:
		r.tips[e.Node] = e.Hash
		r.add(Event{Time: e.Time, Kind: "joined", Text: fmt.Sprintf("%s %s", e.Node, e.Text)})
	case peer.EventStopped:
		delete(r.tips, e.Node)
		r.add(Event{Time: e.Time, Kind: "stopped", Text: fmt.Sprintf("%s %s", e.Node, e.Text)})
	case peer.EventMined:
		r.tips[e.Node] = e.Hash
		if first, ok := r.forkAt[e.Index]; ok && first.hash != e.Hash {
			r.fork = true
			r.add(Event{Time: e.Time, Kind: "fork", Text: fmt.Sprintf("fork at #%d: %s mined %s there, %s had mined %s: two chains", e.Index, e.By, short(e.Hash), first.by, short(first.hash))})
		} else if !ok {
			r.forkAt[e.Index] = minedAt{hash: e.Hash, by: e.By}
			for k := range r.forkAt {
				if k < e.Index-50 {
					delete(r.forkAt, k)
				}
			}
		}
		sp := &spread{hash: e.Hash, index: e.Index, by: e.By, words: e.Words, mined: e.Time, reached: []NodeReached{{Name: e.Node}}}
		r.blocks = append(r.blocks, sp)
	case peer.EventTip:
		r.tips[e.Node] = e.Hash
		for _, sp := range r.blocks {
			if sp.hash == e.Hash || sp.hash == e.Prev {
				sp.reach(e.Node, e.Time)
			}
		}
		r.resolved(e.Time)
	case peer.EventSync:
		r.tips[e.Node] = e.Hash
		r.add(Event{Time: e.Time, Kind: "sync", Text: fmt.Sprintf("%s %s", e.Node, e.Text)})
		r.resolved(e.Time)
	case peer.EventRound:
		// Only rounds that saw more than one chain: a choice was made.
		if strings.Contains(e.Text, ";") || strings.Contains(e.Text, "(bad)") {
			r.gather("round", e.Node, e.Text, e.Time)
		}
	case peer.EventPeerDropped:
		r.gather("dropped", e.Node, strings.Replace(e.Text, e.Peer, r.nameOf(e.Peer), 1), e.Time)
	case peer.EventBan:
		r.gather("ban", e.Node, strings.Replace(e.Text, e.Peer, r.nameOf(e.Peer), 1), e.Time)
	case peer.EventWord:
		r.add(Event{Time: e.Time, Kind: "word", Text: fmt.Sprintf("%s: %s", e.Node, e.Text)})
	}
}

// reach records that node got the block at t.
func (sp *spread) reach(node string, t time.Time) {
	for _, n := range sp.reached {
		if n.Name == node {
			return
		}
	}
	sp.reached = append(sp.reached, NodeReached{Name: node, Ms: float64(t.Sub(sp.mined).Microseconds()) / 1000})
}

// check tells the blocks that reached every running node, or that waited
// spreadWait without.
func (r *narrator) check(now time.Time) {
	up := r.up()
	keep := r.blocks[:0]
	for _, sp := range r.blocks {
		all := true
		for _, n := range up {
			if !slices.ContainsFunc(sp.reached, func(x NodeReached) bool { return x.Name == n }) {
				all = false
			}
		}
		waited := now.Sub(sp.mined) >= spreadWait
		if !all && !waited {
			keep = append(keep, sp)
			continue
		}
		last := sp.reached[len(sp.reached)-1].Ms
		words := ""
		if len(sp.words) > 0 {
			words = fmt.Sprintf(" %q", sp.words)
		}
		text := fmt.Sprintf("block #%d %s mined by %s%s: reached all %d nodes in %s", sp.index, short(sp.hash), sp.by, words, len(sp.reached), fmtMs(last))
		if len(sp.reached) == 1 {
			text = fmt.Sprintf("block #%d %s mined by %s%s (no other node running)", sp.index, short(sp.hash), sp.by, words)
		}
		if !all {
			var missing []string
			for _, n := range up {
				if !slices.ContainsFunc(sp.reached, func(x NodeReached) bool { return x.Name == n }) {
					missing = append(missing, n)
				}
			}
			text = fmt.Sprintf("block #%d %s mined by %s%s: reached %d of %d nodes in %s (not %s)", sp.index, short(sp.hash), sp.by, words, len(sp.reached), len(up), spreadWait, strings.Join(missing, ", "))
		}
		r.add(Event{Time: now, Kind: "block", Text: text, Block: sp.hash, Nodes: sp.reached})
	}
	r.blocks = keep
}

// resolved tells a fork's end: every running node on one tip.
func (r *narrator) resolved(t time.Time) {
	if !r.fork {
		return
	}
	up := r.up()
	if len(up) == 0 {
		return
	}
	tip := r.tips[up[0]]
	for _, n := range up[1:] {
		if r.tips[n] != tip {
			return
		}
	}
	r.fork = false
	r.add(Event{Time: t, Kind: "resolved", Text: fmt.Sprintf("fork resolved: all %d nodes on %s", len(up), short(tip))})
}

func fmtMs(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
