package bench

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"blockpeer/protocol"
)

// busyWindow is each busy client's requests in flight: what a syncing
// blockpeer keeps at most from one backer.
const busyWindow = 64

// probeEvery is how often the STATS prober asks; probeWait is how long it
// waits for a reply before it counts the probe as lost.
const (
	probeEvery = 2 * time.Millisecond
	probeWait  = time.Second
)

// busyRows: while Clients clients each fetch the whole test chain from one
// node (pipelined, 64 in flight each, from their own addresses, with the
// node's default reply rate), a prober beside them sends a STATS every
// 2 ms and times the STATS_REPLY; its p99 stands beside the same prober's
// p99 against the same node idle, measured just before.
func busyRows(bs *blockSet, o Options) ([]Row, error) {
	n, err := startNode(nodeSpec{name: "busy", blocks: bs.blocks, timings: o.Timings})
	if err != nil {
		return nil, err
	}
	defer n.stop()
	pr, err := newProber(n.addr)
	if err != nil {
		return nil, err
	}
	defer pr.conn.Close()
	idle, _, err := pr.run(func() bool { return true }, 500)
	if err != nil {
		return nil, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		finished = make(chan struct{})
	)
	start := time.Now()
	for range o.Clients {
		wg.Go(func() {
			if _, err := bareFetch(n.addr, bs.requests, busyWindow, 2*time.Minute); err != nil {
				mu.Lock()
				firstErr = cmpOr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(finished) }()
	busy, lost, err := pr.run(func() bool {
		select {
		case <-finished:
			return true
		default:
			return false
		}
	}, 0)
	<-finished
	took := time.Since(start)
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return nil, err
	}
	if len(busy) == 0 {
		return nil, errors.New("no STATS probe while the clients fetched")
	}
	replies := o.Clients * len(bs.requests)
	p99 := percentile(busy, 0.99)
	return []Row{{Name: fmt.Sprintf("STATS reply p99, %d clients syncing", o.Clients), Value: p99, Unit: "s",
		Limit: percentile(idle, 0.99), LimitName: "the same node idle", LowerIsBetter: true,
		Target: "<= 20 ms", Met: met(p99 <= 0.020),
		Note: fmt.Sprintf("p50 %s (idle %s); %d probes, %d lost; %d clients x %s blocks, %d in flight each, in %s: %s replies/s",
			FormatValue(percentile(busy, 0.5), "s"), FormatValue(percentile(idle, 0.5), "s"), len(busy), lost,
			o.Clients, thousands(int64(len(bs.requests))), busyWindow, FormatValue(took.Seconds(), "s"),
			thousands(int64(float64(replies)/took.Seconds())))}}, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// prober sends STATS from its own socket and times the replies.
type prober struct {
	conn *net.UDPConn
	to   netip.AddrPort
	req  []byte
	buf  []byte
}

func newProber(to netip.AddrPort) (*prober, error) {
	conn, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	req, err := protocol.Encode(protocol.Stats{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &prober{conn: conn, to: to, req: req, buf: make([]byte, 65536)}, nil
}

// run probes every probeEvery until done reports true (checked before each
// probe) and at least min probes are made; it returns each answered
// probe's round trip in seconds, and the probes that got no reply within
// probeWait (counted in the times as probeWait, so they weigh in the
// percentiles).
func (p *prober) run(done func() bool, minProbes int) (times []float64, lost int, err error) {
	next := time.Now()
	for len(times) < minProbes || !done() {
		time.Sleep(time.Until(next))
		next = time.Now().Add(probeEvery)
		rtt, ok, err := p.probe()
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			lost++
		}
		times = append(times, rtt.Seconds())
	}
	return times, lost, nil
}

// probe sends one STATS and waits for a STATS_REPLY; false: none within
// probeWait. (A reply to an earlier probe counted lost, arriving more than
// probeWait late, would count as this one's: rare enough not to matter.)
func (p *prober) probe() (time.Duration, bool, error) {
	sent := time.Now()
	if _, err := p.conn.WriteToUDPAddrPort(p.req, p.to); err != nil {
		return 0, false, fmt.Errorf("prober: %w", err)
	}
	p.conn.SetReadDeadline(sent.Add(probeWait))
	for {
		k, _, err := p.conn.ReadFromUDPAddrPort(p.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return probeWait, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("prober: %w", err)
		}
		if m, err := protocol.Parse(p.buf[:k]); err == nil {
			if _, ok := m.(protocol.StatsReply); ok {
				return time.Since(sent), true, nil
			}
		}
	}
}

// percentile returns the q-quantile of xs (nearest rank), NaN when empty.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
