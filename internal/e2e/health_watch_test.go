//go:build e2e

package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestHealthWatchLastsUntilTheDrain: a grpc.health.v1 Watch lasts as long
// as its client keeps it (the request timeout cut it, 1 s here), and the
// drain tells it NOT_SERVING and then ends it, so a watching client does
// not hold the stop until the drain deadline (20 s here).
func TestHealthWatchLastsUntilTheDrain(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_GRPC_REQUEST_TIMEOUT": "1s", "MGV_PROCESS_DRAIN_TIMEOUT": "20s"})
	s.Start()
	cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.TLSConfig(false))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cc.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		status healthpb.HealthCheckResponse_ServingStatus
		err    error
		at     time.Time
	}
	recv := make(chan got, 8)
	go func() {
		for {
			m, err := w.Recv()
			recv <- got{m.GetStatus(), err, time.Now()}
			if err != nil {
				return
			}
		}
	}()
	if g := <-recv; g.err != nil || g.status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch answer: %v %v", g.status, g.err)
	}
	select {
	case g := <-recv:
		t.Fatalf("the Watch ended or changed after the request timeout: %v %v", g.status, g.err)
	case <-time.After(2500 * time.Millisecond):
	}

	pid := s.PID()
	stopped := time.Now()
	s.Signal(syscall.SIGTERM)
	var sawNotServing bool
	for g := range recv {
		if g.err == nil {
			sawNotServing = sawNotServing || g.status == healthpb.HealthCheckResponse_NOT_SERVING
			continue
		}
		if took := g.at.Sub(stopped); took > 3*time.Second {
			t.Errorf("the Watch ended %s after SIGTERM", took)
		}
		break
	}
	if !sawNotServing {
		t.Error("the Watch ended without NOT_SERVING")
	}
	if !WaitGone(pid, 8*time.Second) {
		t.Fatal("the process did not stop within 8 s of its 20 s drain deadline")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))
}
