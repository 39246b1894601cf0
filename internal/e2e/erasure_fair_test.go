//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// A tenant with a long history that asks for a batch of erasures (each
// reads all its text for mentions of the phone number) holds at most half
// of the instance's erasure workers: another tenant's erasure, asked for
// right after, runs beside them and is done about as soon as when the
// workers are idle, long before the batch is.
func TestErasuresOfATenantLeaveOthersAWorkerOnMariaDB(t *testing.T) {
	const convs, erasures = 40, 12
	env := mysqlEnv(t)
	env["MGV_SEARCH_INDEXER"] = "false" // the jobs below delete and redact nothing
	s := NewService(t, env)
	fa := NewFixture(t, s)
	fb := NewFixture(t, s)
	s.Start()
	adminA, adminB := fa.Token(t, fa.Admin), fb.Token(t, fb.Admin)
	begin := time.Now().Add(-25 * time.Hour)

	// B: a couple of short calls.
	pb := newPartner(t, s.GRPC(), fb.AppToken(t))
	for i := range 2 {
		id := pb.create(fmt.Sprintf("b-%d-%s", i, newTag()), fb.Reps[0].ID, begin, 60_000, nil)
		if _, err := pb.put(id, transcript(20, "b"), 10); err != nil {
			t.Fatal(err)
		}
	}
	erase := func(token, phone string) int64 {
		var e controller.ErasureJSON
		authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", token, map[string]any{"phone": phone}).want(t, http.StatusAccepted, "").decode(t, &e)
		if e.Status != model.ErasurePending {
			t.Fatalf("erasure: %+v", e)
		}
		return e.ID
	}
	doneAfter := func(token string, id int64, at time.Time, within time.Duration) time.Duration {
		for time.Since(at) < within {
			if e := erasureOf(t, s, token, id); e.Status == model.ErasureDone {
				return time.Since(at)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("erasure %d not done within %s\n%s", id, within, s.Stderr)
		return 0
	}
	at := time.Now()
	idle := doneAfter(adminB, erase(adminB, "+8613900000001"), at, time.Minute)

	// A: calls of 5,000 sentences each, about 0.6 MB of text.
	line := strings.Repeat("我们今年的预算有限但是很想买", 3)[:40*3-3*2]
	ss := make([]*openv1.Sentence, 5000)
	for k := range ss {
		ss[k] = sentence(int64(k), "rep", fmt.Sprintf("%d %s", k, line))
	}
	pa := newPartner(t, s.GRPC(), fa.AppToken(t))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < convs; i += 4 {
				res, err := pa.conv.CreateConversation(pa.ctx, &openv1.CreateConversationRequest{
					OriginConversationId: fmt.Sprintf("hist-%d", i),
					Owner:                &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: fa.Reps[0].ID},
					Channel:              openv1.Channel_CHANNEL_CALL, Direction: openv1.Direction_DIRECTION_OUTBOUND,
					BeginTime: timestamppb.New(begin), DurationMs: 86_400_000,
					Participants: []*openv1.ParticipantInput{{SpeakerKey: "rep", User: &openv1.ParticipantInput_UserId{UserId: fa.Reps[0].ID}}},
				})
				if err != nil {
					t.Errorf("create: %v", err)
					return
				}
				if _, err := pa.put(res.ConversationId, ss, 1000); err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// A asks for a batch; B asks for one right after.
	var ids []int64
	for i := range erasures {
		ids = append(ids, erase(adminA, fmt.Sprintf("+86139000001%02d", i)))
	}
	at = time.Now()
	busy := doneAfter(adminB, erase(adminB, "+8613900000003"), at, 5*time.Minute)
	pendingA := 0
	for _, id := range ids {
		if erasureOf(t, s, adminA, id).Status != model.ErasureDone {
			pendingA++
		}
	}
	t.Logf("B's erasure done after %v (idle %v); %d of A's %d not done then", busy, idle, pendingA, erasures)
	if busy > 10*max(idle, time.Second) {
		t.Errorf("A's batch of erasures delays B's: done after %v, %v when the workers are idle", busy, idle)
	}
	// First in, first out, B's erasure would wait for the workers to take
	// A's last ones, and be done after all but the last few of them.
	if pendingA < erasures/2 {
		t.Errorf("B's erasure was done only after %d of A's %d: it waited behind them", erasures-pendingA, erasures)
	}
	for _, id := range ids {
		waitErasure(t, s, adminA, id, 5*time.Minute)
	}
}
