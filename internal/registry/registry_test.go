package registry

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/polltest"
)

var fast = timing{firstRetry: 20 * time.Millisecond, maxRetry: 100 * time.Millisecond, resync: 50 * time.Millisecond, call: time.Second}

// fakeAgent answers the three agent calls the registrar makes and records
// them.
type fakeAgent struct {
	mu       sync.Mutex
	services map[string]bool
	regs     map[string]api.AgentServiceRegistration
	calls    []string
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/agent/service/register":
		var reg api.AgentServiceRegistration
		_ = json.NewDecoder(r.Body).Decode(&reg)
		f.services[reg.ID] = true
		f.regs[reg.ID] = reg
	case r.Method == http.MethodGet && r.URL.Path == "/v1/agent/services":
		out := map[string]api.AgentService{}
		for id := range f.services {
			reg := f.regs[id]
			out[id] = api.AgentService{ID: id, Service: reg.Name, Address: reg.Address, Port: reg.Port, Meta: reg.Meta}
		}
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/agent/service/"):
		if !f.services[strings.TrimPrefix(r.URL.Path, "/v1/agent/service/")] {
			http.Error(w, "unknown service ID", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/agent/service/deregister/"):
		id := strings.TrimPrefix(r.URL.Path, "/v1/agent/service/deregister/")
		if !f.services[id] {
			http.Error(w, "unknown service ID", http.StatusNotFound)
			return
		}
		delete(f.services, id)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAgent) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeAgent) has(id string) bool { f.mu.Lock(); defer f.mu.Unlock(); return f.services[id] }

func (f *fakeAgent) forget(id string) { f.mu.Lock(); delete(f.services, id); f.mu.Unlock() }

func startFake(t *testing.T) (*fakeAgent, Options) {
	t.Helper()
	f := &fakeAgent{services: map[string]bool{}, regs: map[string]api.AgentServiceRegistration{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o := testOptions()
	o.Consul.Addr = strings.TrimPrefix(srv.URL, "http://")
	o.ID = "mgvcore-test-1"
	return f, o
}

// startUntil starts a registrar of o and waits until what is true of the
// fake agent.
func startUntil(t *testing.T, o Options, what string, cond func() bool) *Registrar {
	t.Helper()
	r, err := start(o, zerolog.Nop(), fast)
	if err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 10*time.Second, 10*time.Millisecond, what, cond)
	return r
}

func TestUpgradeKeepsAndStopRemovesTheRegistration(t *testing.T) {
	f, o := startFake(t)
	parent := startUntil(t, o, "registered", func() bool { return f.has(o.ID) })
	if c := f.calls[0]; !strings.Contains(c, "replace-existing-checks=true") {
		t.Errorf("first call %q, want a registration replacing existing checks", c)
	}

	// The upgraded child registers the same id again, though the agent has it.
	child := startUntil(t, o, "child registered", func() bool { return f.count("PUT /v1/agent/service/register") == 2 })
	if err := parent.Stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if f.count("PUT /v1/agent/service/deregister") != 0 || !f.has(o.ID) {
		t.Fatal("the upgraded parent deregistered the service")
	}

	if err := child.Stop(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if f.has(o.ID) {
		t.Error("still registered after a stop")
	}
	calls := f.count("")
	time.Sleep(5 * fast.resync)
	if f.count("") != calls {
		t.Error("the registrar kept calling the agent after Stop")
	}
}

// TestAnUpgradeThatChangesTheIDRemovesTheParentsRegistration: a child
// registered under another id (app.instance_id or consul.service_name
// changed with the upgrade) removes the parent's registration of the same
// address and ports, which the parent left to it; registrations of other
// ports stay.
func TestAnUpgradeThatChangesTheIDRemovesTheParentsRegistration(t *testing.T) {
	f, o := startFake(t)
	parent := startUntil(t, o, "registered", func() bool { return f.has(o.ID) })
	other := o
	other.ID = "mgvcore-test-other-port"
	other.HTTP = tcp("0.0.0.0:2024")
	neighbour := startUntil(t, other, "neighbour registered", func() bool { return f.has(other.ID) })
	if err := parent.Stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	// Another host's process on the same ports behind the same agent (a
	// container): not this process's to remove.
	f.mu.Lock()
	theirs := *registration(o)
	theirs.ID, theirs.Meta = "mgvcore-container-2", map[string]string{"grpc_port": theirs.Meta["grpc_port"], "host": "container-2"}
	f.services[theirs.ID], f.regs[theirs.ID] = true, theirs
	f.mu.Unlock()

	renamed := o
	renamed.ID = "mgvcore-test-renamed"
	child := startUntil(t, renamed, "the parent's registration removed", func() bool { return !f.has(o.ID) })
	if !f.has(renamed.ID) || !f.has(other.ID) || !f.has("mgvcore-container-2") {
		t.Fatalf("registrations after the upgrade: child %v, other port %v, other host %v", f.has(renamed.ID), f.has(other.ID), f.has("mgvcore-container-2"))
	}
	_ = child.Stop(context.Background(), true)
	_ = neighbour.Stop(context.Background(), true)
}

func TestRegistersAgainWhenTheAgentForgets(t *testing.T) {
	f, o := startFake(t)
	r, err := start(o, zerolog.Nop(), fast)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Stop(context.Background(), true); err != nil {
			t.Error(err)
		}
	}()
	polltest.Until(t, 10*time.Second, 10*time.Millisecond, "registered", func() bool { return f.has(o.ID) })
	f.forget(o.ID) // an agent restart in dev mode, or a reap
	polltest.Until(t, 10*time.Second, 10*time.Millisecond, "registered again", func() bool { return f.has(o.ID) })
}

func TestStopDeregistersWhatItNeverRegistered(t *testing.T) {
	_, o := startFake(t)
	r, err := start(o, zerolog.Nop(), fast)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	// Gone already, or never there: a stop is not an error.
	if err := r.Stop(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(context.Background(), true); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// TestUnreachableAgentAtStart: Start returns at once while nothing listens
// at consul.addr; once the real agent of scripts/testenv.sh appears there
// (through a forwarder on that port), the service is registered and passes
// its check; Stop removes it.
func TestUnreachableAgentAtStart(t *testing.T) {
	real := os.Getenv("MGV_TEST_CONSUL_ADDR")
	if real == "" {
		t.Skip("MGV_TEST_CONSUL_ADDR is not set: run `make test`, which starts Consul")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil { // nothing listens here now
		t.Fatal(err)
	}

	// A real HTTP listener for the agent's check to reach.
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer health.Close()
	o := testOptions()
	o.Consul.Addr = addr
	o.Consul.ServiceName = "mgvcore-unit-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	o.HTTP, o.GRPC = health.Listener.Addr(), health.Listener.Addr()
	o.GRPCCheckTLS = false
	o.Consul.CheckInterval.Duration = time.Second

	began := time.Now()
	r, err := start(o, zerolog.Nop(), fast)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Errorf("Start took %s with the agent down", d)
	}
	client, err := api.NewClient(&api.Config{Address: real})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // several failed attempts
	if _, _, err := client.Agent().Service(r.ID(), nil); !notFound(err) {
		t.Fatalf("registered while the agent was unreachable? %v", err)
	}

	stop := forward(t, addr, real)
	defer stop()
	polltest.Until(t, 10*time.Second, 10*time.Millisecond, "registered and passing once the agent appears", func() bool {
		status, _, err := client.Agent().AgentHealthServiceByID(r.ID())
		return err == nil && status == api.HealthPassing
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Agent().Service(r.ID(), nil); !notFound(err) {
		t.Errorf("still registered after Stop: %v", err)
	}
}

// forward listens on addr and pipes every connection to target, until stop
// closes the listener and every connection (keep-alive ones included).
func forward(t *testing.T, addr, target string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			// Each copy ends when either side closes; closing a side that
			// stop (or the other copy) already closed fails harmlessly, so
			// the proxy's close errors are not errors of the test.
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
}
