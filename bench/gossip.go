package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"blockpeer/chain"
	"blockpeer/peer"
)

// gossipRows runs o.Nodes nodes on loopback in this process, all joined
// through the first, which mines a block every few seconds; once every
// node knows every other, it times a new node's GOSSIP reaching all, an
// ANNOUNCEd block reaching all, counts the datagrams sent at steady state
// and the heap per node.
func gossipRows(ctx context.Context, o Options) ([]Row, error) {
	t := o.GossipTimings
	interval := max(time.Second, t.GossipInterval/2) // between the miner's blocks
	start := chain.Extend(nil, 3, Difficulty, "gossip", 1_700_000_000)

	heapBefore := heapInUse()
	nodes, err := startGossipNodes(o.Nodes, start, t, interval)
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	seeds := []netip.AddrPort{nodes[0].addr}
	began := time.Now()
	bound := 3*t.GossipInterval + 2*time.Minute
	// Polled once a second: a Status of a node lists all its peers, and
	// polling 100 of them often would load the nodes being measured.
	if err := waitAll(ctx, nodes, bound, time.Second, func(n *runningNode) (bool, error) {
		s, err := status(n.Node)
		return len(s.Peers) >= len(nodes)-1, err
	}); err != nil {
		return nil, fmt.Errorf("every node knowing every other: %w", err)
	}
	converged := time.Since(began)
	heapAfter := heapInUse()
	perNode := float64(heapAfter-heapBefore) / float64(len(nodes))

	// Steady state: datagrams sent by all nodes over o.Steady (at least
	// two gossip rounds).
	steady := max(o.Steady, 2*t.GossipInterval)
	perMin, err := sentPerMinute(ctx, nodes, steady)
	if err != nil {
		return nil, err
	}

	// A block from the miner reaching every node, o.Announces times.
	var reach []float64
	for range o.Announces {
		d, err := announceReach(ctx, nodes, interval)
		if err != nil {
			return nil, err
		}
		reach = append(reach, d.Seconds())
	}

	// A new node's GOSSIP known by every node.
	known, err := joinKnown(ctx, nodes, nodeSpec{name: "joiner", blocks: start, seeds: seeds, timings: t}, bound)
	if err != nil {
		return nil, err
	}

	name := fmt.Sprintf("%d nodes", len(nodes))
	maxReach := reach[0]
	for _, r := range reach {
		maxReach = max(maxReach, r)
	}
	return []Row{
		{Name: name + ": new node's GOSSIP known by all", Value: known.Seconds(), Unit: "s",
			Note: fmt.Sprintf("gossip every %v; all knew all %s after start", t.GossipInterval, FormatValue(converged.Seconds(), "s"))},
		{Name: name + ": ANNOUNCEd block at all", Value: median(reach), Unit: "s", Target: "<= 2 s",
			Met: met(maxReach <= 2), Note: fmt.Sprintf("median of %d blocks, slowest %s", len(reach), FormatValue(maxReach, "s"))},
		{Name: name + ": datagrams sent per node", Value: perMin, Unit: "/min",
			Note: fmt.Sprintf("steady state over %v, a block every %v, consensus every %v", steady, interval, t.ConsensusInterval)},
		{Name: name + ": heap per node", Value: perNode / (1 << 20), Unit: "MB", Target: "< 20 MB",
			Met: met(perNode < 20<<20), Note: fmt.Sprintf("process heap in use, after GC, minus the heap before the nodes (%d nodes)", len(nodes))},
	}, nil
}

// startGossipNodes starts n nodes holding start, the first a paced miner
// and the seed of the others; it returns those it started, also on error.
func startGossipNodes(n int, start []*chain.Block, t peer.Timings, interval time.Duration) ([]*runningNode, error) {
	var nodes []*runningNode
	var seeds []netip.AddrPort
	for i := range n {
		spec := nodeSpec{name: fmt.Sprintf("g%d", i), blocks: start, seeds: seeds, timings: t}
		if i == 0 {
			spec.mine = func(c *peer.Config) {
				c.Mine, c.MineThreads, c.MinBlockInterval, c.MineMessage = true, 1, interval, "gossip bench"
			}
		}
		node, err := startNode(spec)
		if err != nil {
			return nodes, err
		}
		nodes = append(nodes, node)
		if i == 0 {
			seeds = []netip.AddrPort{node.addr}
		}
	}
	return nodes, nil
}

// sentPerMinute returns the datagrams sent per node and minute over d.
func sentPerMinute(ctx context.Context, nodes []*runningNode, d time.Duration) (float64, error) {
	sent0, err := totalSent(nodes)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	sent1, err := totalSent(nodes)
	if err != nil {
		return 0, err
	}
	return float64(sent1-sent0) / float64(len(nodes)) / time.Since(t0).Minutes(), nil
}

// joinKnown starts a node of spec and returns how long until every node
// lists it as a peer (within bound).
func joinKnown(ctx context.Context, nodes []*runningNode, spec nodeSpec, bound time.Duration) (time.Duration, error) {
	joiner, err := startNode(spec)
	if err != nil {
		return 0, err
	}
	joined := time.Now()
	defer joiner.stop()
	want := joiner.addr.String()
	if err := waitAll(ctx, nodes, bound, 10*time.Millisecond, func(n *runningNode) (bool, error) {
		s, err := status(n.Node)
		for _, p := range s.Peers {
			if p.Addr == want {
				return true, err
			}
		}
		return false, err
	}); err != nil {
		return 0, fmt.Errorf("the new node known by all: %w", err)
	}
	return time.Since(joined), nil
}

// announceReach waits for the miner (nodes[0]) to reach a new height and
// returns how long after that the last node has it.
func announceReach(ctx context.Context, nodes []*runningNode, interval time.Duration) (time.Duration, error) {
	h0, err := height(nodes[0].Node)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10*interval + 10*time.Second)
	var h int
	for {
		if h, err = height(nodes[0].Node); err != nil {
			return 0, err
		}
		if h > h0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the miner made no block: %w", errTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	mined := time.Now()
	err = waitAll(ctx, nodes[1:], 30*time.Second, time.Millisecond, func(n *runningNode) (bool, error) {
		nh, err := height(n.Node)
		return nh >= h, err
	})
	return time.Since(mined), err
}

// waitAll polls cond on every node, every poll, until it holds for all
// (once a node passes it is not asked again) or bound passes.
func waitAll(ctx context.Context, nodes []*runningNode, bound, poll time.Duration, cond func(*runningNode) (bool, error)) error {
	deadline := time.Now().Add(bound)
	left := append([]*runningNode(nil), nodes...)
	for {
		var still []*runningNode
		for _, n := range left {
			ok, err := cond(n)
			if err != nil {
				return fmt.Errorf("%s: %w", n.Name(), err)
			}
			if !ok {
				still = append(still, n)
			}
		}
		left = still
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d nodes still not there after %v: %w", len(left), len(nodes), bound, errTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// callBound bounds a call into a node's event loop: generous, as 100
// nodes in one process on a busy machine may take a while to get to it.
const callBound = 30 * time.Second

func status(n *peer.Node) (peer.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callBound)
	defer cancel()
	return n.Status(ctx)
}

func totalSent(nodes []*runningNode) (int, error) {
	total := 0
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), callBound)
		c, err := n.Counters(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		total += c.Sent
	}
	if total == 0 {
		return 0, errors.New("no node sent anything")
	}
	return total, nil
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
