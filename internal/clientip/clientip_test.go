package clientip

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func mustNew(t *testing.T, cidrs ...string) *Resolver {
	t.Helper()
	r, err := New(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":          "10.0.0.0/8",
		"10.1.2.3/8":          "10.0.0.0/8",
		" 10.0.0.7 ":          "10.0.0.7/32",
		"::1":                 "::1/128",
		"fd00::/8":            "fd00::/8",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "nginx", "10.0.0.0/33", "0.0.0.0/0", "::/0", "fe80::1%eth0", "10.0.0.1:80"} {
		if p, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %v, want an error", in, p)
		}
	}
}

func TestResolve(t *testing.T) {
	proxies := mustNew(t, "10.0.0.0/8", "fd00::/8")
	cases := []struct {
		name   string
		r      *Resolver
		peer   string
		xff    []string
		realIP string
		want   string
	}{
		{"nobody trusted: header ignored", mustNew(t), "203.0.113.9:5000", []string{"1.2.3.4"}, "5.6.7.8", "203.0.113.9"},
		{"nil resolver", nil, "203.0.113.9:5000", []string{"1.2.3.4"}, "", "203.0.113.9"},
		{"untrusted peer: forged header ignored", proxies, "203.0.113.9:5000", []string{"1.2.3.4, 10.0.0.5"}, "", "203.0.113.9"},
		{"trusted peer: right-most untrusted", proxies, "10.0.0.1:5000", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "", "198.51.100.7"},
		{"several header lines", proxies, "10.0.0.1:5000", []string{"6.6.6.6", "198.51.100.7", "10.0.0.5"}, "", "198.51.100.7"},
		{"all trusted: left-most", proxies, "10.0.0.1:5000", []string{"10.9.9.9, 10.0.0.5"}, "", "10.9.9.9"},
		{"garbage in the trusted part: peer", proxies, "10.0.0.1:5000", []string{"198.51.100.7, junk, 10.0.0.5"}, "", "10.0.0.1"},
		{"garbage left of the client: ignored", proxies, "10.0.0.1:5000", []string{"junk, 198.51.100.7"}, "", "198.51.100.7"},
		{"brackets and mapped", proxies, "[::ffff:10.0.0.1]:5000", []string{" [2001:db8::1] "}, "", "2001:db8::1"},
		{"canonical form", proxies, "10.0.0.1:5000", []string{"2001:0db8:0000::0001"}, "", "2001:db8::1"},
		{"ipv6 proxy", proxies, "[fd00::1]:443", []string{"198.51.100.7"}, "", "198.51.100.7"},
		{"x-real-ip from a proxy", proxies, "10.0.0.1:5000", nil, "198.51.100.7", "198.51.100.7"},
		{"x-real-ip junk", proxies, "10.0.0.1:5000", nil, "not an ip", "10.0.0.1"},
		{"x-real-ip from anyone else", proxies, "203.0.113.9:5000", nil, "198.51.100.7", "203.0.113.9"},
		{"xff wins over x-real-ip", proxies, "10.0.0.1:5000", []string{"198.51.100.7"}, "198.51.100.8", "198.51.100.7"},
		{"peer without port", proxies, "203.0.113.9", nil, "", "203.0.113.9"},
		{"unix socket peer", proxies, "@", []string{"198.51.100.7"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Resolve(tc.peer, tc.xff, tc.realIP); got != tc.want {
				t.Errorf("Resolve(%q, %q, %q) = %q, want %q", tc.peer, tc.xff, tc.realIP, got, tc.want)
			}
		})
	}
}

// The right-to-left walk decides as Echo's ExtractIPFromXFFHeader does when
// it trusts the same ranges and nothing else.
func TestAgreesWithEcho(t *testing.T) {
	cidrs := []string{"10.0.0.0/8", "192.0.2.0/24"}
	r := mustNew(t, cidrs...)
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, c := range cidrs {
		_, n, _ := net.ParseCIDR(c)
		opts = append(opts, echo.TrustIPRange(n))
	}
	ex := echo.ExtractIPFromXFFHeader(opts...)
	for _, xff := range []string{
		"198.51.100.7", "198.51.100.7, 10.0.0.2", "1.1.1.1, 198.51.100.7, 192.0.2.1, 10.0.0.2",
		"10.1.1.1, 10.0.0.2", "x, 198.51.100.7", "198.51.100.7, x, 10.0.0.2", "2001:db8::1, 10.0.0.2",
	} {
		for _, peer := range []string{"10.0.0.1:1", "198.51.100.99:1"} {
			req := &http.Request{RemoteAddr: peer, Header: http.Header{HeaderXForwardedFor: {xff}}}
			if got, want := r.FromRequest(req), ex(req); got != want {
				t.Errorf("peer %s, XFF %q: %q, Echo says %q", peer, xff, got, want)
			}
		}
	}
}

func TestHugeHeaderCostsNothing(t *testing.T) {
	huge := strings.Repeat("1.2.3.4, ", 1<<20/9)
	untrusted := &http.Request{RemoteAddr: "203.0.113.9:1", Header: http.Header{HeaderXForwardedFor: {huge}}}
	proxied := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{HeaderXForwardedFor: {huge + "198.51.100.7"}}}
	r := mustNew(t, "10.0.0.0/8")
	if got := r.FromRequest(untrusted); got != "203.0.113.9" {
		t.Fatalf("untrusted: %q", got)
	}
	if got := r.FromRequest(proxied); got != "198.51.100.7" {
		t.Fatalf("proxied: %q", got)
	}
	if a := testing.AllocsPerRun(20, func() { r.FromRequest(untrusted) }); a > 1 {
		t.Errorf("an untrusted peer's 1 MB header costs %g allocations, want at most 1 (the result)", a)
	}
	// A trusted proxy's header of a 1 MB chain of junk: the answer is the
	// peer, found without copying the header.
	junk := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{HeaderXForwardedFor: {strings.Repeat("a", 1<<20)}}}
	if got := r.FromRequest(junk); got != "10.0.0.1" {
		t.Fatalf("junk: %q", got)
	}
	if a := testing.AllocsPerRun(20, func() { r.FromRequest(junk) }); a > 1 {
		t.Errorf("a 1 MB junk header costs %g allocations", a)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4": "1.2.3.4", "::ffff:1.2.3.4": "1.2.3.4", "[2001:DB8::1]": "2001:db8::1",
		"fe80::1%eth0": "fe80::1", "": "", "junk": "", strings.Repeat("1", 1<<20): "",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%.20q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveUntrustedPeerPrintsCanonically(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for peer, want := range map[string]string{
		"192.0.2.7:5678":            "192.0.2.7",
		"[::1]:5678":                "::1",
		"[2001:DB8::0001]:1":        "2001:db8::1",
		"[fe80::1%eth0]:1":          "fe80::1",
		"[::ffff:192.0.2.7]:1":      "192.0.2.7",
		"192.0.2.7":                 "192.0.2.7",
		"::1":                       "::1",
		"[2001:db8:0:0:0:0:0:1]:80": "2001:db8::1",
	} {
		if got := r.Resolve(peer, nil, ""); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", peer, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Resolve("192.0.2.7:5678", nil, "") }); n != 0 {
		t.Errorf("an IPv4 peer's address allocates %v times, want none", n)
	}
}

// An IPv6 client is its /64 network; an IPv4 one, or an IPv4 address
// written as IPv6, is itself; what is not an address is left as it is.
func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.10":                  "192.0.2.10",
		"2001:db8:1:2::1":             "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ff:1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":             "2001:db8:1:3::/64",
		"::1":                         "::/64",
		"::ffff:192.0.2.10":           "::ffff:192.0.2.10",
		"fe80::1%eth0":                "fe80::/64",
		"":                            "",
		"not:an:address":              "not:an:address",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Key("192.0.2.10") }); n != 0 {
		t.Errorf("an IPv4 key allocates %v times", n)
	}
}
