package peer

import (
	"fmt"
	"net"
	"net/netip"
)

// ChooseAddrs returns the address to advertise and the one to bind. The
// default host is the local address of the route to the first seed (a UDP
// "connect" sends nothing), else the first non-loopback interface address.
func ChooseAddrs(host string, port int, seeds []netip.AddrPort) (advertise netip.AddrPort, bind string, err error) {
	var ip netip.Addr
	if host != "" {
		if host == "localhost" {
			host = "127.0.0.1"
		}
		if ip, err = netip.ParseAddr(host); err != nil {
			return advertise, "", fmt.Errorf("-host %q is not an IP address", host)
		}
	} else {
		ip = outboundAddr(seeds)
	}
	advertise = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	bind = fmt.Sprintf(":%d", port)
	if ip.IsLoopback() {
		bind = netip.AddrPortFrom(ip, uint16(port)).String()
	}
	return advertise, bind, nil
}

func outboundAddr(seeds []netip.AddrPort) netip.Addr {
	for _, s := range seeds {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s))
		if err != nil {
			continue
		}
		a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		c.Close()
		return a
	}
	if ifaddrs, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range ifaddrs {
			if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
				return p.Addr()
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}
