package dao_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// speakerCall writes a conversation of the tenant in which a speaker named
// name takes part, as a user when userID is not 0, and returns its id.
func speakerCall(t *testing.T, db *gorm.DB, tenant int64, name string, userID int64) int64 {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var n int64
	if err := db.Model(&model.Conversation{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	c := model.Conversation{TenantID: tenant, OriginConversationID: fmt.Sprint("call", n), OwnerUserID: 1, Channel: "call",
		Direction: "unknown", Status: "pending", BeginTime: now, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	p := model.Participant{TenantID: tenant, ConversationID: c.ID, SpeakerKey: "cust", Name: name, Affiliation: model.AffiliationExternal}
	if userID != 0 {
		p.UserID = &userID
	}
	if err := db.Create(&p).Error; err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// An erasure's scope is the tenant's highest conversation id and the
// conversations up to it where a speaker who is not a user carries the
// name; listing and counting stop at the bound, so a conversation added
// later is outside it. A user speaking under the name, another tenant's
// conversations and a tenant without any count for nothing.
func TestExternalConversationsStopAtTheBound(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		first := speakerCall(t, db, 7, "Guest Ma", 0)
		speakerCall(t, db, 7, "Guest Ma", 42)
		speakerCall(t, db, 8, "Guest Ma", 0)
		third := speakerCall(t, db, 7, "Guest Ma", 0)
		last := speakerCall(t, db, 7, "Someone Else", 0)

		upTo, n, err := p.ErasureScope(ctx, 7, []string{"Guest Ma"})
		if err != nil || upTo != last || n != 2 {
			t.Fatalf("scope: up to %d, %d conversations, %v; want up to %d, 2", upTo, n, err, last)
		}
		if upTo, n, err := p.ErasureScope(ctx, 9, []string{"Guest Ma"}); err != nil || upTo != 0 || n != 0 {
			t.Fatalf("scope of a tenant without conversations: %d %d %v", upTo, n, err)
		}

		later := speakerCall(t, db, 7, "Guest Ma", 0)
		ids, err := p.ExternalConversations(ctx, 7, []string{"Guest Ma"}, upTo, 10)
		if err != nil || !slices.Equal(ids, []int64{first, third}) {
			t.Fatalf("up to the bound: %v %v, want %d and %d", ids, err, first, third)
		}
		if ids, err := p.ExternalConversations(ctx, 7, []string{"Guest Ma"}, upTo, 1); err != nil || !slices.Equal(ids, []int64{first}) {
			t.Fatalf("one up to the bound: %v %v", ids, err)
		}
		if ids, err := p.ExternalConversations(ctx, 7, []string{"Guest Ma"}, later, 10); err != nil || !slices.Equal(ids, []int64{first, third, later}) {
			t.Fatalf("up to the later conversation: %v %v", ids, err)
		}
		for _, c := range []struct{ upTo, want int64 }{{upTo, 2}, {later, 3}, {first - 1, 0}} {
			if n, err := p.CountExternalConversations(ctx, 7, []string{"Guest Ma"}, c.upTo); err != nil || n != c.want {
				t.Errorf("count up to %d: %d %v, want %d", c.upTo, n, err, c.want)
			}
		}
		if upTo, n, err := p.ErasureScope(ctx, 7, []string{"Guest Ma"}); err != nil || upTo != later || n != 3 {
			t.Fatalf("scope now: %d %d %v", upTo, n, err)
		}
	})
}

// Migration 0016 leaves the jobs of before it without a bound; the first
// BoundErasure gives one the tenant's highest conversation id at that
// moment and later calls keep it.
func TestErasureFromBefore0016GetsItsBoundOnce(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		migrateTo(t, db, 15)
		speakerCall(t, db, 7, "Guest Ma", 0)
		at := speakerCall(t, db, 7, "Guest Ma", 0)
		speakerCall(t, db, 8, "Guest Ma", 0)
		now := time.Now().UTC()
		for _, status := range []string{model.ErasurePending, model.ErasureDone} {
			if err := db.Exec("INSERT INTO privacy_erasures (tenant_id, subject_kind, subject, status, conversations_total, lease_until, created_at, updated_at) "+
				"VALUES (7, 'name', 'Guest Ma', ?, 2, ?, ?, ?)", status, now, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		if applied, err := dao.NewMigrator(db).Up(ctx); err != nil || len(applied) == 0 || applied[0].Name != "0016_erasure_bound" {
			t.Fatalf("up: %v %v", applied, err)
		}
		p := dao.NewPrivacy(db)
		pending, err := p.GetErasure(ctx, 7, 1)
		if err != nil || pending.Status != model.ErasurePending || pending.ConversationsUpTo != nil {
			t.Fatalf("a pending job of before 0016: %+v %v", pending, err)
		}
		upTo, err := p.BoundErasure(ctx, 7, 1)
		if err != nil || upTo != at {
			t.Fatalf("bound: %d %v, want %d", upTo, err, at)
		}
		speakerCall(t, db, 7, "Guest Ma", 0)
		if upTo, err := p.BoundErasure(ctx, 7, 1); err != nil || upTo != at {
			t.Fatalf("bound again after an ingest: %d %v, want %d", upTo, err, at)
		}
		if e, err := p.GetErasure(ctx, 7, 1); err != nil || e.ConversationsUpTo == nil || *e.ConversationsUpTo != at {
			t.Fatalf("job: %+v %v", e, err)
		}
		if e, err := p.GetErasure(ctx, 7, 2); err != nil || e.ConversationsUpTo != nil {
			t.Fatalf("a done job of before 0016: %+v %v", e, err)
		}
		if _, err := p.BoundErasure(ctx, 8, 1); err == nil {
			t.Fatal("bound of another tenant's job")
		}
	}, daotest.Unmigrated)
}

// Names are matched byte for byte: MariaDB's collation takes "jose nunez"
// for José Núñez and ignores trailing spaces, and an erasure of one would
// delete the other's conversations. ExternalNames lists every spelling
// stored, also those the collation deems equal, and the speakers' keys
// (each of these speakers is keyed "cust"), which are labels too.
func TestExternalNamesAreMatchedExactly(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		spellings := []string{"José Núñez", "jose nunez", "JOSE NUNEZ", "jose nunez ", "Alice@Example.COM", " alice@example.com "}
		ids := map[string]int64{}
		for _, name := range spellings {
			ids[name] = speakerCall(t, db, 7, name, 0)
		}
		speakerCall(t, db, 7, "jose nunez", 42) // a user: not an outside speaker
		speakerCall(t, db, 8, "jose nunez", 0)  // another tenant
		all, err := p.ExternalNames(ctx, 7, func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(all)
		want := append(slices.Clone(spellings), "cust")
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("ExternalNames = %q, want every spelling %q", all, want)
		}
		for _, name := range spellings {
			got, err := p.ExternalConversations(ctx, 7, []string{name}, math.MaxInt64, 10)
			if err != nil || !slices.Equal(got, []int64{ids[name]}) {
				t.Fatalf("conversations of %q: %v, %v; want only %d", name, got, err, ids[name])
			}
			if n, err := p.CountExternalConversations(ctx, 7, []string{name}, math.MaxInt64); err != nil || n != 1 {
				t.Fatalf("count of %q: %d, %v; want 1", name, n, err)
			}
			m, err := p.FindPerson(ctx, 7, model.SubjectName, []string{name}, []string{name})
			if err != nil || !slices.Equal(m.External, []int64{ids[name]}) {
				t.Fatalf("FindPerson(%q): %v, %v; want only %d", name, m.External, err, ids[name])
			}
		}
		if _, n, err := p.ErasureScope(ctx, 7, []string{"jose nunez", "JOSE NUNEZ"}); err != nil || n != 2 {
			t.Fatalf("scope of two spellings: %d, %v; want 2", n, err)
		}
		if n, err := p.CountExternalConversations(ctx, 7, []string{"cust"}, math.MaxInt64); err != nil || n != int64(len(spellings)) {
			t.Fatalf("count of the key cust: %d, %v; want every outside speaker's %d", n, err, len(spellings))
		}
		if _, n, err := p.ErasureScope(ctx, 7, nil); err != nil || n != 0 {
			t.Fatalf("scope of no name: %d, %v; want 0", n, err)
		}
	})
}

// A person's user is found by their identifier byte for byte, and by a
// phone in the forms stored before E.164 normalisation (as sign-in finds
// it), the E.164 form first: MariaDB's collation takes jose@example.com
// for josé@example.com and hr-7 for HR-7, and a lookup by E.164 alone
// misses a user who still signs in with 13800138000. An erasure of one
// person must never anonymise another, nor miss the one it is about.
func TestFindUserMatchesEveryStoredFormAndNothingElse(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		user := func(tenant int64, name, email, phone, origin string) int64 {
			u := model.User{TenantID: tenant, Name: name, Role: model.RoleRep, Status: model.UserActive, CreatedAt: now, UpdatedAt: now}
			if email != "" {
				u.Email = &email
			}
			if phone != "" {
				u.Phone = &phone
			}
			if origin != "" {
				u.OriginUserID = &origin
			}
			if err := db.Create(&u).Error; err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		legacy := user(7, "legacy", "", "13800138000", "")
		accented := user(7, "accented", "josé@example.com", "", "HR-7")
		user(8, "other tenant", "", "13900139000", "")
		e164 := user(7, "e164", "", "+8613700137000", "")
		user(7, "old form of the same", "", "13700137000", "")

		for _, c := range []struct {
			kind   string
			values []string
			want   int64 // 0: none
		}{
			{model.SubjectPhone, []string{"+8613800138000", "13800138000", "8613800138000"}, legacy},
			{model.SubjectPhone, []string{"+8613800138000"}, 0},
			{model.SubjectPhone, []string{"+8613900139000", "13900139000"}, 0},
			{model.SubjectPhone, []string{"+8613700137000", "13700137000"}, e164},
			{model.SubjectEmail, []string{"josé@example.com"}, accented},
			{model.SubjectEmail, []string{"jose@example.com"}, 0},
			{model.SubjectEmail, []string{"josé@example.com "}, 0},
			{model.SubjectOriginUserID, []string{"HR-7"}, accented},
			{model.SubjectOriginUserID, []string{"hr-7"}, 0},
			{model.SubjectName, []string{"legacy"}, legacy},
			{model.SubjectName, []string{"other tenant"}, 0},
			{model.SubjectName, []string{"Legacy"}, 0},
			{model.SubjectPhone, nil, 0},
		} {
			u, err := p.FindUser(ctx, 7, c.kind, c.values)
			if err != nil {
				t.Fatal(err)
			}
			var got int64
			if u != nil {
				got = u.ID
			}
			if got != c.want {
				t.Errorf("FindUser(%s %q) = user %d, want %d", c.kind, c.values, got, c.want)
			}
		}
	})
}
