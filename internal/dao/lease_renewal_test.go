package dao_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// A lease that ran out is not renewed, even by its owner while nobody
// took it over: another instance may be claiming it at that moment. The
// renewal writes nothing (not the count it carries), and the job or run
// is due for anyone to claim, its owner included.
func TestALeaseThatRanOutIsNotRenewed(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		const lease = 50 * time.Millisecond
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}

		p := dao.NewPrivacy(db)
		upTo := int64(0)
		job := model.Erasure{TenantID: tenant.ID, SubjectKind: model.SubjectName, Subject: "Guest Li", Status: model.ErasurePending,
			ConversationsTotal: 5, ConversationsUpTo: &upTo}
		if err := p.CreateErasure(ctx, &job); err != nil {
			t.Fatal(err)
		}
		if e, err := p.ClaimErasure(ctx, "first", lease); err != nil || e == nil || e.ID != job.ID {
			t.Fatalf("claim: %+v %v", e, err)
		}
		if ok, err := p.ErasureProgress(ctx, job.ID, "first", 1, lease); !ok || err != nil {
			t.Fatalf("a renewal within the lease: %v %v", ok, err)
		}
		time.Sleep(2 * lease)
		if ok, err := p.ErasureProgress(ctx, job.ID, "first", 1, lease); ok || err != nil {
			t.Fatalf("erasure progress after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if ok, err := p.ErasureGrew(ctx, job.ID, "first", 9, false, lease); ok || err != nil {
			t.Fatalf("an erasure's new total after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if e, err := p.GetErasure(ctx, tenant.ID, job.ID); err != nil || e.ConversationsDeleted != 1 || e.ConversationsTotal != 5 {
			t.Fatalf("the job after refused renewals: %+v %v, want 1 deleted of 5", e, err)
		}
		if e, err := p.ClaimErasure(ctx, "second", time.Minute); err != nil || e == nil || e.ID != job.ID {
			t.Fatalf("another instance's claim of the job: %+v %v", e, err)
		}

		r := dao.NewRetention(db)
		if ok, err := r.ClaimRetention(ctx, tenant.ID, "first", time.Now(), lease); !ok || err != nil {
			t.Fatalf("claim the retention run: %v %v", ok, err)
		}
		if ok, err := r.RenewRetention(ctx, tenant.ID, "first", 1, lease); !ok || err != nil {
			t.Fatalf("a retention renewal within the lease: %v %v", ok, err)
		}
		time.Sleep(2 * lease)
		if ok, err := r.RenewRetention(ctx, tenant.ID, "first", 1, lease); ok || err != nil {
			t.Fatalf("a retention renewal after the lease ran out: renewed %v (%v), want refused", ok, err)
		}
		if ok, err := r.ClaimRetention(ctx, tenant.ID, "second", time.Now(), time.Minute); !ok || err != nil {
			t.Fatalf("another instance's claim of the retention run: %v %v", ok, err)
		}
	})
}
