//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headerBound is the bound the test service runs with, the default.
const headerBound = 32 << 10

// TestBoundsHTTPHeadersAreBounded: a request's line and headers are bounded
// by http.max_header_bytes, so a connection cannot make the server hold a
// megabyte (net/http's default) before any policy runs: 400 such
// connections held 474 MB.
func TestBoundsHTTPHeadersAreBounded(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	if got := rawGet(t, s.HTTPAddr, 8<<10); got != "HTTP/1.1 200 OK" {
		t.Fatalf("8 KiB of headers: %q, want 200", got)
	}
	if got := rawGet(t, s.HTTPAddr, headerBound+8<<10); got != "HTTP/1.1 431 Request Header Fields Too Large" {
		t.Fatalf("%d bytes of headers: %q, want 431", headerBound+8<<10, got)
	}
}

// rawGet sends GET /api/v1/ping with about pad bytes of headers and returns
// the status line.
func rawGet(t *testing.T, addr string, pad int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString("GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n")
	for i := 0; b.Len() < pad; i++ {
		fmt.Fprintf(&b, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 1000))
	}
	b.WriteString("\r\n")
	// The server may answer 431 and close before it has read it all.
	if _, err := io.WriteString(c, b.String()); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to %d bytes of headers: %v", pad, err)
	}
	return strings.TrimSpace(line)
}

// TestBoundsGRPCMetadataIsBounded: a call's metadata is bounded by
// grpc.max_header_list_bytes (grpc-go reads 16 MiB by default, before the
// tap handle and any interceptor). The client is a raw HTTP/2 one, as an
// attacker's would be: grpc-go's own refuses to send past the bound the
// server announces.
func TestBoundsGRPCMetadataIsBounded(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	if status, err := rawGRPCPing(t, s, 4<<10); err != nil || status != "0" {
		t.Fatalf("a Ping with 4 KiB of metadata: grpc-status %q, %v; want 0", status, err)
	}
	status, err := rawGRPCPing(t, s, 256<<10)
	t.Logf("a Ping with 256 KiB of metadata: grpc-status %q, %v", status, err)
	if status == "0" {
		t.Fatal("a Ping with 256 KiB of metadata was served")
	}
	if err == nil && status == "" {
		t.Fatal("a Ping with 256 KiB of metadata was neither served nor refused")
	}
}

// h2 is a raw HTTP/2 client connection to the gRPC port, as an attacker
// would open one: it sends what it likes, whatever the server announces.
type h2 struct {
	t  *testing.T
	c  *tls.Conn
	fr *http2.Framer
}

func dialH2(t *testing.T, s *Service) *h2 {
	t.Helper()
	cfg := s.TLSConfig(false)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", s.GRPCAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // a refusing server may have reset it
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &h2{t: t, c: c, fr: fr}
}

// pingHeaders is the header block of a SystemService.Ping call with about
// pad bytes of extra metadata.
func pingHeaders(t *testing.T, pad int, token ...string) []byte {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/mgv.open.v1.SystemService/Ping"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}}
	for _, tok := range token {
		fields = append(fields, [2]string{"authorization", "Bearer " + tok})
	}
	for i := 0; i*1000 < pad; i++ {
		fields = append(fields, [2]string{fmt.Sprintf("x-pad-%d", i), strings.Repeat("a", 1000)})
	}
	for _, f := range fields {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	return block.Bytes()
}

// open sends a call's header block on stream id, split into frames.
func (h *h2) open(id uint32, hb []byte) error {
	const frameSize = 16 << 10
	first := hb[:min(frameSize, len(hb))]
	hb = hb[len(first):]
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(hb) == 0}); err != nil {
		return err
	}
	for len(hb) > 0 {
		n := min(frameSize, len(hb))
		if err := h.fr.WriteContinuation(id, n == len(hb), hb[:n]); err != nil {
			return err // the server may have closed the connection already
		}
		hb = hb[n:]
	}
	return nil
}

// next reads frames, answering the server's settings and pings, until one
// that ends a stream: its grpc-status, or the reset. It returns the
// server's MAX_CONCURRENT_STREAMS when it announces one, and an error when
// the connection ends.
func (h *h2) next(maxStreams *uint32) (id uint32, grpcStatus string, reset http2.ErrCode, err error) {
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return 0, "", 0, err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" && v != "200" {
				return f.StreamID, "", 0, fmt.Errorf("HTTP status %s", v)
			}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					return f.StreamID, hf.Value, 0, nil
				}
			}
		case *http2.RSTStreamFrame:
			return f.StreamID, "", f.ErrCode, nil
		case *http2.GoAwayFrame:
			return 0, "", 0, fmt.Errorf("GOAWAY: %v", f.ErrCode)
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok && maxStreams != nil {
				*maxStreams = v
			}
			if err := h.fr.WriteSettingsAck(); err != nil {
				return 0, "", 0, err
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := h.fr.WritePing(true, f.Data); err != nil {
					return 0, "", 0, err
				}
			}
		}
	}
}

// rawGRPCPing calls SystemService.Ping over a raw HTTP/2 connection of its
// own with about pad bytes of metadata, and returns the grpc-status the
// server answered, or the error (a reset stream, a GOAWAY, a closed
// connection) it refused the call with.
func rawGRPCPing(t *testing.T, s *Service, pad int) (string, error) {
	t.Helper()
	h := dialH2(t, s)
	if err := h.open(1, pingHeaders(t, pad)); err != nil {
		return "", err
	}
	// An empty PingRequest: not compressed, 0 bytes.
	if err := h.fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil {
		return "", err
	}
	_, status, reset, err := h.next(nil)
	if reset != 0 {
		return "", fmt.Errorf("stream reset: %v", reset)
	}
	return status, err
}

// TestBoundsGRPCSilentCallsAreCapped: calls that send their headers and
// never their request are capped per connection (grpc.max_concurrent_streams;
// grpc-go sets none, and one connection held 50,000 such calls, 775 MB) and
// end at their deadline, counted from the headers (they held their stream
// for as long as the connection lived). The calls bring a good token:
// anonymous ones are also held to grpc.max_untrusted_reads and the read
// window (TestBoundsUntrustedLargeCallsAreReadFewAtATime, and the tap's
// unit tests).
func TestBoundsGRPCSilentCallsAreCapped(t *testing.T) {
	const timeout, opened = 2 * time.Second, 300
	s := NewService(t, map[string]string{"MGV_GRPC_REQUEST_TIMEOUT": timeout.String()})
	f := NewFixture(t, s)
	s.Start()
	h := dialH2(t, s)
	hb := pingHeaders(t, 0, f.AppToken(t))
	start := time.Now()
	for i := range opened {
		if err := h.open(uint32(2*i+1), hb); err != nil {
			t.Fatal(err)
		}
	}
	var announced uint32
	var refused, expired int
	var last time.Duration
	ended := map[uint32]bool{}
	for refused+expired < opened {
		id, status, reset, err := h.next(&announced)
		switch {
		case err != nil:
			t.Fatalf("after %d refused and %d ended at their deadline: %v", refused, expired, err)
		case ended[id] && reset == http2.ErrCodeNo:
			// The server ends its side of a call it answered.
			continue
		case reset == http2.ErrCodeRefusedStream:
			refused++
		case status == "4": // DEADLINE_EXCEEDED
			expired++
			last = time.Since(start)
		default:
			t.Fatalf("silent call %d ended with grpc-status %q, reset %v", id, status, reset)
		}
		ended[id] = true
	}
	t.Logf("announced %d streams; %d calls refused, %d ended at their deadline, the last %s after they opened",
		announced, refused, expired, last.Round(time.Millisecond))
	if announced != 100 || expired != 100 || refused != opened-100 {
		t.Fatalf("announced %d, %d ended at their deadline, %d refused; want 100, 100 and %d", announced, expired, refused, opened-100)
	}
	if last > timeout+2*time.Second {
		t.Fatalf("the last silent call ended %s after it opened, want about %s", last, timeout)
	}
}
