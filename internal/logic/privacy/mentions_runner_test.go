package privacy_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// mentionCase is a tenant where nobody speaks under a phone number, but a
// rep reads it out in a call titled with it, a deal's account is named by
// it, and another tenant writes it too; and a pending job erasing it.
type mentionCase struct {
	erasureCase
	call, elsewhere int64
	deal            model.Deal
}

const (
	mentionPhone  = "+8613800138000"
	mentionSpoken = "please call me back on 138-0013-8000, thanks"
)

func pendingMention(t *testing.T) mentionCase {
	t.Helper()
	c := mentionCase{erasureCase: pendingErasure(t, "Guest Ma", 0)}
	c.call = call(t, c.db, c.tenant, "mention", "Someone Else")
	c.elsewhere = call(t, c.db, c.tenant+1, "mention", "Someone Else")
	for _, id := range []int64{c.call, c.elsewhere} {
		if err := c.db.Model(&model.Conversation{}).Where("id = ?", id).Updates(map[string]any{"title": "follow up 13800138000", "transcript_version": 1}).Error; err != nil {
			t.Fatal(err)
		}
		var conv model.Conversation
		if err := c.db.First(&conv, id).Error; err != nil {
			t.Fatal(err)
		}
		parts, err := dao.TranscriptParts(conv, []model.Sentence{{Seq: 0, SpeakerKey: "cust", Text: mentionSpoken}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.db.Create(&parts).Error; err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c.deal = model.Deal{TenantID: c.tenant, OriginDealID: "d1", Name: "renewal", AccountName: "+86 138 0013 8000", CreatedAt: now, UpdatedAt: now}
	if err := c.db.Create(&c.deal).Error; err != nil {
		t.Fatal(err)
	}
	// The job erases the number instead of the name it was written for.
	if err := c.db.Model(&model.Erasure{}).Where("id = ?", c.job.ID).Updates(map[string]any{
		"subject_kind": model.SubjectPhone, "subject": mentionPhone, "conversations_up_to": c.call,
	}).Error; err != nil {
		t.Fatal(err)
	}
	return c
}

// runWhileIndexDown runs a job with the indexer down and checks that it
// waits for it, then brings the indexer up and waits for the job's end.
func runWhileIndexDown(t *testing.T, c mentionCase, r *privacy.Runner) {
	t.Helper()
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := r.RunOnce(ctx)
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.Status != model.ErasurePending {
		t.Fatalf("done while the index still holds the mentions: %+v %v", e, err)
	}
	c.index.catchUp(t, errc)
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.Status != model.ErasureDone {
		t.Fatalf("job: %+v %v", e, err)
	}
}

// TestErasureRedactsWhereTextWritesTheNumber: an erasure by phone number
// writes [erased] where the tenant's titles, transcripts and deals write
// the number, in any grouping, raises the transcript's version, and is
// done only once the index has the redacted transcript. Another tenant's
// text is left alone.
func TestErasureRedactsWhereTextWritesTheNumber(t *testing.T) {
	c := pendingMention(t)
	c.index.halt()
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	runWhileIndexDown(t, c, r)

	ctx := context.Background()
	convs := dao.NewConversations(c.db)
	for _, w := range []struct {
		tenant, id  int64
		title, text string
		version     int64
	}{
		{c.tenant, c.call, "follow up [erased]", "please call me back on [erased], thanks", 2},
		{c.tenant + 1, c.elsewhere, "follow up 13800138000", mentionSpoken, 1},
	} {
		var conv model.Conversation
		if err := c.db.First(&conv, w.id).Error; err != nil {
			t.Fatal(err)
		}
		sentences, err := convs.Sentences(ctx, w.tenant, w.id)
		if err != nil || len(sentences) != 1 || sentences[0].Text != w.text || conv.Title != w.title || conv.TranscriptVersion != w.version {
			t.Errorf("conversation %d: title %q, version %d, sentences %+v %v; want %q, %d, %q", w.id, conv.Title, conv.TranscriptVersion, sentences, err, w.title, w.version, w.text)
		}
	}
	var deal model.Deal
	if err := c.db.First(&deal, c.deal.ID).Error; err != nil || deal.AccountName != privacy.Redacted || deal.Name != "renewal" {
		t.Errorf("deal: %+v %v", deal, err)
	}
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.ConversationsRedacted != 1 || e.DealsRedacted != 1 {
		t.Errorf("counts of the job: %d conversations, %d deals redacted, %v; want 1 and 1", e.ConversationsRedacted, e.DealsRedacted, err)
	}
}

// TestErasureResumedWaitsForTheRedactionsOfItsDeadHolder: an instance
// redacts the mentions and dies before the index has them; the instance
// that resumes the job finds no mention left, and still waits for the
// index before the job is done.
func TestErasureResumedWaitsForTheRedactionsOfItsDeadHolder(t *testing.T) {
	c := pendingMention(t)
	c.index.halt()
	ctx := context.Background()
	lease := 300 * time.Millisecond
	if e, err := c.repo.ClaimErasure(ctx, "dead", lease, 1); err != nil || e == nil || e.Resumed {
		t.Fatalf("claim: %+v %v", e, err)
	}
	if err := c.tx.InTx(ctx, func(ctx context.Context) error {
		// As the job would: the spellings this test writes.
		_, err := c.repo.RedactConversations(ctx, c.tenant, []int64{c.call}, func(s string) [][2]int {
			var out [][2]int
			for _, loc := range regexp.MustCompile(`13800138000|138-0013-8000`).FindAllStringIndex(s, -1) {
				out = append(out, [2]int{loc[0], loc[1]})
			}
			return out
		}, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lease + 100*time.Millisecond)
	r := privacy.NewRunner(c.repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	runWhileIndexDown(t, c, r)
}

// titleAtRevoke notes, at the first revocation, the title of a
// conversation: whether the tokens ended before the text was read.
type titleAtRevoke struct {
	db    *gorm.DB
	id    int64
	title string
	calls int
}

func (r *titleAtRevoke) Revoke(ctx context.Context, _ string, _, _ int64, _ string) error {
	if r.calls++; r.calls == 1 {
		return r.db.WithContext(ctx).Model(&model.Conversation{}).Where("id = ?", r.id).Pluck("title", &r.title).Error
	}
	return nil
}

// TestErasureOfAUserEndsTheirTokensBeforeReadingForMentions: reading the
// tenant's text may take long, so a user being erased is disabled and
// their tokens end before it, not only once they are anonymised after it.
func TestErasureOfAUserEndsTheirTokensBeforeReadingForMentions(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	phone := mentionPhone
	u := model.User{TenantID: c.tenant, Name: "Rep Ma", Phone: &phone, Role: model.RoleRep, Status: model.UserActive}
	if err := c.db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	if err := c.db.Model(&model.Erasure{}).Where("id = ?", c.job.ID).Update("user_id", u.ID).Error; err != nil {
		t.Fatal(err)
	}
	revoke := &titleAtRevoke{db: c.db, id: c.call}
	r := privacy.NewRunner(c.repo, c.deleter, revoke, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if revoke.title != "follow up 13800138000" || revoke.calls != 2 {
		t.Errorf("first revocation saw the title %q (%d revocations); want it before the redaction, and again at the anonymisation", revoke.title, revoke.calls)
	}
	var after model.User
	if err := c.db.First(&after, u.ID).Error; err != nil || after.Status != model.UserDisabled || after.Phone != nil {
		t.Errorf("user after the erasure: %+v %v", after, err)
	}
}

// writesDuringTheScan is the repository of a tenant where, once the
// erasure has read a conversation and found no mention there, someone
// comments the number on it.
type writesDuringTheScan struct {
	*dao.Privacy
	db      *gorm.DB
	tenant  int64
	call    int64
	written bool
}

func (w *writesDuringTheScan) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(string) [][2]int) ([]int64, int64, error) {
	found, last, err := w.Privacy.FindMentions(ctx, tenantID, after, upTo, limit, since, spans)
	if !w.written && err == nil && last >= w.call {
		w.written = true
		err = w.db.Create(&model.Comment{TenantID: w.tenant, ConversationID: w.call, AuthorUserID: 1, Text: "new number: 138 0013 8000",
			CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}).Error
	}
	return found, last, err
}

// TestErasureReadsAgainWhatChangedWhileItRead: a comment written on a
// conversation after the job has read it is read, and redacted, before the
// job is done; and deals are redacted when the last conversation up to the
// bound is gone.
func TestErasureReadsAgainWhatChangedWhileItRead(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	// The bound is past the tenant's last conversation, as when the
	// erasure deleted the conversation at its bound.
	if err := c.db.Model(&model.Erasure{}).Where("id = ?", c.job.ID).Update("conversations_up_to", c.elsewhere+10).Error; err != nil {
		t.Fatal(err)
	}
	var plain int64
	if err := c.db.Model(&model.Conversation{}).Where("tenant_id = ? AND origin_conversation_id = ?", c.tenant, "c0").Pluck("id", &plain).Error; err != nil {
		t.Fatal(err)
	}
	repo := &writesDuringTheScan{Privacy: c.repo, db: c.db, tenant: c.tenant, call: plain}
	r := privacy.NewRunner(repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	var texts []string
	if err := c.db.Model(&model.Comment{}).Where("conversation_id = ?", plain).Pluck("text", &texts).Error; err != nil || len(texts) != 1 ||
		texts[0] != "new number: [erased]" || !repo.written {
		t.Errorf("comment written during the scan: %q %v (written %v)", texts, err, repo.written)
	}
	var deal model.Deal
	if err := c.db.First(&deal, c.deal.ID).Error; err != nil || deal.AccountName != privacy.Redacted {
		t.Errorf("deal: %+v %v", deal, err)
	}
	// The call with the number in its title and transcript, then the one
	// commented on during the first reading; a resumed job would count
	// neither again, holding no mention any more.
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.ConversationsRedacted != 2 || e.DealsRedacted != 1 {
		t.Errorf("counts of the job: %d conversations, %d deals redacted, %v; want 2 and 1", e.ConversationsRedacted, e.DealsRedacted, err)
	}
}

// readsFrom records where each reading of a job began, and since when.
type readsFrom struct {
	*dao.Privacy
	reads []mentionRead
}

type mentionRead struct {
	after int64
	since time.Time
}

func (r *readsFrom) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(string) [][2]int) ([]int64, int64, error) {
	r.reads = append(r.reads, mentionRead{after, since})
	return r.Privacy.FindMentions(ctx, tenantID, after, upTo, limit, since, spans)
}

// TestErasureTakenOverGoesOnWhereItsReadingStood: a job keeps where its
// reading for mentions stands and when it began; one taken over after a
// kill reads on from there, and reads again what changed since the first
// reading began, not since it was taken over.
func TestErasureTakenOverGoesOnWhereItsReadingStood(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	began := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	// The dead holder read up to the call that mentions the number, and
	// redacted it (it has no mention any more).
	if err := c.db.Model(&model.Erasure{}).Where("id = ?", c.job.ID).Updates(map[string]any{
		"mentions_after": c.call, "mentions_since": began, "lease_until": began, "lease_owner": "dead",
	}).Error; err != nil {
		t.Fatal(err)
	}
	repo := &readsFrom{Privacy: c.repo}
	r := privacy.NewRunner(repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	second := slices.IndexFunc(repo.reads, func(r mentionRead) bool { return !r.since.IsZero() })
	if len(repo.reads) < 2 || repo.reads[0].after != c.call || !repo.reads[0].since.IsZero() ||
		second < 0 || repo.reads[second].after != 0 || !repo.reads[second].since.Equal(began) {
		t.Errorf("reads %+v; want the first from %d, the second reading from 0 since %s", repo.reads, c.call, began)
	}
	// A job read afresh keeps when it began, and how far it read.
	fresh := pendingMention(t)
	if worked, err := privacy.NewRunner(fresh.repo, fresh.deleter, noRevoker{}, fresh.tx, privacy.RunnerOptions{Lease: time.Minute,
		IndexPoll: 20 * time.Millisecond}, zerolog.Nop()).RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if e, err := fresh.repo.GetErasure(ctx, fresh.tenant, fresh.job.ID); err != nil || e.MentionsSince == nil || e.MentionsAfter != fresh.call {
		t.Errorf("a job read afresh: since %v, after %d, %v; want a time and %d", e.MentionsSince, e.MentionsAfter, err, fresh.call)
	}
}
