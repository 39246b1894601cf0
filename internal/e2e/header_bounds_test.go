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

// rawGRPCPing calls SystemService.Ping over a TLS HTTP/2 connection of its
// own with about pad bytes of metadata, and returns the grpc-status the
// server answered, or the error (a reset stream, a GOAWAY, a closed
// connection) it refused the call with.
func rawGRPCPing(t *testing.T, s *Service, pad int) (string, error) {
	t.Helper()
	cfg := s.TLSConfig(false)
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", s.GRPCAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // a refusing server may have reset it
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/mgv.open.v1.SystemService/Ping"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}}
	for i := 0; i*1000 < pad; i++ {
		fields = append(fields, [2]string{fmt.Sprintf("x-pad-%d", i), strings.Repeat("a", 1000)})
	}
	for _, f := range fields {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	const frameSize = 16 << 10
	hb := block.Bytes()
	first := hb[:min(frameSize, len(hb))]
	hb = hb[len(first):]
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: len(hb) == 0}); err != nil {
		return "", err
	}
	for len(hb) > 0 {
		n := min(frameSize, len(hb))
		if err := fr.WriteContinuation(1, n == len(hb), hb[:n]); err != nil {
			return "", err // the server may have closed the connection already
		}
		hb = hb[n:]
	}
	// An empty PingRequest: not compressed, 0 bytes.
	if err := fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil {
		return "", err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return "", err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" && v != "200" {
				return "", fmt.Errorf("HTTP status %s", v)
			}
			for _, hf := range f.Fields {
				if hf.Name == "grpc-status" {
					return hf.Value, nil
				}
			}
		case *http2.RSTStreamFrame:
			return "", fmt.Errorf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return "", fmt.Errorf("GOAWAY: %v", f.ErrCode)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return "", err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					return "", err
				}
			}
		}
	}
}
