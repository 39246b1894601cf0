//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// keptAlive opens a connection to addr from the loopback address from,
// asks GET /healthz on it and tells whether it was answered 200; the
// connection stays open either way (the caller closes it).
func keptAlive(t *testing.T, addr, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		// Refused so fast that the reset met the connect.
		return nopConn{}, false
	}
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return c, false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return c, err == nil && strings.HasPrefix(line, "HTTP/1.1 200")
}

// nopConn stands for a connection refused before it was made.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// TestConnectionCapsOnBothPorts: connections past a client's cap, or past
// the total, are closed as soon as they are accepted, on the HTTP and the
// gRPC port; other clients are served within the total, and the refusals
// are counted by cap.
func TestConnectionCapsOnBothPorts(t *testing.T) {
	s := NewService(t, map[string]string{
		"MGV_HTTP_MAX_CONNECTIONS": "6", "MGV_HTTP_MAX_CONNECTIONS_PER_CLIENT": "4",
		"MGV_GRPC_MAX_CONNECTIONS": "3", "MGV_GRPC_MAX_CONNECTIONS_PER_CLIENT": "2",
	})
	s.Start()

	var open []net.Conn
	served := func(from string, n int) []bool {
		var out []bool
		for range n {
			c, ok := keptAlive(t, s.HTTPAddr, from)
			open = append(open, c)
			out = append(out, ok)
		}
		return out
	}
	// Not 127.0.0.1, which the harness's readiness polls came from: a
	// connection of theirs the server has yet to close would count.
	if got := fmt.Sprint(served("127.0.0.5", 5)); got != "[true true true true false]" {
		t.Fatalf("one client's five connections served %s, want the fifth closed", got)
	}
	if got := fmt.Sprint(served("127.0.0.6", 3)); got != "[true true false]" {
		t.Fatalf("another client's three connections served %s, want the third past the total closed", got)
	}

	// gRPC: each client its own connection, TLS and HTTP/2 on it.
	check := func(from string) error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.TLSConfig(false))),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	for i, from := range []string{"127.0.0.1", "127.0.0.1"} {
		if err := check(from); err != nil {
			t.Fatalf("gRPC connection %d of one client: %v", i+1, err)
		}
	}
	if err := check("127.0.0.1"); err == nil {
		t.Fatal("a client's third gRPC connection was served past its cap of 2")
	}
	if err := check("127.0.0.2"); err != nil {
		t.Fatalf("another client's gRPC connection within the total: %v", err)
	}
	if err := check("127.0.0.3"); err == nil {
		t.Fatal("a gRPC connection past the total of 3 was served")
	}

	for _, c := range open {
		_ = c.Close()
	}
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, ok := keptAlive(t, s.HTTPAddr, "127.0.0.4"); ok {
			_ = c.Close()
			text = metricsText(t, s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connections closed by the client did not give their slots back")
		}
	}
	// The waits above for a free slot may have met the total again.
	for _, want := range []string{
		`mgv_connections_refused_total\{listener="http",reason="per_client"\} 1\n`,
		`mgv_connections_refused_total\{listener="http",reason="total"\} [1-9][0-9]*\n`,
		`mgv_connections_refused_total\{listener="grpc",reason="per_client"\} 1\n`,
		`mgv_connections_refused_total\{listener="grpc",reason="total"\} 1\n`,
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "mgv_connections"))
		}
	}
}

// TestManyIdleConnectionsHoldBoundedMemory: 6,000 kept-alive connections,
// 200 from each of 30 addresses (each under its client cap), each asking
// one /healthz and then idle. Without a total, each held its goroutine and
// buffers until the idle timeout: 16,000 of them took 370 MB. Now the
// total (4,096 by default) closes the rest at once.
func TestManyIdleConnectionsHoldBoundedMemory(t *testing.T) {
	s := NewService(t, nil)
	s.Start()
	idle := rss(s.PID())
	served := 0
	for a := range 30 {
		for range 200 {
			c, ok := keptAlive(t, s.HTTPAddr, fmt.Sprintf("127.0.1.%d", a+1))
			t.Cleanup(func() { _ = c.Close() })
			if ok {
				served++
			}
		}
	}
	held := rss(s.PID())
	t.Logf("6000 kept-alive connections, %d served: resident memory %d MiB idle, %d MiB holding them", served, idle>>20, held>>20)
	if served != 4096 {
		t.Errorf("%d connections served, want the default total of 4096", served)
	}
	if held-idle > 200<<20 {
		t.Errorf("the connections held %d MiB", (held-idle)>>20)
	}
}
