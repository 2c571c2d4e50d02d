package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// peersForm is the form of -peers, for messages.
const peersForm = "want HOST:PORT[,HOST:PORT...], e.g. -peers 127.0.0.1:9100,10.0.0.5:8999"

// parsePeers checks a -peers list: HOST:PORT entries separated by commas,
// each with a host and a port in 1..65535. The error names the first bad
// entry and the expected form.
func parsePeers(s string) ([]string, error) {
	var out []string
	for _, entry := range strings.Split(s, ",") {
		hp := strings.TrimSpace(entry)
		if hp == "" {
			continue
		}
		if strings.ContainsAny(hp, " \t") {
			return nil, fmt.Errorf("-peers: %q is not one HOST:PORT (separate peers with commas): %s", hp, peersForm)
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return nil, fmt.Errorf("-peers: %q has no port: %s", hp, peersForm)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("-peers: %q: port %q is not in 1..65535: %s", hp, port, peersForm)
		}
		out = append(out, hp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-peers %q names no peer: %s", s, peersForm)
	}
	return out, nil
}

// resolvePeers resolves the peers the user gave, in parallel and within a
// few seconds; one that does not resolve is an error naming it.
func resolvePeers(ctx context.Context, list []string) ([]netip.AddrPort, error) {
	addrs, errs := resolveAll(ctx, list)
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("-peers: %q: %w", list[i], err)
		}
	}
	return distinct(addrs), nil
}

// resolveWellKnownPeers resolves the course's well-known peers: one that
// does not resolve is a warning, and none a hint that we are off campus.
func resolveWellKnownPeers(ctx context.Context, list []string, log zerolog.Logger) []netip.AddrPort {
	addrs, errs := resolveAll(ctx, list)
	for i, err := range errs {
		if err != nil {
			log.Warn().Err(err).Str("peer", list[i]).Msg("well-known peer skipped")
		}
	}
	seeds := distinct(addrs)
	if len(seeds) == 0 {
		log.Warn().Strs("peers", list).Msg("no peer to join: none of the course's well-known peers resolved. Off campus? Try 'go run . lab', or -peers host:port. Waiting for peers to contact us.")
	}
	return seeds
}

// resolveAll resolves host:port strings in parallel, within 3 seconds.
func resolveAll(ctx context.Context, list []string) ([]netip.AddrPort, []error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs := make([]netip.AddrPort, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, hp := range list {
		wg.Go(func() { addrs[i], errs[i] = resolvePeer(ctx, hp) })
	}
	wg.Wait()
	return addrs, errs
}

// distinct returns the valid addresses of addrs, each once, in order.
func distinct(addrs []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range addrs {
		if a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func resolvePeer(ctx context.Context, hostPort string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddrPort(hostPort); err == nil {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), nil
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("not host:port: %w", err)
	}
	pa, err := netip.ParseAddrPort("0.0.0.0:" + port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), pa.Port()), nil
}

func allLoopback(addrs []netip.AddrPort) bool {
	for _, a := range addrs {
		if !a.Addr().IsLoopback() {
			return false
		}
	}
	return len(addrs) > 0
}
