package dao_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// erasureTenants writes tenants named names and returns them.
func erasureTenants(t *testing.T, db *gorm.DB, names ...string) []model.Tenant {
	t.Helper()
	var tenants []model.Tenant
	for _, n := range names {
		tenants = append(tenants, model.Tenant{Name: n, Timezone: "UTC", RateTier: "standard"})
	}
	if err := db.Create(&tenants).Error; err != nil {
		t.Fatal(err)
	}
	return tenants
}

// requestErasures queues n pending erasures of the tenant, each a
// millisecond after the last, and returns their ids.
func requestErasures(t *testing.T, p *dao.Privacy, tenant int64, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		upTo := int64(0)
		e := model.Erasure{TenantID: tenant, SubjectKind: model.SubjectName, Subject: fmt.Sprint("Guest ", i), Status: model.ErasurePending,
			ConversationsUpTo: &upTo}
		if err := p.CreateErasure(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
		time.Sleep(2 * time.Millisecond)
	}
	return ids
}

// Erasure jobs are claimed by turns of tenants, not in the order they
// were requested: a tenant holds at most its share of leased jobs, the
// tenant with the fewest leased goes first, then the one whose due job
// has waited longest, and of a tenant's jobs the oldest request. A job handed back
// at the end of its turn goes on before its tenant's later ones, behind
// the tenants that waited meanwhile.
func TestErasureClaimsTakeTurnsByTenant(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		tenants := erasureTenants(t, db, "A", "B", "C", "D")
		name := map[int64]string{}
		for _, tn := range tenants {
			name[tn.ID] = tn.Name
		}
		p := dao.NewPrivacy(db)
		a := requestErasures(t, p, tenants[0].ID, 5) // a batch of requests first
		b := requestErasures(t, p, tenants[1].ID, 2)
		requestErasures(t, p, tenants[2].ID, 1)

		// Claims that none finishes, as if every worker were busy with its
		// job, two of a tenant's at most.
		owners := map[int64]string{}
		claim := func() *model.Erasure {
			t.Helper()
			owner := fmt.Sprint("w", len(owners))
			e, err := p.ClaimErasure(ctx, owner, time.Hour, 2)
			if err != nil {
				t.Fatal(err)
			}
			if e != nil {
				owners[e.ID] = owner
			}
			return e
		}
		var order []string
		for range 8 {
			e := claim()
			if e == nil {
				break
			}
			order = append(order, name[e.TenantID])
		}
		if got, want := strings.Join(order, ""), "ABCAB"; got != want {
			t.Fatalf("claimed by tenant %s, want %s: two of A's and B's at most, C's before A's second", got, want)
		}
		for _, id := range []int64{a[0], a[1], b[0], b[1]} {
			if owners[id] == "" {
				t.Fatalf("job %d not claimed: each tenant's oldest requests go first (claimed %v)", id, owners)
			}
		}

		// A's first job is handed back at the end of its turn while D asks
		// for an erasure: D has none leased and goes first, then A's job
		// goes on before A's later requests, claimed as resumed.
		if err := p.ReleaseErasures(ctx, owners[a[0]]); err != nil {
			t.Fatal(err)
		}
		delete(owners, a[0])
		time.Sleep(2 * time.Millisecond)
		d := requestErasures(t, p, tenants[3].ID, 1)
		if e := claim(); e == nil || e.ID != d[0] {
			t.Fatalf("claimed %+v, want D's job %d", e, d[0])
		}
		if e := claim(); e == nil || e.ID != a[0] || !e.Resumed {
			t.Fatalf("claimed %+v, want A's job %d handed back, resumed", e, a[0])
		}
		if e := claim(); e != nil {
			t.Fatalf("claimed %+v with every tenant at its share", e)
		}

		// Of two tenants with as many leased, the one whose due job has
		// waited longest goes first: A's later requests have waited since
		// they were made, longer than B's job whose turn just ended, and
		// A's oldest due job is the one handed back. (A tenant that keeps
		// asking for more is not sent to the back by its new requests.)
		for _, id := range []int64{b[0], a[1]} {
			if err := p.ReleaseErasures(ctx, owners[id]); err != nil {
				t.Fatal(err)
			}
			delete(owners, id)
			time.Sleep(2 * time.Millisecond)
		}
		requestErasures(t, p, tenants[0].ID, 1)
		if e := claim(); e == nil || e.ID != a[1] {
			t.Fatalf("claimed %+v, want A's job %d, whose tenant's due job has waited longest", e, a[1])
		}
		if e := claim(); e == nil || e.ID != b[0] {
			t.Fatalf("claimed %+v, want B's job %d", e, b[0])
		}
	})
}

// However many workers on however many instances claim at once, a tenant
// never holds more leased erasure jobs than its share, no job is claimed
// twice, and the other tenants get the rest.
func TestErasureClaimsKeepTheTenantShareAcrossInstances(t *testing.T) {
	twoInstances(t, func(t *testing.T, one, two *gorm.DB) {
		ctx := context.Background()
		tenants := erasureTenants(t, one, "A", "B", "C")
		repos := []*dao.Privacy{dao.NewPrivacy(one), dao.NewPrivacy(two)}
		requestErasures(t, repos[0], tenants[0].ID, 20)
		requestErasures(t, repos[1], tenants[1].ID, 6)
		requestErasures(t, repos[0], tenants[2].ID, 1)
		const share = 2
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed = map[int64]int{}
			held    = map[int64]int{}
			failed  []error
		)
		for w := range 8 {
			wg.Go(func() {
				for {
					e, err := repos[w%2].ClaimErasure(ctx, fmt.Sprint("w", w), time.Hour, share)
					mu.Lock()
					if err != nil {
						failed = append(failed, err)
					} else if e != nil {
						claimed[e.ID]++
						held[e.TenantID]++
					}
					mu.Unlock()
					if err != nil || e == nil {
						return
					}
				}
			})
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("claims failed: %v", failed)
		}
		for id, n := range claimed {
			if n != 1 {
				t.Errorf("job %d claimed %d times", id, n)
			}
		}
		want := map[int64]int{tenants[0].ID: share, tenants[1].ID: share, tenants[2].ID: 1}
		for _, tn := range tenants {
			if held[tn.ID] != want[tn.ID] {
				t.Errorf("tenant %s holds %d leased jobs, want %d (all: %v)", tn.Name, held[tn.ID], want[tn.ID], held)
			}
		}
	})
}
