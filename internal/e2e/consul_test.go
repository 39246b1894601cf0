//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// consulService starts the binary registering with the test Consul under a
// service name of its own, with quick checks.
func consulService(t *testing.T, consulAddr string) (*Service, string) {
	t.Helper()
	name := fmt.Sprintf("mgvcore-e2e-%d", time.Now().UnixNano())
	s := NewService(t, map[string]string{
		"MGV_CONSUL_ENABLED":        "true",
		"MGV_CONSUL_ADDR":           consulAddr,
		"MGV_CONSUL_SERVICE_NAME":   name,
		"MGV_CONSUL_CHECK_INTERVAL": "1s",
	})
	return s, name
}

// registeredService starts the binary registering with the test Consul
// (consulService) and waits until its registration, of the id it derives
// from its service name, host and HTTP port, passes.
func registeredService(t *testing.T) (agent *api.Agent, s *Service, name, id string) {
	t.Helper()
	addr := requireEnv(t, "MGV_TEST_CONSUL_ADDR")
	client, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	agent = client.Agent()
	s, name = consulService(t, addr)
	s.Start()
	host, _ := os.Hostname()
	_, httpPort, _ := net.SplitHostPort(s.HTTPAddr)
	id = name + "-" + host + "-" + httpPort
	waitPassing(t, agent, id, "after start")
	return agent, s, name, id
}

// TestConsulRegistrationAcrossUpgradesAndStop: registered and passing once
// ready; the same registration, never missing and passing again, across
// three upgrades; gone after SIGTERM.
func TestConsulRegistrationAcrossUpgradesAndStop(t *testing.T) {
	agent, s, name, id := registeredService(t)
	_, httpPort, _ := net.SplitHostPort(s.HTTPAddr)
	_, grpcPort, _ := net.SplitHostPort(s.GRPCAddr)

	svc, _, err := agent.Service(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Service != name || strconv.Itoa(svc.Port) != httpPort || svc.Meta["grpc_port"] != grpcPort ||
		strconv.Itoa(svc.TaggedAddresses["grpc"].Port) != grpcPort {
		t.Errorf("registration %+v, want %s on HTTP %s with gRPC %s", svc, name, httpPort, grpcPort)
	}
	checks, err := agent.ChecksWithFilter(fmt.Sprintf("ServiceID == %q", id))
	if err != nil {
		t.Fatal(err)
	}
	// The gRPC port is checked by TCP: a grpc.health.v1 call carries no
	// token, and anonymous slow calls could hold it up.
	if len(checks) != 2 || checks[id+":http"].Type != "http" || checks[id+":grpc"].Type != "tcp" {
		t.Errorf("checks %v, want an http and a tcp one", checks)
	}

	// Watch the registration through the upgrades: it must never be missing.
	var missing atomic.Int64
	var seen atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			seen.Add(1)
			if _, _, err := agent.Service(id, nil); err != nil {
				missing.Add(1)
			}
		}
	}()
	for i := 1; i <= 3; i++ {
		old := s.Signal(syscall.SIGUSR2)
		next := waitNewPID(t, s, old, 15*time.Second)
		if !WaitGone(old, 15*time.Second) {
			t.Fatalf("upgrade %d: old process %d still running", i, old)
		}
		waitLogCount(t, s, `"consul: registered"`, i+1)
		waitCheckedPID(t, agent, id, next)
		waitPassing(t, agent, id, fmt.Sprintf("after upgrade %d (pid %d)", i, next))
	}
	close(stop)
	wg.Wait()
	if n := missing.Load(); n > 0 {
		t.Errorf("registration missing in %d of %d looks during the upgrades", n, seen.Load())
	}
	if n := strings.Count(s.Stderr.String(), "consul: deregistered"); n != 0 {
		t.Errorf("an upgraded process deregistered (%d times)", n)
	}
	all, err := agent.ServicesWithFilter(fmt.Sprintf("Service == %q", name))
	if err != nil || len(all) != 1 {
		t.Errorf("%d registrations of %s after the upgrades (%v), want 1", len(all), name, err)
	}

	last := s.Signal(syscall.SIGTERM)
	if !WaitGone(last, 15*time.Second) {
		t.Fatalf("process %d still running after SIGTERM", last)
	}
	if _, _, err := agent.Service(id, nil); !isNotFound(err) {
		t.Errorf("still registered after SIGTERM (err %v)", err)
	}
}

// TestConsulUnreachableDoesNotDelayServing: with nothing at consul.addr the
// service is ready as fast as ever, logs the failure, and a stop is not held
// up by the retries.
func TestConsulUnreachableDoesNotDelayServing(t *testing.T) {
	s, _ := consulService(t, freeAddr(t))
	began := time.Now()
	s.Start()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("ready after %s with Consul down", d)
	}
	resp, err := http.Get(s.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	closeBody(t, resp)
	waitLog(t, s, "consul: registration failed", 5*time.Second)

	pid := s.Signal(syscall.SIGTERM)
	stopped := time.Now()
	if !WaitGone(pid, 10*time.Second) {
		t.Fatalf("process %d still running 10s after SIGTERM", pid)
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("stopping took %s with Consul down", d)
	}
}

func waitPassing(t *testing.T, agent *api.Agent, id, when string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var status string
	var err error
	for time.Now().Before(deadline) {
		if status, _, err = agent.AgentHealthServiceByID(id); err == nil && status == api.HealthPassing {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: service %s is %q (err %v), want passing", when, id, status, err)
}

// waitCheckedPID waits until the HTTP check has passed against pid: Consul
// keeps a check's status across a re-registration, so only the output of a
// fresh run (/healthz names the pid) proves the new process is checked.
func waitCheckedPID(t *testing.T, agent *api.Agent, id string, pid int) {
	t.Helper()
	want := fmt.Sprintf(`"pid":%d`, pid)
	deadline := time.Now().Add(15 * time.Second)
	var last *api.AgentCheck
	for time.Now().Before(deadline) {
		checks, err := agent.ChecksWithFilter(fmt.Sprintf("CheckID == %q", id+":http"))
		if last = checks[id+":http"]; err == nil && last != nil && last.Status == api.HealthPassing && strings.Contains(last.Output, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the HTTP check never passed against pid %d; last: %+v", pid, last)
}

func waitLogCount(t *testing.T, s *Service, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.Stderr.String(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines %s, want %d:\n%s", strings.Count(s.Stderr.String(), text), text, n, s.Stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// An instance that cannot reach its database leaves the rotation: the
// registry's HTTP check asks /readyz?require=database, so the instance is
// critical while the database is cut off, and passing again once it
// answers. (An Elasticsearch outage keeps it in: it still takes writes.)
func TestConsulTakesAnInstanceWithoutItsDatabaseOutOfRotationOnMariaDB(t *testing.T) {
	addr := requireEnv(t, "MGV_TEST_CONSUL_ADDR")
	client, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	agent := client.Agent()
	dsn := NewDatabase(t)
	m := mysqlAddr.FindStringSubmatch(dsn)
	if m == nil {
		t.Fatalf("no tcp address in the DSN %q", dsn)
	}
	gate := newTCPGate(t, m[1])
	s, name := consulService(t, addr)
	s.Env["MGV_DATABASE_DRIVER"] = "mysql"
	s.Env["MGV_DATABASE_DSN"] = mysqlAddr.ReplaceAllString(dsn, "@tcp("+gate.Addr()+")")
	s.Start()
	host, _ := os.Hostname()
	_, httpPort, _ := net.SplitHostPort(s.HTTPAddr)
	id := name + "-" + host + "-" + httpPort
	waitPassing(t, agent, id, "after start")
	for query, want := range map[string]int{"require=database,%20": http.StatusOK, "require=disk": http.StatusBadRequest, "verbose=1": http.StatusBadRequest} {
		if code := getStatus(t, s.URL("/readyz?"+query)); code != want {
			t.Errorf("/readyz?%s: %d, want %d", query, code, want)
		}
	}

	gate.close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _, err := agent.AgentHealthServiceByID(id)
		if err == nil && status == api.HealthCritical {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the database was cut off the instance is %q (%v), want critical", status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gate.open()
	waitPassing(t, agent, id, "once the database answers again")
}

// TestConsulUpgradeThatChangesTheInstanceID: an upgrade whose config names
// another app.instance_id registers the new id and removes the parent's
// registration, which the parent left for its child: both would stay
// passing (their checks reach the same ports), and the fleet would count
// one instance more than it has. A stop then leaves nothing.
func TestConsulUpgradeThatChangesTheInstanceID(t *testing.T) {
	agent, s, name, _ := registeredService(t)
	editFile(t, s.ConfigPath, "[app]\n", "[app]\ninstance_id = \""+name+"-b\"\n")
	old := s.Signal(syscall.SIGUSR2)
	waitNewPID(t, s, old, 15*time.Second)
	WaitGone(old, 15*time.Second)
	waitPassing(t, agent, name+"-b", "after the upgrade")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		all, err := agent.ServicesWithFilter(fmt.Sprintf("Service == %q", name))
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registrations of one process after an upgrade that changed its id: %v", slices.Collect(maps.Keys(all)))
		}
	}
	WaitGone(s.Signal(syscall.SIGTERM), 15*time.Second)
	all, _ := agent.ServicesWithFilter(fmt.Sprintf("Service == %q", name))
	for id := range all {
		t.Errorf("still registered after SIGTERM: %s", id)
		_ = agent.ServiceDeregister(id)
	}
}
