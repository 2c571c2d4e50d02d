package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// listenLoopback binds a UDP socket on 127.0.0.1 with the node's buffer
// sizes.
func listenLoopback() (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	return conn, nil
}

func localAddr(c *net.UDPConn) netip.AddrPort {
	a := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// requestHeight reads the height out of a GET_BLOCK datagram with a byte
// scan: the bare loop's only work besides the two system calls.
func requestHeight(data []byte) (int, bool) {
	const key = `"height":`
	for i := 0; i+len(key) <= len(data); i++ {
		if string(data[i:i+len(key)]) != key {
			continue
		}
		h, n := 0, 0
		for j := i + len(key); j < len(data) && '0' <= data[j] && data[j] <= '9'; j++ {
			h = h*10 + int(data[j]-'0')
			n++
		}
		return h, n > 0
	}
	return 0, false
}

// bareServer is the limit of a serving peer: one goroutine that reads a
// GET_BLOCK and writes back the stored GET_BLOCK_REPLY of that height, an
// echo loop with a table lookup.
type bareServer struct {
	conn *net.UDPConn
	done chan struct{}
}

func startBareServer(replies [][]byte) (*bareServer, error) {
	conn, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	s := &bareServer{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if h, ok := requestHeight(buf[:n]); ok && h < len(replies) {
				conn.WriteToUDPAddrPort(replies[h], from)
			}
		}
	}()
	return s, nil
}

func (s *bareServer) addr() netip.AddrPort { return localAddr(s.conn) }

func (s *bareServer) close() {
	s.conn.Close()
	<-s.done
}

// bareFetch is the limit of a sync: one client goroutine fetches every
// height from the server with up to window requests in flight, resending
// what is missing when nothing arrives for 20 ms. It returns the time
// from the first request to the last reply.
func bareFetch(to netip.AddrPort, requests [][]byte, window int, timeout time.Duration) (time.Duration, error) {
	return fetchAll(to, requests, window, timeout, func(int) time.Duration { return 20 * time.Millisecond })
}

// fetchAll fetches every height from the server with up to window
// requests in flight; when nothing arrives for quiet(n) (n: silences in a
// row, from 0) it resends what is missing. It returns the time from the
// first request to the last reply.
func fetchAll(to netip.AddrPort, requests [][]byte, window int, timeout time.Duration, quiet func(silences int) time.Duration) (time.Duration, error) {
	conn, err := listenLoopback()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	n := len(requests)
	got := make([]bool, n)
	buf := make([]byte, 65536)
	start := time.Now()
	next, received := 0, 0
	send := func(h int) error {
		_, err := conn.WriteToUDPAddrPort(requests[h], to)
		return err
	}
	for ; next < min(window, n); next++ {
		if err := send(next); err != nil {
			return 0, err
		}
	}
	reads, silences := 0, 0
	for received < n {
		if reads%256 == 0 {
			conn.SetReadDeadline(time.Now().Add(quiet(silences)))
		}
		reads++
		k, _, err := conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if time.Since(start) > timeout {
				return 0, fmt.Errorf("bare fetch: %d of %d replies: %w", received, n, errTimeout)
			}
			for h := range next { // resend everything sent and missing
				if !got[h] {
					if err := send(h); err != nil {
						return 0, err
					}
				}
			}
			reads = 0
			silences++
			continue
		}
		if err != nil {
			return 0, err
		}
		h, ok := replyHeight(buf[:k])
		if !ok || h >= n || got[h] {
			continue
		}
		got[h] = true
		received++
		silences = 0
		if next < n {
			if err := send(next); err != nil {
				return 0, err
			}
			next++
		}
	}
	return time.Since(start), nil
}

// replyHeight reads the height of a GET_BLOCK_REPLY (the same scan).
func replyHeight(data []byte) (int, bool) { return requestHeight(data) }

// loadClient sends GET_BLOCKs to a server for d, cycling over requests,
// with up to window in flight (a sender and a receiver goroutine), and
// returns the replies it got in that time. Requests lost for 20 ms are
// written off, so loss cannot stall it.
func loadClient(to netip.AddrPort, requests [][]byte, window int, d time.Duration) (float64, error) {
	conn, err := listenLoopback()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var (
		outstanding atomic.Int64
		replies     atomic.Int64
		stop        atomic.Bool
		notify      = make(chan struct{}, 1)
		wg          sync.WaitGroup
		sendErr     error
	)
	wg.Go(func() {
		buf := make([]byte, 65536)
		for !stop.Load() {
			conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			for range 256 {
				if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
					break
				}
				replies.Add(1)
				outstanding.Add(-1)
				select {
				case notify <- struct{}{}:
				default:
				}
			}
		}
	})
	start := time.Now()
	wait := time.NewTimer(time.Hour)
	for i := 0; time.Since(start) < d; {
		if outstanding.Load() >= int64(window) {
			wait.Reset(20 * time.Millisecond)
			select {
			case <-notify:
			case <-wait.C:
				outstanding.Store(0) // lost: write them off
			}
			continue
		}
		if _, err := conn.WriteToUDPAddrPort(requests[i%len(requests)], to); err != nil {
			sendErr = err
			break
		}
		outstanding.Add(1)
		i++
	}
	got := replies.Load()
	stop.Store(true)
	wg.Wait()
	if sendErr != nil {
		return 0, fmt.Errorf("load client: %w", sendErr)
	}
	return float64(got), nil
}
