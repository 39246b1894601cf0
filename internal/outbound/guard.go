// Package outbound is the HTTP client that calls partners' receivers
// (webhooks): bounded in time, never following redirects, and, unless the
// configuration allows loopback receivers, never connecting to an address
// that is not public. The address is checked when the socket connects, on
// the address actually dialled, so a DNS name that resolves (or re-resolves)
// to an internal address is refused as well.
package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is the error of a connection refused by the guard.
var ErrForbiddenAddress = errors.New("address not allowed for webhook receivers")

// nonPublic are the IANA special-purpose ranges (RFC 6890 and successors)
// that no partner's receiver may live in, beyond what netip's own
// predicates (loopback, private, link-local, multicast, unspecified) say.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),      // documentation
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),   // documentation
	netip.MustParsePrefix("203.0.113.0/24"),    // documentation
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64
	netip.MustParsePrefix("100::/64"),          // discard-only
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments, Teredo included
	netip.MustParsePrefix("2001:db8::/32"),     // documentation
	netip.MustParsePrefix("2002::/16"),         // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("fc00::/7"),          // unique local
	netip.MustParsePrefix("fec0::/10"),         // site-local (deprecated)
	netip.MustParsePrefix("::/96"),             // IPv4-compatible (deprecated): ::127.0.0.1 and the like
	netip.MustParsePrefix("::ffff:0:0:0/96"),   // SIIT-translated
	netip.MustParsePrefix("ff00::/8"),          // multicast
	netip.MustParsePrefix("3fff::/20"),         // documentation
	netip.MustParsePrefix("5f00::/16"),         // segment routing SIDs
	netip.MustParsePrefix("2620:4f:8000::/48"), // AS112 (DNS sink)
	netip.MustParsePrefix("2001:4:112::/48"),   // AS112-v6
	netip.MustParsePrefix("192.31.196.0/24"),   // AS112-v4
	netip.MustParsePrefix("192.52.193.0/24"),   // AMT
	netip.MustParsePrefix("192.175.48.0/24"),   // direct delegation AS112
	netip.MustParsePrefix("192.88.99.0/24"),    // 6to4 relay anycast (deprecated)
}

// Policy decides which addresses a receiver may have.
type Policy struct {
	// AllowLoopback lets receivers on 127.0.0.0/8 and ::1 through
	// (development and tests only; pro refuses the setting).
	AllowLoopback bool
}

// Check says why addr must not be connected to, or nil.
func (p Policy) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	case addr.IsLoopback():
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback address", ErrForbiddenAddress, addr)
	case addr.IsUnspecified():
		return fmt.Errorf("%w: %s is unspecified", ErrForbiddenAddress, addr)
	case addr.IsPrivate():
		return fmt.Errorf("%w: %s is a private address", ErrForbiddenAddress, addr)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is a link-local address", ErrForbiddenAddress, addr)
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrForbiddenAddress, addr)
	}
	for _, n := range nonPublic {
		if n.Contains(addr) {
			return fmt.Errorf("%w: %s is in the special-purpose range %s", ErrForbiddenAddress, addr, n)
		}
	}
	return nil
}

// control is the net.Dialer Control hook: it runs after the name was
// resolved and before connect(2), on the address about to be dialled.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrForbiddenAddress, address, err)
	}
	return p.Check(ap.Addr())
}
