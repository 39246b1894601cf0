//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// relay passes TCP connections to target until it is cut: then it closes
// every connection and refuses new ones, as an agent that went away does,
// until it is resumed on the same address.
type relay struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{t: t, addr: freeAddr(t), target: target}
	r.resume()
	t.Cleanup(r.cut)
	return r
}

func (r *relay) resume() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay on %s: %v", r.addr, err)
	}
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", r.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.conns = nil
}

// A short failure of Consul (a leader election, an agent restart) fails the
// queries of every instance at the same moment. Each keeps dividing the
// tenant's tier by the number Consul last gave, rather than taking the whole
// tier, which across the fleet would admit N times the tenant's rate until
// Consul answers again.
func TestFleetKeepsItsSizeThroughAShortConsulFailure(t *testing.T) {
	consul := requireEnv(t, "MGV_TEST_CONSUL_ADDR")
	agent := startRelay(t, consul)
	name := fmt.Sprintf("mgvcore-hold-%d", time.Now().UnixNano())
	fleet := []*Service{
		NewService(t, fleetEnv(nil, agent.addr, name, 40, 4)),
		NewService(t, fleetEnv(nil, agent.addr, name, 40, 4)),
	}
	for _, s := range fleet {
		s.Start()
	}
	for _, s := range fleet {
		waitMetric(t, s, "mgv_ratelimit_fleet_instances", 2, 30*time.Second)
	}

	agent.cut()
	for i, s := range fleet {
		waitLog(t, s, "cannot list the healthy instances", 10*time.Second)
		if strings.Contains(s.Stderr.String(), "admits every tenant's whole rate") {
			t.Errorf("instance %d took every tenant's whole rate at once when Consul failed", i+1)
		}
	}
	// Several retries (0.5 s, 1 s, 2 s ...), well within the hold.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		for i, s := range fleet {
			n, unknown := metric(t, s, "mgv_ratelimit_fleet_instances"), metric(t, s, "mgv_ratelimit_fleet_unknown")
			if n != 2 || unknown != 0 {
				t.Fatalf("instance %d: %v instances (unknown %v) %s after Consul failed, want the 2 it last listed",
					i+1, n, unknown, time.Since(end.Add(-4*time.Second)).Round(time.Millisecond))
			}
		}
	}

	agent.resume()
	for _, s := range fleet {
		waitLog(t, s, "listing the healthy instances again", 30*time.Second)
		if v := metric(t, s, "mgv_ratelimit_fleet_instances"); v != 2 {
			t.Errorf("mgv_ratelimit_fleet_instances = %v once Consul answers again, want 2", v)
		}
	}
}
