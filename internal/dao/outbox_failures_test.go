package dao_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// A job's failures count its failed attempts in a row, not its claims: a
// tracker job claimed once per turn, or a search job handed over by a
// draining process, keeps 0 however often it was claimed, so the retry
// after its first failure waits the shortest delay. A failure adds one
// and the next claim reads it; a run without failure (a turn handed
// back, a conversation indexed again) sets it back to 0.
func TestOutboxFailuresCountFailedAttemptsNotClaims(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		outbox := dao.NewOutbox(db)
		boom := errors.New("engine down")

		t.Run("tracker", func(t *testing.T) {
			emptyOutbox(t, db)
			jobs := dao.NewTrackerJobs(db)
			if err := outbox.Enqueue(ctx, model.OutboxJob{TenantID: 1, Kind: model.OutboxTrackerApply, TrackerID: 9, Version: 1}); err != nil {
				t.Fatal(err)
			}
			claim := func(t *testing.T, attempts, failures int) *model.OutboxJob {
				t.Helper()
				j, err := jobs.ClaimTrackerJob(ctx, time.Minute)
				if err != nil || j == nil || j.Attempts != attempts || j.Failures != failures {
					t.Fatalf("claim: %+v %v; want %d attempts, %d failures", j, err, attempts, failures)
				}
				return j
			}
			retry := func(t *testing.T, j *model.OutboxJob, cause error) {
				t.Helper()
				if lost, err := jobs.RetryTrackerJob(ctx, j, time.Now().Add(-time.Millisecond), cause); err != nil || lost {
					t.Fatalf("retry (%v): lost %v, %v", cause, lost, err)
				}
			}
			for turn := 1; turn <= 6; turn++ { // six turns handed back
				retry(t, claim(t, turn, 0), nil)
			}
			retry(t, claim(t, 7, 0), boom)
			if j := outboxRow(t, db, claimedID(t, db)); j.Failures != 1 || j.LastError != boom.Error() {
				t.Fatalf("after a failure: %d failures, error %q", j.Failures, j.LastError)
			}
			retry(t, claim(t, 8, 1), boom)
			retry(t, claim(t, 9, 2), nil)
			claim(t, 10, 0)
		})

		t.Run("search", func(t *testing.T) {
			emptyOutbox(t, db)
			search := dao.NewSearchOutbox(db)
			if err := outbox.Enqueue(ctx, model.OutboxJob{TenantID: 1, Kind: model.OutboxTranscript, ConversationID: 77}); err != nil {
				t.Fatal(err)
			}
			claim := func(t *testing.T, attempts, failures int) model.OutboxJob {
				t.Helper()
				js, err := search.Claim(ctx, 10, time.Minute)
				if err != nil || len(js) != 1 || js[0].Attempts != attempts || js[0].Failures != failures {
					t.Fatalf("claim: %+v %v; want one job, %d attempts, %d failures", js, err, attempts, failures)
				}
				return js[0]
			}
			if lost, err := search.Release(ctx, []model.OutboxJob{claim(t, 1, 0)}); err != nil || lost != 0 {
				t.Fatalf("release: %d lost, %v", lost, err)
			}
			for want := range 3 {
				if lost, err := search.Retry(ctx, claim(t, want+2, want), time.Now().Add(-time.Millisecond), boom); err != nil || lost {
					t.Fatalf("retry: lost %v, %v", lost, err)
				}
			}
			if lost, err := search.Retry(ctx, claim(t, 5, 3), time.Now().Add(-time.Millisecond), nil); err != nil || lost {
				t.Fatalf("retry without a failure: lost %v, %v", lost, err)
			}
			claim(t, 6, 0)
		})
	})
}

// claimedID is the id of the only job queued.
func claimedID(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var ids []int64
	if err := db.Model(&model.OutboxJob{}).Pluck("id", &ids).Error; err != nil || len(ids) != 1 {
		t.Fatalf("queued jobs: %v %v", ids, err)
	}
	return ids[0]
}
