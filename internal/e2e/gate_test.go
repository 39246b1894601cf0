//go:build e2e

package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// tcpGate is a TCP proxy in front of a test dependency (Elasticsearch,
// MariaDB) that a test closes and opens again: closed, it cuts the
// connections it carries and those that come, as a server gone from the
// network; the server itself, shared with other tests, keeps running.
type tcpGate struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	shut  bool
	conns map[net.Conn]struct{}
}

// newESGate is a gate in front of the test Elasticsearch.
func newESGate(t *testing.T) *tcpGate {
	t.Helper()
	u, err := url.Parse(requireEnv(t, "MGV_TEST_ES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	return newTCPGate(t, u.Host)
}

// newTCPGate is a gate in front of target (host:port), open.
func newTCPGate(t *testing.T, target string) *tcpGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpGate{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		_ = ln.Close()
		g.close()
	})
	go g.serve()
	return g
}

// Addr is the gate's host:port.
func (g *tcpGate) Addr() string { return g.ln.Addr().String() }

// URL is the gate's address, for the service's search.urls.
func (g *tcpGate) URL() string { return "http://" + g.ln.Addr().String() }

func (g *tcpGate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.carry(c)
	}
}

// carry copies c to Elasticsearch and back while the gate is open.
func (g *tcpGate) carry(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	if g.shut {
		g.mu.Unlock()
		_, _ = c.Close(), up.Close()
		return
	}
	g.conns[c], g.conns[up] = struct{}{}, struct{}{}
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
	_, _ = c.Close(), up.Close()
}

// close cuts the service off from the server.
func (g *tcpGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = true
	for c := range g.conns {
		_ = c.Close()
	}
}

// open lets the service reach the server again.
func (g *tcpGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = false
}
