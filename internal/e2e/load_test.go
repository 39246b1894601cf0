//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Load drives steady traffic and counts every outcome.
type Load struct {
	OK     atomic.Int64
	Failed atomic.Int64
	mu     sync.Mutex
	errors []string
}

func (l *Load) fail(err error) {
	l.Failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errors) < 10 {
		l.errors = append(l.errors, err.Error())
	}
}

// Errors returns the first failures seen.
func (l *Load) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errors...)
}

// paced runs workers that each call fn at rate/workers per second until ctx ends.
func paced(ctx context.Context, wg *sync.WaitGroup, rate, workers int, fn func(context.Context)) {
	interval := time.Duration(workers) * time.Second / time.Duration(rate)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now()
			for ctx.Err() == nil {
				fn(ctx)
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
			}
		}()
	}
}

// HTTPLoad sends GET url at rate requests per second.
func HTTPLoad(ctx context.Context, wg *sync.WaitGroup, url string, rate int) *Load {
	return HTTPRequestLoad(ctx, wg, rate, func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return req
	})
}

// HTTPRequestLoad sends the requests newRequest makes at rate requests per
// second, over kept-alive connections; any answer but 200 fails.
func HTTPRequestLoad(ctx context.Context, wg *sync.WaitGroup, rate int, newRequest func() *http.Request) *Load {
	l := &Load{}
	const workers = 8
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers * 2},
	}
	paced(ctx, wg, rate, workers, func(ctx context.Context) {
		resp, err := client.Do(newRequest())
		if err != nil {
			if ctx.Err() == nil {
				l.fail(err)
			}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		// Drained: a close error says nothing of the request measured.
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			l.fail(fmt.Errorf("status %d", resp.StatusCode))
			return
		}
		l.OK.Add(1)
	})
	return l
}

// GRPCLoad calls grpc.health.v1 Check at rate calls per second. A draining
// process rightly answers NOT_SERVING, so only RPC errors count as failures.
func GRPCLoad(ctx context.Context, wg *sync.WaitGroup, conn *grpc.ClientConn, rate int) *Load {
	l := &Load{}
	client := healthpb.NewHealthClient(conn)
	paced(ctx, wg, rate, 8, func(ctx context.Context) {
		callCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := client.Check(callCtx, &healthpb.HealthCheckRequest{}); err != nil {
			l.fail(err)
			return
		}
		l.OK.Add(1)
	})
	return l
}
