package bound

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// capped serves ln, echoing one byte per connection until the connection
// ends, and returns the reasons of the refusals.
func capped(t *testing.T, perClient, total int, exempt func(netip.Addr) bool) (*Listener, func() []string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reasons []string
	ln := Listen(inner, ConnCaps{PerClient: perClient, Total: total, Exempt: exempt, UserTimeout: 20 * time.Second, Refused: func(r string) {
		mu.Lock()
		defer mu.Unlock()
		reasons = append(reasons, r)
	}})
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
					if _, err := c.Write(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reasons...)
	}
}

// dial connects from the loopback address from and tells whether the
// server answered a byte on the connection (false: it was closed at once).
func dial(t *testing.T, ln net.Listener, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, false // reset so fast that it met the connect
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return c, false
	}
	b := make([]byte, 1)
	_, err = io.ReadFull(c, b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("from %s: neither served nor closed", from)
	}
	return c, err == nil
}

func TestListenCapsConnectionsPerClientAndInTotal(t *testing.T) {
	ln, refused := capped(t, 2, 3, nil)
	a1, ok1 := dial(t, ln, "127.0.0.1")
	_, ok2 := dial(t, ln, "127.0.0.1")
	_, ok3 := dial(t, ln, "127.0.0.1")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("one client's connections served: %v %v %v, want the third closed", ok1, ok2, ok3)
	}
	if _, ok := dial(t, ln, "127.0.0.2"); !ok {
		t.Fatal("another client was refused with the total not reached")
	}
	if _, ok := dial(t, ln, "127.0.0.3"); ok {
		t.Fatal("a connection past the total was served")
	}
	if got := refused(); len(got) != 2 || got[0] != RefusedPerClient || got[1] != RefusedTotal {
		t.Fatalf("refusals %v, want [%s %s]", got, RefusedPerClient, RefusedTotal)
	}
	// A connection that ends gives its slot back.
	_ = a1.Close()
	for deadline := time.Now().Add(2 * time.Second); ln.Open() != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after one closed, want 2", ln.Open())
		}
	}
	if _, ok := dial(t, ln, "127.0.0.1"); !ok {
		t.Fatal("the slot of a closed connection was not given back")
	}
}

func TestListenHoldsAnExemptPeerToTheTotalOnly(t *testing.T) {
	proxy := netip.MustParseAddr("127.0.0.9")
	ln, _ := capped(t, 1, 3, func(a netip.Addr) bool { return a == proxy })
	for i := range 3 {
		if _, ok := dial(t, ln, "127.0.0.9"); !ok {
			t.Fatalf("connection %d of a trusted proxy refused within the total", i+1)
		}
	}
	if _, ok := dial(t, ln, "127.0.0.9"); ok {
		t.Fatal("a trusted proxy went past the total")
	}
}
