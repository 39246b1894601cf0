package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyCheck(t *testing.T) {
	strict, loop := Policy{}, Policy{AllowLoopback: true}
	for _, tc := range []struct {
		addr          string
		strict, loopb bool // allowed?
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"127.9.9.9", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"::ffff:192.168.1.1", false, false},
		{"169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fd00::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"100.64.0.1", false, false},
		{"198.18.0.1", false, false},
		{"255.255.255.255", false, false},
		{"64:ff9b::7f00:1", false, false},
		{"2002:7f00:1::", false, false},
		{"::127.0.0.1", false, false}, // IPv4-compatible: never a receiver
		{"::10.0.0.1", false, false},
		{"::8.8.8.8", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := strict.Check(a) == nil; got != tc.strict {
			t.Errorf("strict %s: allowed=%v, want %v", tc.addr, got, tc.strict)
		}
		if got := loop.Check(a) == nil; got != tc.loopb {
			t.Errorf("loopback allowed %s: allowed=%v, want %v", tc.addr, got, tc.loopb)
		}
	}
}

func TestCheckURL(t *testing.T) {
	pro := New(Options{RequireHTTPS: true, ConnectTimeout: time.Second})
	dev := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second})
	for _, tc := range []struct {
		url      string
		pro, dev bool
	}{
		{"https://hooks.example.com/mgv", true, true},
		{"http://hooks.example.com/mgv", false, false},
		{"http://127.0.0.1:9000/hook", false, true},
		{"http://localhost:9000/hook", false, true},
		{"http://[::1]:9000/hook", false, true},
		{"https://127.0.0.1/hook", false, true},
		{"https://10.0.0.1/hook", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[fd00::1]/", false, false},
		{"https://user:pw@hooks.example.com/", false, false},
		{"ftp://hooks.example.com/", false, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"https://hooks.example.com/#frag", false, false},
		{"https://hooks.example.com:8443/", true, true},
		{"https://hooks.example.com:65535/", true, true},
		{"https://hooks.example.com:99999/", false, false},
		{"https://hooks.example.com:0/", false, false},
		{"http://127.0.0.1:70000/hook", false, false},
	} {
		if got := pro.CheckURL(tc.url) == nil; got != tc.pro {
			t.Errorf("pro %s: ok=%v, want %v (%v)", tc.url, got, tc.pro, pro.CheckURL(tc.url))
		}
		if got := dev.CheckURL(tc.url) == nil; got != tc.dev {
			t.Errorf("dev %s: ok=%v, want %v (%v)", tc.url, got, tc.dev, dev.CheckURL(tc.url))
		}
	}
}

// fakeLookup maps names to addresses as a hostile DNS zone would.
func fakeLookup(zone map[string]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		if a, ok := zone[host]; ok {
			return []netip.Addr{netip.MustParseAddr(a)}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// A name is checked on the address it resolves to, when connecting: a
// public-looking name that resolves to loopback, private or link-local is
// refused without any connection reaching the listener.
func TestDialerRefusesNamesResolvingInside(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	zone := map[string]string{
		"loop.hooks.test":   "127.0.0.1",
		"mapped.hooks.test": "::ffff:127.0.0.1",
		"meta.hooks.test":   "169.254.169.254",
		"lan.hooks.test":    "10.0.0.7",
		"ula.hooks.test":    "fd12::1",
	}
	c := New(Options{ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second, Lookup: fakeLookup(zone)})
	for name := range zone {
		// The client itself would refuse plain http; dial directly to
		// show the connect-time check alone refuses it.
		_, err := c.dial(context.Background(), "tcp", net.JoinHostPort(name, port))
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: err = %v, want ErrForbiddenAddress", name, err)
		}
		_, err = c.Post(context.Background(), Request{URL: "https://" + net.JoinHostPort(name, port) + "/"})
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("post %s: err = %v, want ErrForbiddenAddress", name, err)
		}
		// The partner reads the error: it names the host, not the
		// internal address the host resolved to.
		if ip := netip.MustParseAddr(zone[name]).Unmap().String(); err != nil && (strings.Contains(err.Error(), ip) || !strings.Contains(err.Error(), name)) {
			t.Errorf("post %s: err = %v, want the name and not the address %s", name, err, ip)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the listener was reached %d times", n)
	}
	// With loopback allowed, the same name is dialled.
	c = New(Options{ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second,
		Policy: Policy{AllowLoopback: true}, Lookup: fakeLookup(zone)})
	conn, err := c.dial(context.Background(), "tcp", net.JoinHostPort("loop.hooks.test", port))
	if err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	_ = conn.Close()
	if _, err := c.dial(context.Background(), "tcp", net.JoinHostPort("lan.hooks.test", port)); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("private with loopback allowed: err = %v", err)
	}
}

// A name that does not resolve fails without naming the resolver asked
// (an internal address).
func TestPostDNSErrorNamesNoResolver(t *testing.T) {
	c := New(Options{ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second,
		Lookup: func(context.Context, string) ([]netip.Addr, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "gone.hooks.test", Server: "10.255.255.53:53", IsNotFound: true}
		}})
	_, err := c.Post(context.Background(), Request{URL: "https://gone.hooks.test/"})
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound || strings.Contains(err.Error(), "10.255.255.53") || !strings.Contains(err.Error(), "gone.hooks.test") {
		t.Fatalf("err = %v, want a DNS error naming the host and not the resolver", err)
	}
}

func TestPostRedirectIsNotFollowed(t *testing.T) {
	var target atomic.Int64
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { target.Add(1) }))
	defer dst.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, dst.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer src.Close()
	c := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second})
	resp, err := c.Post(context.Background(), Request{URL: src.URL, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want 307 returned as is", resp.Status)
	}
	if target.Load() != 0 {
		t.Fatal("the redirect's target was contacted")
	}
}

func TestPostTimeouts(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
	}))
	defer slow.Close()
	defer close(release)
	c := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second, HeaderTimeout: 200 * time.Millisecond, TotalTimeout: 5 * time.Second})
	start := time.Now()
	_, err := c.Post(context.Background(), Request{URL: slow.URL, Body: []byte(`{}`)})
	if err == nil {
		t.Fatal("a receiver that never answers was accepted")
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("header timeout of 200ms took %s", took)
	}
	if strings.Contains(err.Error(), slow.URL) {
		t.Fatalf("error repeats the URL: %v", err)
	}
}

// A receiver that answers at once and then sends its body slowly holds a
// delivery only for maxResponseWait: the status is what counts.
func TestPostDoesNotWaitForASlowBody(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		for range 30 {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-release:
				return
			case <-time.After(time.Second):
			}
		}
	}))
	defer slow.Close()
	defer close(release)
	c := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 30 * time.Second})
	start := time.Now()
	resp, err := c.Post(context.Background(), Request{URL: slow.URL, Body: []byte(`{}`)})
	took := time.Since(start)
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("slow body: %+v %v; want 200", resp, err)
	}
	if took > maxResponseWait+2*time.Second {
		t.Fatalf("a slow body held the delivery %s, want about %s", took, maxResponseWait)
	}
}

func TestPostHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(strings.Repeat("x", 10_000)))
	}))
	defer srv.Close()
	c := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second})
	resp, err := c.Post(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`), Headers: map[string]string{"X-Mgv-Event-Id": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.Status)
	}
	if got.Get("X-Mgv-Event-Id") != "7" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got)
	}
}

// A receiver answering with megabytes of headers is refused after
// maxResponseHeaderBytes, over HTTP/2 (whose own default is 10 MiB) as over
// HTTP/1.1, so attempts in flight at once never hold more than that each.
func TestPostRefusesHugeResponseHeaders(t *testing.T) {
	huge := strings.Repeat("h", 4096)
	for _, h2 := range []bool{true, false} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			for i := range 512 { // 2 MiB
				w.Header().Set("X-Pad-"+strconv.Itoa(i), huge)
			}
			w.WriteHeader(http.StatusOK)
		}))
		srv.EnableHTTP2 = h2
		srv.StartTLS()
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c := New(Options{Policy: Policy{AllowLoopback: true}, ConnectTimeout: time.Second, HeaderTimeout: 5 * time.Second, TotalTimeout: 10 * time.Second, RootCAs: pool})
		resp, err := c.Post(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`)})
		srv.Close()
		if err == nil {
			t.Errorf("HTTP/2 %v: 2 MiB of headers answered %d, want an error", h2, resp.Status)
		}
	}
}

// Retry-After comes as delta-seconds or an HTTP-date (in any of the three
// forms HTTP allows); a sign, a fraction, garbage or a date already past is
// not a wait.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"99999999999999999999999", maxRetryAfter, true},
		{"Fri, 04 Dec 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Friday, 04-Dec-26 10:01:00 GMT", time.Minute, true},
		{"Fri Dec  4 10:00:05 2026", 5 * time.Second, true},
		{"Fri, 04 Dec 2026 09:59:59 GMT", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// The answer's Retry-After reaches the caller with its status.
func TestPostReadsRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := New(Options{ConnectTimeout: time.Second, HeaderTimeout: time.Second, TotalTimeout: 2 * time.Second, Policy: Policy{AllowLoopback: true}})
	res, err := c.Post(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`)})
	if err != nil || res.Status != http.StatusTooManyRequests || !res.HasRetryAfter || res.RetryAfter != 7*time.Second {
		t.Fatalf("Post = %+v, %v; want 429 asking for 7s", res, err)
	}
}
