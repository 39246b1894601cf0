//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/status"
)

// r8AttackEnv, when set in the environment of the e2e test binary, makes it
// the hostile clients of TestR8HostileLoad: it holds the JSON of an
// r8Attack, and TestR8HostileClients is the only test that runs.
const r8AttackEnv = "MGV_E2E_R8_ATTACK"

// r8Attack is what the hostile clients' process needs to know of the
// service under attack, and where it writes what it saw.
type r8Attack struct {
	HTTPAddr, GRPCAddr, SSLDir string
	// AppToken is the hostile tenant's app, AdminToken its admin, Target
	// the conversation its never-finishing streams write to.
	AppToken, AdminToken string
	Target               int64
	Result               string
}

// r8Hostile is what the hostile clients saw: when and how each was cut or
// refused, and the process's own CPU time.
type r8Hostile struct {
	SlowCuts       []time.Duration
	SlowAnswers    []string
	StreamCuts     []time.Duration
	StreamCodes    []uint32
	StreamErrs     []string
	Admitted       int64
	Limited        int64
	Other          int64
	ForgedTook     time.Duration
	SlowestRefusal time.Duration
	CPU            time.Duration
}

// attack runs the hostile clients of one round in their own process at the
// lowest CPU priority, as attackers on machines of their own would be: on
// the two cores the test shares with the service and its databases, the
// attackers' own work (600 dials and two TLS handshakes at one instant,
// 600 MB of refused messages written) would otherwise be measured as the
// service's slowness. The service handles every hostile request exactly
// as it would in-process; only whose CPU pays for sending them changes.
func (r *r8) attack(t *testing.T) r8Hostile {
	t.Helper()
	result := filepath.Join(t.TempDir(), "hostile.json")
	spec, err := json.Marshal(r8Attack{
		HTTPAddr: r.s.HTTPAddr, GRPCAddr: r.s.GRPCAddr, SSLDir: r.s.Env["MGV_SSL_DIR"],
		AppToken: r.appToken, AdminToken: r.token, Target: r.target, Result: result,
	})
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nice", "-n", "19", exe, "-test.run=^TestR8HostileClients$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), r8AttackEnv+"="+string(spec))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the hostile clients' process: %v\n%s", err, out.String())
	}
	data, err := os.ReadFile(result)
	if err != nil {
		t.Fatalf("the hostile clients wrote no result: %v\n%s", err, out.String())
	}
	var h r8Hostile
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatalf("the hostile clients' result %q: %v", data, err)
	}
	return h
}

// TestR8HostileClients is the hostile clients of TestR8HostileLoad, run
// only in the process that test starts: 200 HTTP clients sending their
// bodies a byte at a time, 50 PutTranscript streams that never finish, 300
// anonymous requests each with its own forged X-Forwarded-For and 40
// unauthenticated 15 MiB gRPC calls, all at once.
func TestR8HostileClients(t *testing.T) {
	raw := os.Getenv(r8AttackEnv)
	if raw == "" {
		t.Skip("the hostile clients' own process of TestR8HostileLoad")
	}
	var a r8Attack
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatalf("%s: %v", r8AttackEnv, err)
	}
	s := &Service{t: t, HTTPAddr: a.HTTPAddr, GRPCAddr: a.GRPCAddr, Env: map[string]string{"MGV_SSL_DIR": a.SSLDir}}
	hp := newPartner(t, s.GRPC(), a.AppToken)
	var h r8Hostile
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	h.SlowCuts, h.SlowAnswers = make([]time.Duration, 200), make([]string, 200)
	for i := range h.SlowCuts {
		wg.Go(func() {
			// A write that reads its body after every policy: a search
			// would be a heavy call, of which a tenant runs a few at once
			// and the rest are refused 429 before their bodies are read.
			h.SlowCuts[i], h.SlowAnswers[i] = slowBody(t, s.HTTPAddr, "POST /api/v1/trackers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+a.AdminToken+"\r\n")
		})
	}
	h.StreamCuts, h.StreamCodes, h.StreamErrs = make([]time.Duration, 50), make([]uint32, 50), make([]string, 50)
	for i := range h.StreamCuts {
		wg.Go(func() {
			start := time.Now()
			st, err := openStream(hp, a.Target)
			if err == nil {
				err = streamOutcome(st)
			}
			h.StreamCuts[i] = time.Since(start)
			h.StreamCodes[i], h.StreamErrs[i] = uint32(status.Code(err)), fmt.Sprint(err)
		})
	}
	var admitted, limited, other atomic.Int64
	wg.Go(func() {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 30}}
		var next atomic.Int64
		var inner sync.WaitGroup
		start := time.Now()
		for range 30 {
			inner.Go(func() {
				for i := next.Add(1); i <= 300; i = next.Add(1) {
					forged := fmt.Sprintf("198.51.%d.%d", i/250, i%250+1)
					switch anonPing(t, s, c, map[string]string{"X-Forwarded-For": forged}) {
					case http.StatusOK:
						admitted.Add(1)
					case http.StatusTooManyRequests:
						limited.Add(1)
					default:
						other.Add(1)
					}
				}
			})
		}
		inner.Wait()
		h.ForgedTook = time.Since(start)
	})
	wg.Go(func() { h.SlowestRefusal = anonymousLargeCalls(t, s, 40) })
	wg.Wait()
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		t.Fatal(err)
	}
	h.CPU = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
	h.Admitted, h.Limited, h.Other = admitted.Load(), limited.Load(), other.Load()
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.Result, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
