package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"blockpeer/chain"
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

// politeQuiet is how long a busy client waits in silence before it
// resends what is missing: 20 ms, doubled for each silence in a row, up
// to a second, as a syncing blockpeer backs off (a client that resent
// every 20 ms into a saturated node would measure its own storm).
func politeQuiet(silences int) time.Duration {
	return min(20*time.Millisecond<<min(silences, 6), time.Second)
}

// busyRows: while Clients clients each fetch the whole test chain from one
// node (pipelined, 64 in flight each, from their own addresses, with the
// node's default reply rate, backing off when the node falls behind: see
// politeQuiet), a prober beside them sends a STATS every 2 ms, in turns to
// the node and to a bare echo loop that answers a stored STATS_REPLY, and
// times the replies. The echo loop's p99 under the same load is the limit:
// what the machine and the harness's own scheduling allow a server with
// nothing else to do. The node's p99 idle, measured just before, is in
// the notes.
func busyRows(bs *blockSet, o Options) ([]Row, error) {
	n, err := startNode(nodeSpec{name: "busy", blocks: bs.blocks, timings: o.Timings})
	if err != nil {
		return nil, err
	}
	defer n.stop()
	echo, err := startStatsEcho()
	if err != nil {
		return nil, err
	}
	defer echo.close()
	pr, err := newProber()
	if err != nil {
		return nil, err
	}
	defer pr.conn.Close()
	f := busyFigures{clients: o.Clients, blocks: len(bs.requests)}
	if f.idle, _, err = pr.run([]netip.AddrPort{n.addr}, func() bool { return true }, 500); err != nil {
		return nil, err
	}
	start := time.Now()
	load, err := startBusyLoad(n.addr, o, len(bs.requests))
	if err != nil {
		return nil, err
	}
	f.where = load.where
	f.busy, f.lost, err = pr.run([]netip.AddrPort{n.addr, echo.addr()}, load.finished, 0)
	loadErr := load.wait()
	f.took = time.Since(start)
	if err == nil {
		err = loadErr
	}
	if err != nil {
		return nil, err
	}
	if len(f.busy[0]) == 0 {
		return nil, errors.New("no STATS probe while the clients fetched")
	}
	return []Row{f.row()}, nil
}

// busyFigures are what the busy row measured.
type busyFigures struct {
	clients, blocks int         // the load: clients fetching blocks each
	where           string      // where the clients ran: "in this process" or "in another process"
	idle            [][]float64 // round trips (s) of the probes to the idle node
	busy            [][]float64 // round trips (s) of the probes under load: to the node, to the echo loop
	lost            []int       // probes under load lost: to the node, to the echo loop
	took            time.Duration
}

// row is the busy row of the figures.
func (f busyFigures) row() Row {
	replies := f.clients * f.blocks
	p99 := percentile(f.busy[0], 0.99)
	return Row{Name: fmt.Sprintf("STATS reply p99, %d clients syncing", f.clients), Value: p99, Unit: "s",
		Limit: percentile(f.busy[1], 0.99), LimitName: "bare STATS echo loop, same load", LowerIsBetter: true,
		Target: "<= 20 ms", Met: met(p99 <= 0.020),
		Note: fmt.Sprintf("p50 %s (echo %s; idle node p50 %s, p99 %s); %d probes each, %d and %d lost; %d clients (%s) x %s blocks, %d in flight each, in %s: %s replies/s",
			FormatValue(percentile(f.busy[0], 0.5), "s"), FormatValue(percentile(f.busy[1], 0.5), "s"),
			FormatValue(percentile(f.idle[0], 0.5), "s"), FormatValue(percentile(f.idle[0], 0.99), "s"),
			len(f.busy[0]), f.lost[0], f.lost[1],
			f.clients, f.where, thousands(int64(f.blocks)), busyWindow, FormatValue(f.took.Seconds(), "s"),
			thousands(int64(float64(replies)/f.took.Seconds())))}
}

// busyLoad is the busy row's clients at work.
type busyLoad struct {
	where string        // "in this process" or "in another process"
	done  chan struct{} // closed when the clients have finished
	err   error         // their error, once done is closed
}

// startBusyLoad starts o.Clients clients fetching heights 0 to blocks-1
// from the node at to: in another process when o.LoadProcess says how,
// else in this one (LoadClients).
func startBusyLoad(to netip.AddrPort, o Options, blocks int) (*busyLoad, error) {
	load := &busyLoad{where: "in this process", done: make(chan struct{})}
	if len(o.LoadProcess) == 0 {
		go func() {
			load.err = LoadClients(to, o.Clients, blocks)
			close(load.done)
		}()
		return load, nil
	}
	load.where = "in another process"
	cmd := exec.Command(o.LoadProcess[0], append(o.LoadProcess[1:], "-load-to", to.String(),
		"-clients", strconv.Itoa(o.Clients), "-blocks", strconv.Itoa(blocks))...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load process: %w", err)
	}
	go func() {
		if err := cmd.Wait(); err != nil {
			load.err = fmt.Errorf("load process: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		close(load.done)
	}()
	return load, nil
}

// finished reports whether the clients have finished, without waiting.
func (l *busyLoad) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// wait waits for the clients to finish and returns their error.
func (l *busyLoad) wait() error {
	<-l.done
	return l.err
}

// LoadClients is the busy row's load: clients goroutines, each on its own
// socket, fetch heights 0 to blocks-1 from the node at to, busyWindow in
// flight each, backing off as politeQuiet says. It returns the first
// error. The bench runs it in another process when Options.LoadProcess
// says how, so that the node's goroutines do not share the Go scheduler
// with the load's.
func LoadClients(to netip.AddrPort, clients, blocks int) error {
	requests := make([][]byte, blocks)
	for h := range requests {
		req, err := protocol.Encode(protocol.GetBlock{Height: h})
		if err != nil {
			return err
		}
		requests[h] = req
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range clients {
		wg.Go(func() {
			if _, err := fetchAll(to, requests, busyWindow, 2*time.Minute, politeQuiet); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// statsEcho is the limit of a STATS answer: one goroutine that reads a
// datagram and writes back a stored STATS_REPLY.
type statsEcho struct {
	conn *net.UDPConn
	done chan struct{}
}

func startStatsEcho() (*statsEcho, error) {
	conn, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	reply, err := protocol.Encode(protocol.StatsReply{Height: 1, Hash: strings.Repeat("0", chain.HashHexLen)})
	if err != nil {
		conn.Close()
		return nil, err
	}
	e := &statsEcho{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 65536)
		for {
			_, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			conn.WriteToUDPAddrPort(reply, from)
		}
	}()
	return e, nil
}

func (e *statsEcho) addr() netip.AddrPort { return localAddr(e.conn) }

func (e *statsEcho) close() {
	e.conn.Close()
	<-e.done
}

// prober sends STATS from its own socket and times the replies.
type prober struct {
	conn *net.UDPConn
	req  []byte
	buf  []byte
}

func newProber() (*prober, error) {
	conn, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	req, err := protocol.Encode(protocol.Stats{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &prober{conn: conn, req: req, buf: make([]byte, 65536)}, nil
}

// run probes every probeEvery, each target in turn, until done reports
// true (checked before each round) and at least minRounds rounds are
// made; it returns, per target, each probe's round trip in seconds and
// the probes that got no reply within probeWait (counted in the times as
// probeWait, so they weigh in the percentiles).
func (p *prober) run(targets []netip.AddrPort, done func() bool, minRounds int) (times [][]float64, lost []int, err error) {
	times, lost = make([][]float64, len(targets)), make([]int, len(targets))
	next := time.Now()
	for rounds := 0; rounds < minRounds || !done(); rounds++ {
		for i, to := range targets {
			time.Sleep(time.Until(next))
			next = time.Now().Add(probeEvery)
			rtt, ok, err := p.probe(to)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				lost[i]++
			}
			times[i] = append(times[i], rtt.Seconds())
		}
	}
	return times, lost, nil
}

// probe sends one STATS to to and waits for a STATS_REPLY from it; false:
// none within probeWait. (A reply to an earlier probe counted lost,
// arriving more than probeWait late, would count as this one's: rare
// enough not to matter.)
func (p *prober) probe(to netip.AddrPort) (time.Duration, bool, error) {
	sent := time.Now()
	if _, err := p.conn.WriteToUDPAddrPort(p.req, to); err != nil {
		return 0, false, fmt.Errorf("prober: %w", err)
	}
	p.conn.SetReadDeadline(sent.Add(probeWait))
	for {
		k, from, err := p.conn.ReadFromUDPAddrPort(p.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return probeWait, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("prober: %w", err)
		}
		if from.Port() != to.Port() {
			continue
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
