package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// scoped is a tenant where an outside speaker takes part in some calls and
// not in others (the bystanders), its admin, the privacy service and an
// erasure runner over it.
type scoped struct {
	db         *gorm.DB
	repo       *dao.Privacy
	tenant     int64
	name       string
	bystanders []int64
	admin      context.Context
	service    *privacy.Service
	runner     *privacy.Runner
	ingested   int
	audit      *auditLog
}

// auditLog keeps the operations the runner records.
type auditLog struct{ ops []string }

func (a *auditLog) Record(_ context.Context, r audit.Record) {
	a.ops = append(a.ops, r.Operation+" "+r.TargetType+" "+r.TargetID+" "+r.Result)
}

// newScoped writes a tenant where name speaks in matches calls and not in
// bystanders others, with privacy.confirm_over at confirmOver and the
// runner deleting batch conversations at a time.
func newScoped(t *testing.T, name string, matches, bystanders int, confirmOver int64, batch int) *scoped {
	t.Helper()
	db := daotest.Open(t)
	tenant, other := guestCalls(t, db, name, matches)
	s := &scoped{db: db, repo: dao.NewPrivacy(db), tenant: tenant, name: name, bystanders: []int64{other},
		admin: accesstest.User(model.RoleAdmin, tenant, 1), audit: &auditLog{}}
	for i := 1; i < bystanders; i++ {
		s.bystanders = append(s.bystanders, call(t, db, tenant, fmt.Sprint("bystander", i), "Someone Else"))
	}
	tx := dao.NewTransactor(db)
	deleter := conversation.NewDeleter(dao.NewConversations(db), tx)
	startIndexer(t, db, tenant)
	s.service = privacy.NewService(s.repo, confirmOver, nil)
	s.runner = privacy.NewRunner(s.repo, deleter, noRevoker{}, tx,
		privacy.RunnerOptions{Batch: batch, Lease: time.Minute, IndexPoll: 20 * time.Millisecond, ConfirmOver: confirmOver, Audit: s.audit}, zerolog.Nop())
	return s
}

// start requests the erasure of the person, and fails unless the job has
// the status and total.
func (s *scoped) start(t *testing.T, status string, total int64) privacy.ErasureView {
	t.Helper()
	e, err := s.service.StartErasure(s.admin, privacy.Subject{Name: s.name})
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != status || e.ConversationsTotal != total || e.ConversationsUpTo == nil {
		t.Fatalf("erasure: %+v, want %s with %d conversations and a bound", e, status, total)
	}
	return e
}

// run has the runner work one job to its end (or its wait for
// confirmation).
func (s *scoped) run(t *testing.T) {
	t.Helper()
	if worked, err := s.runner.RunOnce(context.Background()); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
}

// runToEnd runs the job and fails unless it is done, having deleted n
// conversations of a total of n.
func (s *scoped) runToEnd(t *testing.T, id, n int64) {
	t.Helper()
	s.run(t)
	s.wantJob(t, id, model.ErasureDone, n, n)
}

// job reads an erasure job.
func (s *scoped) job(t *testing.T, id int64) model.Erasure {
	t.Helper()
	e, err := s.repo.GetErasure(context.Background(), s.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ingest writes n calls in which the person speaks: after the request,
// above its bound.
func (s *scoped) ingest(t *testing.T, n int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		s.ingested++
		ids = append(ids, call(t, s.db, s.tenant, fmt.Sprint("later", s.ingested), s.name))
	}
	return ids
}

// joins makes the person a speaker of conversations that exist already,
// as a transcript replaced with them in it does.
func (s *scoped) joins(t *testing.T, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		speaks(t, s.db, s.tenant, id, "cust2", s.name)
	}
}

// wantLeft fails unless, of the conversations ids, exactly want (in id
// order) are still there.
func (s *scoped) wantLeft(t *testing.T, ids, want []int64) {
	t.Helper()
	var left []int64
	if err := s.db.Model(&model.Conversation{}).Where("tenant_id = ? AND id IN ?", s.tenant, ids).Order("id").Pluck("id", &left).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, want) {
		t.Fatalf("of the conversations %v, %v are left, want %v", ids, left, want)
	}
}

// wantJob fails unless the job has the status and counts.
func (s *scoped) wantJob(t *testing.T, id int64, status string, total, deleted int64) model.Erasure {
	t.Helper()
	e := s.job(t, id)
	if e.Status != status || e.ConversationsTotal != total || e.ConversationsDeleted != deleted {
		t.Fatalf("job %d: %s, %d deleted of %d; want %s, %d of %d", id, e.Status, e.ConversationsDeleted, e.ConversationsTotal, status, deleted, total)
	}
	return e
}

// wantCount fails unless err refuses a confirmation with INVALID_ARGUMENT
// on count, naming total.
func wantCount(t *testing.T, err error, total int64) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != "count" ||
		!strings.Contains(e.Message, fmt.Sprint(" ", total)) {
		t.Fatalf("confirm: %v, want INVALID_ARGUMENT on count naming %d", err, total)
	}
}

// A conversation ingested after the request is not the job's: it deletes
// what matched then, and a later request erases the later one.
func TestErasureLeavesConversationsIngestedAfterItsRequest(t *testing.T) {
	s := newScoped(t, "Guest Feng", 3, 1, 10, 2)
	e := s.start(t, model.ErasurePending, 3)
	if *e.ConversationsUpTo != s.bystanders[0] {
		t.Fatalf("erasure up to %d, want %d", *e.ConversationsUpTo, s.bystanders[0])
	}
	later := s.ingest(t, 2)
	s.runToEnd(t, e.ID, 3)
	s.wantLeft(t, later, later)

	again := s.start(t, model.ErasurePending, 2)
	if *again.ConversationsUpTo != later[1] {
		t.Fatalf("second erasure up to %d, want %d", *again.ConversationsUpTo, later[1])
	}
	s.runToEnd(t, again.ID, 2)
	s.wantLeft(t, later, nil)
}

// A job confirmed for N conversations deletes exactly N, however many
// matching conversations are ingested between the request and the
// confirmation.
func TestConfirmedErasureDeletesExactlyTheConfirmedCount(t *testing.T) {
	s := newScoped(t, "Guest Han", 5, 1, 3, 2)
	e := s.start(t, model.ErasureAwaitingConfirmation, 5)
	later := s.ingest(t, 4)
	if _, err := s.service.ConfirmErasure(s.admin, e.ID, 5); err != nil {
		t.Fatal(err)
	}
	s.runToEnd(t, e.ID, 5)
	s.wantLeft(t, later, later)
}

// Matches up to the bound that grow past privacy.confirm_over while the
// job runs: it deletes its total, no more, and waits for the new total to
// be confirmed, released so that any instance takes it once confirmed.
func TestErasureGrowingPastConfirmOverWaitsForConfirmation(t *testing.T) {
	s := newScoped(t, "Guest Yang", 3, 3, 4, 2)
	e := s.start(t, model.ErasurePending, 3)
	grown := s.bystanders[:2]
	s.joins(t, grown...)
	later := s.ingest(t, 1)
	s.run(t)
	waiting := s.wantJob(t, e.ID, model.ErasureAwaitingConfirmation, 5, 3)
	if waiting.LeaseOwner != "" || waiting.FinishedAt != nil || waiting.Subject == "" {
		t.Fatalf("job waiting for confirmation again: %+v", waiting)
	}
	s.wantLeft(t, grown, grown)
	if worked, err := s.runner.RunOnce(context.Background()); worked || err != nil {
		t.Fatalf("ran a job waiting for confirmation: %v %v", worked, err)
	}
	_, err := s.service.ConfirmErasure(s.admin, e.ID, 3)
	wantCount(t, err, 5)
	if _, err := s.service.ConfirmErasure(s.admin, e.ID, 5); err != nil {
		t.Fatal(err)
	}
	s.runToEnd(t, e.ID, 5)
	s.wantLeft(t, append(slices.Clone(s.bystanders), later...), []int64{s.bystanders[2], later[0]})
	id := fmt.Sprint(e.ID)
	if want := []string{"privacy.erasure.await_confirmation erasure " + id + " ok", "privacy.erasure.run erasure " + id + " ok"}; !slices.Equal(s.audit.ops, want) {
		t.Errorf("audited %q, want %q", s.audit.ops, want)
	}
}

// Matches up to the bound that grow but stay within privacy.confirm_over
// raise the job's total, and it goes on to its end.
func TestErasureGrowingUnderConfirmOverRaisesItsTotal(t *testing.T) {
	s := newScoped(t, "Guest Lu", 3, 2, 10, 2)
	e := s.start(t, model.ErasurePending, 3)
	s.joins(t, s.bystanders...)
	later := s.ingest(t, 1)
	s.runToEnd(t, e.ID, 5)
	s.wantLeft(t, append(slices.Clone(s.bystanders), later...), later)
}

// A confirmation of more conversations than are left to delete (some were
// deleted otherwise since the count) stands for those left.
func TestConfirmingMoreThanIsLeftConfirmsWhatIsLeft(t *testing.T) {
	s := newScoped(t, "Guest Tang", 3, 1, 2, 2)
	e := s.start(t, model.ErasureAwaitingConfirmation, 3)
	var gone int64
	if err := s.db.Raw("SELECT MIN(conversation_id) FROM participants WHERE tenant_id = ? AND name = ?", s.tenant, s.name).Scan(&gone).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec("DELETE FROM participants WHERE conversation_id = ?", gone).Error; err != nil {
		t.Fatal(err)
	}
	if v, err := s.service.ConfirmErasure(s.admin, e.ID, 3); err != nil || v.Status != model.ErasurePending || v.ConversationsTotal != 2 {
		t.Fatalf("confirm 3 with 2 left: %+v %v; want pending with 2", v, err)
	}
	s.runToEnd(t, e.ID, 2)
}

// An admin who confirms the number there is now, rather than the job's
// stale total, is not refused: the recount agrees with them.
func TestConfirmingTheCurrentCountIsAccepted(t *testing.T) {
	t.Run("fewer", func(t *testing.T) {
		s := newScoped(t, "Guest Wei", 3, 1, 2, 2)
		e := s.start(t, model.ErasureAwaitingConfirmation, 3)
		if err := s.db.Exec("DELETE FROM participants WHERE conversation_id = (SELECT MIN(conversation_id) FROM participants WHERE tenant_id = ? AND name = ?)",
			s.tenant, s.name).Error; err != nil {
			t.Fatal(err)
		}
		if v, err := s.service.ConfirmErasure(s.admin, e.ID, 2); err != nil || v.Status != model.ErasurePending || v.ConversationsTotal != 2 {
			t.Fatalf("confirm the 2 left of 3: %+v %v; want pending with 2", v, err)
		}
		s.runToEnd(t, e.ID, 2)
	})
	t.Run("more", func(t *testing.T) {
		s := newScoped(t, "Guest Zhou", 3, 2, 2, 2)
		e := s.start(t, model.ErasureAwaitingConfirmation, 3)
		s.joins(t, s.bystanders[0])
		if v, err := s.service.ConfirmErasure(s.admin, e.ID, 4); err != nil || v.Status != model.ErasurePending || v.ConversationsTotal != 4 {
			t.Fatalf("confirm the 4 there are now: %+v %v; want pending with 4", v, err)
		}
		s.runToEnd(t, e.ID, 4)
	})
}

// A confirmation is counted again: with a count gone stale (the person now
// speaks in one more conversation up to the bound) it is refused, naming
// the new total, which the job now states; conversations ingested later
// change nothing.
func TestConfirmingAStaleCountIsRefused(t *testing.T) {
	s := newScoped(t, "Guest Jiang", 3, 2, 2, 2)
	e := s.start(t, model.ErasureAwaitingConfirmation, 3)
	s.joins(t, s.bystanders[0])
	later := s.ingest(t, 2)
	_, err := s.service.ConfirmErasure(s.admin, e.ID, 3)
	wantCount(t, err, 4)
	if ee := (*errs.Error)(nil); !errors.As(err, &ee) || ee.Metadata["conversations_total"] != "4" {
		t.Errorf("confirm: %v, want the metadata conversations_total 4", err)
	}
	s.wantJob(t, e.ID, model.ErasureAwaitingConfirmation, 4, 0)
	if v, err := s.service.ConfirmErasure(s.admin, e.ID, 4); err != nil || v.Status != model.ErasurePending {
		t.Fatalf("confirm the new total: %+v %v", v, err)
	}
	s.runToEnd(t, e.ID, 4)
	kept := append([]int64{s.bystanders[1]}, later...)
	s.wantLeft(t, append([]int64{s.bystanders[0]}, kept...), kept)
	if _, err := s.service.ConfirmErasure(s.admin, e.ID, 4); !errs.Is(err, errs.ReasonErasureNotAwaitingConfirmation) {
		t.Fatalf("confirming a done job: %v", err)
	}
}

// A job from before bounds were kept (migration 0016) gets the tenant's
// highest conversation id when the runner takes it up, and deletes what
// matched up to it.
func TestErasureFromBefore0016GetsItsBoundWhenTakenUp(t *testing.T) {
	s := newScoped(t, "Guest Qin", 3, 1, 10, 2)
	job := model.Erasure{TenantID: s.tenant, SubjectKind: model.SubjectName, Subject: s.name, Status: model.ErasurePending, ConversationsTotal: 3}
	if err := s.repo.CreateErasure(context.Background(), &job); err != nil {
		t.Fatal(err)
	}
	s.run(t)
	if e := s.wantJob(t, job.ID, model.ErasureDone, 3, 3); e.ConversationsUpTo == nil || *e.ConversationsUpTo != s.bystanders[0] {
		t.Fatalf("bound %v, want %d", e.ConversationsUpTo, s.bystanders[0])
	}
}

// A user is erased by what names one person: an erasure by a name that is
// a user's is refused naming the field, and one by a user's origin id
// deletes no conversation of a speaker who is not a user, whatever that
// speaker's name reads (a partner's contact id may be the same string).
func TestErasureOfAUserNeverTakesAnotherPerson(t *testing.T) {
	s := newScoped(t, "1001", 3, 1, 100, 10)
	origin := "1001"
	u := model.User{TenantID: s.tenant, Name: "Rep Alice", Role: model.RoleRep, Status: model.UserActive, OriginUserID: &origin,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := s.db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	_, err := s.service.StartErasure(s.admin, privacy.Subject{Name: "Rep Alice"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != "name" ||
		!strings.Contains(e.Message, fmt.Sprintf("the name of user %d", u.ID)) {
		t.Fatalf("erasure by a user's name: %v, want INVALID_ARGUMENT on name", err)
	}
	v, err := s.service.StartErasure(s.admin, privacy.Subject{OriginUserID: origin})
	if err != nil {
		t.Fatal(err)
	}
	if !v.InternalUser || v.ConversationsTotal != 0 {
		t.Fatalf("erasure by the user's origin id: %+v, want the user and no conversation", v)
	}
	// A name that outside speakers bear too erases them, and leaves the
	// user of that name alone.
	namesake := model.User{TenantID: s.tenant, Name: s.name, Role: model.RoleRep, Status: model.UserActive,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := s.db.Create(&namesake).Error; err != nil {
		t.Fatal(err)
	}
	v, err = s.service.StartErasure(s.admin, privacy.Subject{Name: s.name})
	if err != nil {
		t.Fatal(err)
	}
	if v.InternalUser || v.ConversationsTotal != 3 {
		t.Fatalf("erasure by a name outside speakers and a user bear: %+v, want the 3 conversations and no user", v)
	}
}

// A job left waiting for its confirmation longer than ConfirmWithin ends
// failed, forgetting whom it was to erase, with a record in the trail; a
// confirmation then finds nothing waiting. A job waiting less is left.
func TestErasureNotConfirmedInTimeForgetsItsSubject(t *testing.T) {
	s := newScoped(t, "Guest Wu", 3, 1, 1, 10)
	e := s.start(t, model.ErasureAwaitingConfirmation, 3)
	r := privacy.NewRunner(s.repo, nil, noRevoker{}, dao.NewTransactor(s.db),
		privacy.RunnerOptions{ConfirmWithin: time.Hour, Audit: s.audit}, zerolog.Nop())
	ctx := context.Background()
	stored := func() model.Erasure {
		t.Helper()
		var row model.Erasure
		if err := s.db.First(&row, e.ID).Error; err != nil {
			t.Fatal(err)
		}
		return row
	}
	if err := r.ExpireUnconfirmed(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got.Status != model.ErasureAwaitingConfirmation || got.Subject != s.name {
		t.Fatalf("a job waiting less than an hour: %s, subject %q", got.Status, got.Subject)
	}
	if err := s.db.Exec("UPDATE privacy_erasures SET updated_at = ? WHERE id = ?", time.Now().UTC().Add(-2*time.Hour), e.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := r.ExpireUnconfirmed(ctx); err != nil {
		t.Fatal(err)
	}
	got := stored()
	if got.Status != model.ErasureFailed || got.Subject != "" || got.FinishedAt == nil ||
		!strings.Contains(got.LastError, "not confirmed within 1h0m0s (privacy.confirm_within)") {
		t.Fatalf("a job waiting two hours: %s, subject %q, last error %q", got.Status, got.Subject, got.LastError)
	}
	if want := fmt.Sprintf("privacy.erasure.expire erasure %d ok", e.ID); !slices.Contains(s.audit.ops, want) {
		t.Fatalf("trail %q, want %q", s.audit.ops, want)
	}
	if _, err := s.service.ConfirmErasure(s.admin, e.ID, 3); !errs.Is(err, errs.ReasonErasureNotAwaitingConfirmation) {
		t.Fatalf("confirming the ended job: %v", err)
	}
}
