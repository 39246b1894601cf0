package app

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The admin port closes a kept-alive connection left idle and one that
// never sends its request, and serves at most maxConns connections at
// once: before, 999 idle connections there held the process's file
// descriptors, and the public port stopped accepting.
func TestTheAdminPortHoldsNoIdleConnectionAndAFewAtOnce(t *testing.T) {
	lim := adminLimits{idle: 200 * time.Millisecond, read: 300 * time.Millisecond, write: time.Second, maxConns: 2}
	srv := newAdminServer(false, true, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), lim, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// closed reports whether the server closed c within d.
	closed := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && (!errors.As(err, &ne) || !ne.Timeout())
	}

	kept := dial()
	if _, err := kept.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(kept), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	silent := dial()
	if !closed(kept, 2*time.Second) || !closed(silent, 2*time.Second) {
		t.Fatal("an idle kept-alive connection, or one that sent nothing, is still open after the limits")
	}

	// Two connections held: a third waits to be accepted.
	dial()
	dial()
	time.Sleep(50 * time.Millisecond)
	third := dial()
	if _, err := third.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = third.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := third.Read(make([]byte, 1)); n > 0 {
		t.Fatal("a third connection was served while two were held")
	}
	// Once the two are closed (read limit), the third is served.
	_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(third), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the third connection once the others closed: %v %v", resp, err)
	}
}
