//go:build e2e && bench

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// The peers' chains, as the rows name them (tools/peers).
const (
	kratosChain = "kratos v2.8.3: recovery, OpenTelemetry tracing (Jaeger collector over HTTP, every call sampled), logging to a file, metrics (OpenTelemetry to Prometheus), BBR rate limit, SRE breaker per operation"
	goZeroChain = "go-zero v1.10.3 default chains, every call sampled to the Jaeger collector over HTTP (OpenTelemetry): rest trace, log to a file, prometheus, maxconns, breaker, shedding, timeout, recover, metrics, maxbytes, gunzip; zrpc trace, recover, stat, prometheus, breaker, shedding"
)

// peer is one peer framework's server, started from tools/peers.
type peer struct {
	name, chain      string
	httpAddr, gRPCAd string
}

// peersBinary is the tools/peers executable: $MGV_BENCH_PEERS when
// scripts/bench.sh built it (cached by its sources), else built here.
func peersBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MGV_BENCH_PEERS"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "peers")
	build := exec.Command("go", "build", "-mod=readonly", "-trimpath", "-o", bin, ".")
	build.Dir = filepath.Join(root, "tools", "peers")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tools/peers: %v\n%s", err, out)
	}
	return bin
}

// startPeers starts kratos and go-zero with every call sampled, on the
// service's certificates, and waits until both answer on both ports.
func startPeers(t *testing.T, s *Service) []peer {
	t.Helper()
	bin := peersBinary(t)
	collector := requireEnv(t, "MGV_TEST_JAEGER_COLLECTOR")
	var peers []peer
	for _, p := range []peer{{name: "kratos", chain: kratosChain}, {name: "gozero", chain: goZeroChain}} {
		addrs := freeAddrs(t, 3)
		dir := t.TempDir()
		cmd := exec.Command(bin, "-framework", p.name, "-http", addrs[0], "-grpc", addrs[1], "-admin", addrs[2],
			"-ssl", s.Env["MGV_SSL_DIR"], "-log", filepath.Join(dir, "access.log"),
			"-collector", collector, "-sample", "1")
		cmd.Dir = dir
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("%s did not report its addresses: %v\n%s", p.name, err, stderr.String())
		}
		go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("%s printed %q", p.name, line)
		}
		p.httpAddr, p.gRPCAd = strings.TrimPrefix(f[0], "http="), strings.TrimPrefix(f[1], "grpc=")
		waitPeer(t, p, tlsDial(s))
		peers = append(peers, p)
	}
	return peers
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// waitPeer waits until p answers the ping on both ports.
func waitPeer(t *testing.T, p peer, dial func() *grpc.DialOption) {
	t.Helper()
	conn, err := grpc.NewClient(p.gRPCAd, *dial())
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, conn)
	client := openv1.NewSystemServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, herr := httpGetQuick("http://" + p.httpAddr + "/api/v1/ping")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, gerr := client.Ping(ctx, &openv1.PingRequest{})
		cancel()
		if herr == nil && code == http.StatusOK && gerr == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving within 30 s: HTTP %d %v, gRPC %v", p.name, code, herr, gerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// arm is one server measured in the interleaved rounds.
type arm struct {
	name    string
	measure func() (rate float64, refused int64)
	total   float64
	refused int64
}

// interleave runs rounds of every arm, rotating the order each round so no
// arm always follows the same one.
func interleave(rounds int, arms []*arm) {
	for i := 0; i < rounds; i++ {
		for j := range arms {
			a := arms[(i+j)%len(arms)]
			r, n := a.measure()
			a.total += r
			a.refused += n
		}
	}
}

// sampledRun describes a P1s or P2s run for its rows.
type sampledRun struct {
	id, what, unit, command string
	bar                     float64
	rounds                  int
	// note, when set, adds to the service's row what the run found
	// about its cost once every arm has run.
	note func() string
}

// sampledRows measures bare, mgvcore and the peers interleaved, then
// records the service's row (its bar, and ahead of every peer) and a row
// per peer beside it: its ratio to the same bare baseline, and whether
// mgvcore is ahead of it.
func sampledRows(t *testing.T, r sampledRun, base, mgv *arm, peerArms []*arm, peers []peer) {
	interleave(r.rounds, append([]*arm{base, mgv}, peerArms...))
	per := func(a *arm) float64 { return a.total / float64(r.rounds) }
	ratio := mgv.total / base.total
	ahead := true
	for _, p := range peerArms {
		ahead = ahead && ratio > p.total/base.total
	}
	what := r.what
	if r.note != nil {
		what += r.note()
	}
	record(t, Row{
		ID: r.id, What: what, Target: fmt.Sprintf("≥ %.2f, and ahead of both peers", r.bar),
		Measured: fmt.Sprintf("%.0f %s", per(mgv), r.unit), Baseline: fmt.Sprintf("%.0f %s", per(base), r.unit),
		Result: fmt.Sprintf("%.2f", ratio), Pass: ratio >= r.bar && ahead, Command: r.command,
	})
	for i, p := range peerArms {
		pr := p.total / base.total
		refused := ""
		if p.refused > 0 {
			refused = fmt.Sprintf(" (%d calls refused by its own chain, not counted)", p.refused)
		}
		record(t, Row{
			ID: r.id + "-" + p.name, What: fmt.Sprintf("peer beside %s, same run and method: %s", r.id, peers[i].chain),
			Target: fmt.Sprintf("mgvcore's %s ahead", r.id), Measured: fmt.Sprintf("%.0f %s%s", per(p), r.unit, refused),
			Baseline: fmt.Sprintf("%.0f %s", per(base), r.unit), Result: fmt.Sprintf("%.2f (mgvcore %.2f)", pr, ratio),
			Pass: ratio > pr, Command: r.command,
		})
	}
}

// TestBenchP1sHTTPSampledWithPeers: P1 with every request sampled and
// reported to Jaeger, beside kratos and go-zero doing the same.
func TestBenchP1sHTTPSampledWithPeers(t *testing.T) {
	s := benchService(t, tracingEnv(t, "const", "1"))
	s.Start()
	bareHTTP, _ := bare(t, s.Env["MGV_SSL_DIR"])
	peers := startPeers(t, s)

	round, rounds := benchRound(8*time.Second), 2
	procs := newBenchProcs(t, s.PID())
	wrkArm := func(name, url string) *arm {
		return &arm{name: name, measure: func() (float64, int64) {
			procs.quiet(t, quietTimeout())
			return wrkOK(t, url, round)
		}}
	}
	var baseUse, mgvUse armUse
	costed := func(u *armUse, url string) func() (float64, int64) {
		return func() (float64, int64) {
			procs.quiet(t, quietTimeout())
			return procs.measured(t, u, round, func() float64 { return wrk(t, url, round) }), 0
		}
	}
	base := &arm{name: "bare", measure: costed(&baseUse, "http://"+bareHTTP+"/api/v1/ping")}
	mgv := &arm{name: "mgvcore", measure: costed(&mgvUse, s.URL("/api/v1/ping"))}
	var peerArms []*arm
	for _, p := range peers {
		peerArms = append(peerArms, wrkArm(p.name, "http://"+p.httpAddr+"/api/v1/ping"))
	}
	sampledRows(t, sampledRun{
		id: "P1s", bar: 0.65, unit: "req/s", rounds: rounds,
		what:    fmt.Sprintf("P1 with every request sampled (const sampler) and reported to Jaeger's collector over HTTP; bare Echo, mgvcore, kratos and go-zero interleaved in one run (wrk -t2 -c64, %d×%s each, order rotated per round, each arm starting with the other processes idle)", rounds, round),
		command: "make bench (TestBenchP1sHTTPSampledWithPeers; peers from tools/peers)",
		note:    func() string { return ceilingNote(baseUse, mgvUse, "jaeger", "Jaeger's collector") },
	}, base, mgv, peerArms, peers)
}

// TestBenchP2sGRPCSampledWithPeers: P2 with every call sampled, beside the
// kratos and go-zero (zrpc) gRPC servers.
func TestBenchP2sGRPCSampledWithPeers(t *testing.T) {
	s := benchService(t, tracingEnv(t, "const", "1"))
	token := benchAppToken(t, s)
	s.Start()
	_, bareGRPC := bare(t, s.Env["MGV_SSL_DIR"])
	peers := startPeers(t, s)
	dial := tlsDial(s)

	round, rounds := benchRound(5*time.Second), 4
	procs := newBenchProcs(t, s.PID())
	grpcArm := func(name, addr string, use *armUse) *arm {
		return &arm{name: name, measure: func() (float64, int64) {
			procs.quiet(t, quietTimeout())
			if use != nil {
				return procs.measured(t, use, round, func() float64 { return grpcRate(t, addr, dial, round, token) }), 0
			}
			rate, failed, _ := grpcLoad(t, addr, dial, round, token)
			return rate, failed
		}}
	}
	var baseUse, mgvUse armUse
	base := grpcArm("bare", bareGRPC, &baseUse)
	mgv := grpcArm("mgvcore", s.GRPCAddr, &mgvUse)
	var peerArms []*arm
	for _, p := range peers {
		peerArms = append(peerArms, grpcArm(p.name, p.gRPCAd, nil))
	}
	sampledRows(t, sampledRun{
		id: "P2s", bar: 0.75, unit: "calls/s", rounds: rounds,
		what:    fmt.Sprintf("P2 with every call sampled (const sampler) and reported to Jaeger's collector over HTTP; bare grpc-go, mgvcore, kratos and go-zero (zrpc) interleaved in one run (Go load generator: 64 workers, 4 TLS connections, every call with a partner app token, %d×%s each, order rotated per round, each arm starting with the other processes idle)", rounds, round),
		command: "make bench (TestBenchP2sGRPCSampledWithPeers; peers from tools/peers)",
		note:    func() string { return ceilingNote(baseUse, mgvUse, "jaeger", "Jaeger's collector") },
	}, base, mgv, peerArms, peers)
}
