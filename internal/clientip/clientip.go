// Package clientip decides a caller's address once for every use (rate
// limits, access log, sign-in throttling): the TCP peer, unless the peer is
// one of http.trusted_proxies, in which case X-Forwarded-For (then
// X-Real-IP) is believed the way Echo's ExtractIPFromXFFHeader and nginx's
// real_ip module read it: the right-most address that is not itself a
// trusted proxy.
//
// The forwarded header is only looked at when the peer is trusted, and it is
// walked from the right without splitting it, so a forged header of any size
// costs an untrusted caller nothing and a trusted one no allocation. The
// result is always a canonical IP (at most 45 bytes), never a slice of a
// header: freshly formatted, or the host part of the peer's own address
// when that is already canonical.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header names read from a trusted proxy (gRPC metadata uses them lower-case).
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-Ip" // canonical form of X-Real-IP
)

// Resolver decides client addresses. The zero value and nil trust nobody.
type Resolver struct {
	trusted []netip.Prefix
}

// New trusts the proxies in cidrs: CIDRs ("10.0.0.0/8") or single
// addresses ("10.0.0.7"). No entry means no proxy is trusted.
func New(cidrs []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range cidrs {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ParsePrefix reads one trusted_proxies entry: a CIDR or a single address.
// Prefixes that trust every address (0.0.0.0/0, ::/0) are refused, since
// they would let anyone choose their own address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				err = fmt.Errorf("zoned address")
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address such as 10.0.0.7", s)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: write IPv4 ranges as IPv4 CIDRs", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address, so anyone could choose their own; name the proxies' addresses", s)
	}
	return p.Masked(), nil
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil || len(r.trusted) == 0 {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve is the client address of a connection from peer (an address,
// with or without a port) that carried the X-Forwarded-For values xff (one
// per header line, in order) and the X-Real-IP value realIP. Headers count
// only when the peer is trusted. A peer that is no IP (a unix socket) is
// returned as "", never a header's value.
func (r *Resolver) Resolve(peer string, xff []string, realIP string) string {
	var direct netip.Addr
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		direct = ap.Addr().Unmap().WithZone("")
	} else if a, ok := parse(peer); ok {
		direct = a
	} else {
		return ""
	}
	if !r.Trusted(direct) {
		return canonicalHost(peer, direct)
	}
	if len(xff) > 0 {
		return r.fromXFF(direct, xff).String()
	}
	if realIP != "" {
		if a, ok := parse(realIP); ok {
			return a.String()
		}
	}
	return direct.String()
}

// canonicalHost is direct as a string: the host part of peer when that is
// already how direct prints (net/http's RemoteAddr of an IPv4 peer always
// is), so the common answer allocates nothing.
func canonicalHost(peer string, direct netip.Addr) string {
	host := peer
	if h, _, err := net.SplitHostPort(peer); err == nil {
		host = h
	}
	var buf [64]byte
	if string(direct.AppendTo(buf[:0])) == host {
		return host
	}
	return direct.String()
}

// fromXFF walks the X-Forwarded-For entries from the right: the first one
// not trusted is the client; an entry that is no IP before that makes the
// whole header unbelievable, and the peer is the client; when every entry
// is trusted, the left-most is the client. This is Echo's decision, made
// without splitting the header.
func (r *Resolver) fromXFF(direct netip.Addr, xff []string) netip.Addr {
	last := direct
	for i := len(xff) - 1; i >= 0; i-- {
		h := xff[i]
		for {
			j := strings.LastIndexByte(h, ',')
			a, ok := parse(h[j+1:])
			if !ok {
				return direct
			}
			if !r.Trusted(a) {
				return a
			}
			last = a
			if j < 0 {
				break
			}
			h = h[:j]
		}
	}
	return last
}

// parse reads one address as proxies write it: optional spaces and
// brackets around it, an IPv6 zone dropped, IPv4-mapped IPv6 unmapped.
func parse(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 64 { // longer than any address; do not even try
		return netip.Addr{}, false
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// Canonical is s as a canonical IP, or "" when s is no IP. Keys built from
// it are at most 39 bytes and never share memory with s.
func Canonical(s string) string {
	if a, ok := parse(s); ok {
		return a.String()
	}
	return ""
}

// FromRequest is the client address of an HTTP request; it has the
// signature of Echo's IPExtractor.
func (r *Resolver) FromRequest(req *http.Request) string {
	var realIP string
	if v := req.Header[HeaderXRealIP]; len(v) > 0 {
		realIP = v[0]
	}
	return r.Resolve(req.RemoteAddr, req.Header[HeaderXForwardedFor], realIP)
}

// Key is the part of a client address that names one client, for the
// budgets kept per client (anonymous rate limits, sign-in throttling,
// caller-sampled traces): an IPv4 address as it is, an IPv6 one as its /64
// network. A single host is commonly given a whole /64 and may send from
// any of its 2⁶⁴ addresses, so an IPv6 address alone would let one client
// take a fresh budget with every call.
func Key(addr string) string {
	if strings.IndexByte(addr, ':') < 0 {
		return addr // IPv4, or not an address: nothing to group
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
