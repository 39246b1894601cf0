package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/clip"
)

// Options configure a Client.
type Options struct {
	// ConnectTimeout bounds the TCP connect (and the TLS handshake);
	// HeaderTimeout the wait for the response headers once the request is
	// written; TotalTimeout the whole call, reading the body included.
	ConnectTimeout time.Duration
	HeaderTimeout  time.Duration
	TotalTimeout   time.Duration
	Policy         Policy
	// RequireHTTPS refuses plain http receivers; without it plain http is
	// still only allowed to loopback receivers.
	RequireHTTPS bool
	// Lookup resolves host names (tests map names to chosen addresses);
	// nil uses the system resolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// RootCAs, when set, are the only CAs trusted for https receivers
	// (tests); nil uses the system's.
	RootCAs *x509.CertPool
	// MaxIdlePerHost keeps this many idle connections per receiver.
	MaxIdlePerHost int
}

// Client posts to receivers.
type Client struct {
	opts   Options
	http   *http.Client
	dialer *net.Dialer
}

// maxResponseBytes of a receiver's answer are read and discarded (a short
// answer read through leaves the connection for the next delivery), for at
// most maxResponseWait after its headers; the rest is discarded unread with
// the connection. What a receiver answers is not kept: the status decides. The status decides the delivery: a receiver
// that answered 200 and then sent its body a byte a second held a shared
// delivery worker for the whole request timeout.
const (
	maxResponseBytes = 4 << 10
	maxResponseWait  = time.Second
)

// maxResponseHeaderBytes bounds a receiver's response headers. The
// transport's default is 10 MiB (HTTP/1.1 and HTTP/2 alike), which every
// attempt in flight at once (workers × in_flight of them) could be made to
// hold by receivers answering with megabytes of headers.
const maxResponseHeaderBytes = 64 << 10

// New builds a Client.
func New(opts Options) *Client {
	c := &Client{opts: opts}
	c.dialer = &net.Dialer{Timeout: opts.ConnectTimeout, Control: opts.Policy.control}
	tr := &http.Transport{
		Proxy:           nil, // a proxy would connect for us, past the guard
		DialContext:     c.dial,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
	}
	tr.TLSHandshakeTimeout = opts.ConnectTimeout
	tr.ResponseHeaderTimeout = opts.HeaderTimeout
	tr.MaxResponseHeaderBytes = maxResponseHeaderBytes
	tr.MaxIdleConnsPerHost = max(opts.MaxIdlePerHost, 2)
	tr.IdleConnTimeout = 90 * time.Second
	tr.ForceAttemptHTTP2 = true
	c.http = &http.Client{
		Transport: tr,
		Timeout:   opts.TotalTimeout,
		// A redirect is the receiver's answer, not an instruction: it is
		// a failed attempt, and its target is never contacted.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// dial resolves the host itself when a Lookup is set; either way every
// address is dialled through the guarded dialer.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.opts.Lookup == nil {
		return c.dialer.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := c.opts.Lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ip := range ips {
		conn, err := c.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%s: no address", host)
	}
	return nil, first
}

// CheckURL says why raw cannot be a receiver's URL, as far as can be told
// before connecting: the scheme, credentials, and a literal address.
func (c *Client) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if u.Fragment != "" {
		return errors.New("must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is no TCP port (1 to 65535)", clip.String(p, 16))
		}
	}
	ip, literal := literalAddr(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if c.opts.RequireHTTPS || !c.opts.Policy.AllowLoopback || !isLoopbackHost(u.Hostname()) {
			return errors.New("must be https (plain http only to a loopback receiver in development)")
		}
	default:
		return errors.New("must be an https URL")
	}
	if literal {
		if err := c.opts.Policy.Check(ip); err != nil {
			return err
		}
	}
	return nil
}

func literalAddr(host string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return ip, err == nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, ok := literalAddr(host)
	return ok && ip.Unmap().IsLoopback()
}

// Request is one delivery.
type Request struct {
	URL     string
	Headers map[string]string
	Body    []byte
}

// Response is what came back: Status is 0 when no answer arrived.
type Response struct {
	Status  int
	Latency time.Duration
	// RetryAfter is the wait the answer's Retry-After header asks for
	// (delta-seconds, or an HTTP-date less the time of the answer), when
	// HasRetryAfter: not when the header is absent, malformed or negative
	// (a date already past).
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Post delivers one request. An error means no HTTP answer (refused
// address, connect or timeout); a non-2xx answer is a Response with its
// status, for the caller to judge.
func (c *Client) Post(ctx context.Context, r Request) (Response, error) {
	start := time.Now()
	if err := c.CheckURL(r.URL); err != nil {
		return Response{}, fmt.Errorf("url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", global.Name+"-webhooks/"+global.Version())
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{Latency: time.Since(start)}, unwrapURLError(err, req.URL.Hostname())
	}
	// Closing the body ends a read that waits for more.
	cut := time.AfterFunc(maxResponseWait, func() { _ = resp.Body.Close() })
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	cut.Stop()
	_ = resp.Body.Close()
	out := Response{Status: resp.StatusCode, Latency: time.Since(start)}
	out.RetryAfter, out.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return out, nil
}

// maxRetryAfter bounds a delta-seconds Retry-After so that it fits a
// Duration; the caller clamps it to its own schedule anyway.
const maxRetryAfter = 100 * 365 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3) received at
// now: delta-seconds (digits only) or an HTTP-date. ok is false for an
// empty, malformed or negative value (a sign, a fraction, a date in the
// past).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := at.Sub(now)
	if d < 0 {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL
// (which may carry a token in its query) in every log line, and tells of
// host only what its partner may read in the delivery log.
func unwrapURLError(err error, host string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", forPartner(ue.Err, host))
		}
		return forPartner(ue.Err, host)
	}
	return forPartner(err, host)
}

// forPartner is err as the partner reads it: the internal address a name
// resolved to (in the refusal and in the dial error around it) and the
// address of the resolver asked stay inside, or a partner could map the
// internal network by subscribing names and reading the delivery log.
func forPartner(err error, host string) error {
	if errors.Is(err, ErrForbiddenAddress) {
		return fmt.Errorf("%w: %s does not resolve to a public address", ErrForbiddenAddress, host)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.Server != "" {
		d := *dnsErr
		d.Server = ""
		return fmt.Errorf("dial tcp: %w", &d)
	}
	return err
}
