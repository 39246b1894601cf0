//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestEmbeddedUpgradeKeepsSearchAnswering upgrades the embedded default
// (one process at a time can hold the bleve index) while searches and
// transcripts, new ones and rewrites of earlier ones, go on: no search
// (HTTP or gRPC) and no upload may fail, none may wait 2 s, and every
// acknowledged transcript is found afterwards. Some upgrades come more
// than the purge delay after a rewrite, so that they find the old process
// purging. An HTTP search sent on a keep-alive connection just as the old
// process closes it is sent again once (a POST is not retried by the
// client itself): that race is any HTTP server's, not the index's.
func TestEmbeddedUpgradeKeepsSearchAnswering(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_PROCESS_DRAIN_TIMEOUT": "3s"})
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	tag := newTag()

	var (
		acked, searches, rewrites, resent atomic.Int64
		slowest                           atomic.Int64
		mu                                sync.Mutex
		failures                          []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := newPartner(t, s.GRPC(), f.AppToken(t))
		var ids []int64
		for i := 0; ctx.Err() == nil; i++ {
			if i%3 == 2 {
				// A rewrite deletes the sentences indexed before: a purge follows.
				id := ids[rand.IntN(len(ids))]
				if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", fmt.Sprintf("rewritten %s %d", tag, i))}, 10); err != nil {
					fail("rewrite of %d: %v", id, err)
				}
				rewrites.Add(1)
				continue
			}
			id := p.create(fmt.Sprintf("%s-%d", tag, i), f.Reps[i%4].ID, time.Now().Add(-time.Hour), 60_000, nil)
			if _, err := p.put(id, transcript(4, tag), 10); err != nil {
				fail("transcript %d: %v", id, err)
				continue
			}
			ids = append(ids, id)
			acked.Add(1)
		}
	}()
	searchOnce := func() (int, string, error) {
		r, err := tryCall(s, http.MethodPost, "/api/v1/search", admin, map[string]any{"query": tag})
		if err != nil {
			resent.Add(1)
			r, err = tryCall(s, http.MethodPost, "/api/v1/search", admin, map[string]any{"query": tag})
		}
		return r.Status, r.Reason + " " + r.Msg, err
	}
	grpcSearch := openv1.NewSearchServiceClient(s.GRPC())
	appCtx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+f.AppToken(t))
	searchGRPC := func() (int, string, error) {
		if _, err := grpcSearch.SearchTranscripts(appCtx, &openv1.SearchTranscriptsRequest{Query: tag}); err != nil {
			return 0, "", err
		}
		return http.StatusOK, "", nil
	}
	for _, search := range []func() (int, string, error){searchOnce, searchOnce, searchGRPC} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				began := time.Now()
				status, why, err := search()
				took := time.Since(began)
				if took > time.Duration(slowest.Load()) {
					slowest.Store(int64(took))
				}
				searches.Add(1)
				switch {
				case err != nil:
					fail("search: %v", err)
				case status != http.StatusOK:
					fail("search: %d %s", status, why)
				case took > 6*time.Second:
					// A search waits for the index at most 5 s (HandoverWait).
					fail("search answered after %s", took)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	time.Sleep(time.Second)
	for i := 0; i < 6; i++ {
		old := s.PID()
		s.Signal(syscall.SIGUSR2)
		next := waitNewPID(t, s, old, 10*time.Second)
		if !WaitGone(old, 10*time.Second) {
			t.Fatalf("upgrade %d: old process %d still running", i+1, old)
		}
		t.Logf("upgrade %d: %d → %d", i+1, old, next)
		time.Sleep(time.Duration(500+rand.IntN(6000)) * time.Millisecond)
	}
	stop()
	wg.Wait()
	t.Logf("%d transcripts and %d rewrites acknowledged, %d searches (slowest %s, %d sent again) across 6 upgrades",
		acked.Load(), rewrites.Load(), searches.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), resent.Load())
	if len(failures) > 0 {
		t.Fatalf("%d failures during the upgrades; first: %s", len(failures), strings.Join(failures[:min(5, len(failures))], " | "))
	}
	waitSearch(t, s, admin, tag, acked.Load(), 15*time.Second)
	if strings.Contains(s.Stderr.String(), "upgrade failed") {
		t.Errorf("an upgrade failed:\n%s", s.Stderr)
	}
}
