package privacy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/logic/privacy"
	"github.com/megaview/mgvcore/internal/model"
)

// speakerWords are what the person says in the tests below.
const speakerWords = "my budget is four million and I am moving to Hangzhou"

// writeTranscript gives conversation id one sentence of text by speaker.
func writeTranscript(t *testing.T, db *gorm.DB, id int64, speaker, text string) {
	t.Helper()
	var conv model.Conversation
	if err := db.First(&conv, id).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Where("conversation_id = ?", id).Delete(&model.TranscriptPart{}).Error; err != nil {
		t.Fatal(err)
	}
	conv.TranscriptVersion++
	parts, err := dao.TranscriptParts(conv, []model.Sentence{{Seq: 0, SpeakerKey: speaker, Text: text}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&parts).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&model.Conversation{}).Where("id = ?", id).Updates(map[string]any{
		"transcript_version": conv.TranscriptVersion, "updated_at": time.Now().UTC()}).Error; err != nil {
		t.Fatal(err)
	}
}

// A partner labels an outside speaker with a name and the identifier
// together: that speaker is the person. The lookup counts their
// conversation and the erasure deletes it with their words (the mention
// reading alone would have written [erased] into the label and left the
// words under it, found by nothing after).
func TestErasureTakesASpeakerLabelledWithTheIdentifierForThePerson(t *testing.T) {
	for _, tc := range []struct {
		label   string
		subject privacy.Subject
	}{
		{"Jose <jose@example.com>", privacy.Subject{Email: "jose@example.com"}},
		{"13800138000 张先生", privacy.Subject{Phone: "13800138000"}},
		{"客户 幺三八 零零幺三 八零零零", privacy.Subject{Phone: "+86 138 0013 8000"}},
	} {
		s := newScoped(t, tc.label, 1, 1, 5, 50)
		var ids []int64
		if err := s.db.Model(&model.Participant{}).Where("tenant_id = ? AND name = ?", s.tenant, tc.label).Pluck("conversation_id", &ids).Error; err != nil || len(ids) != 1 {
			t.Fatal(ids, err)
		}
		writeTranscript(t, s.db, ids[0], "cust", speakerWords)
		if h, err := s.service.Lookup(s.admin, tc.subject); err != nil || h.Conversations != 1 {
			t.Fatalf("%q: lookup %+v %v, want their conversation", tc.label, h, err)
		}
		e, err := s.service.StartErasure(s.admin, tc.subject)
		if err != nil {
			t.Fatal(err)
		}
		s.run(t)
		if job := s.job(t, e.ID); job.Status != model.ErasureDone || job.ConversationsDeleted != 1 {
			t.Errorf("%q: job %s, %d deleted; want done with their conversation deleted", tc.label, job.Status, job.ConversationsDeleted)
		}
		var n int64
		if err := s.db.Model(&model.TranscriptPart{}).Where("conversation_id = ?", ids[0]).Count(&n).Error; err != nil || n != 0 {
			t.Errorf("%q: %d transcript parts left (%v)", tc.label, n, err)
		}
	}
}

// speakerJoinsWhileRead replaces, as the job begins to read the tenant's
// text for mentions, the transcript of an old conversation (up to the
// job's bound) so that the person, labelled with their number, speaks in
// it; as a transcript write does, the conversation's updated_at moves.
type speakerJoinsWhileRead struct {
	*dao.Privacy
	t       *testing.T
	db      *gorm.DB
	tenant  int64
	call    int64
	written bool
}

func (w *speakerJoinsWhileRead) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(string) [][2]int) ([]int64, int64, error) {
	if !w.written {
		w.written = true
		if err := w.db.Create(&model.Participant{TenantID: w.tenant, ConversationID: w.call, SpeakerKey: "cust2", Name: "138 0013 8000 回访",
			Affiliation: model.AffiliationExternal}).Error; err != nil {
			return nil, 0, err
		}
		writeTranscript(w.t, w.db, w.call, "cust2", speakerWords)
	}
	return w.Privacy.FindMentions(ctx, tenantID, after, upTo, limit, since, spans)
}

// The person comes to speak in an old conversation while the job reads
// the tenant's text: the reading leaves that conversation as it is (its
// speaker's label is how the job finds it), and the job deletes it before
// it ends, rather than ending with the person's words kept under a label
// it redacted.
func TestErasureDeletesAConversationThePersonJoinedWhileItRead(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	var old int64
	if err := c.db.Model(&model.Conversation{}).Where("tenant_id = ? AND origin_conversation_id = ?", c.tenant, "c0").Pluck("id", &old).Error; err != nil || old == 0 {
		t.Fatal(old, err)
	}
	repo := &speakerJoinsWhileRead{Privacy: c.repo, t: t, db: c.db, tenant: c.tenant, call: old}
	r := privacy.NewRunner(repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond, ConfirmOver: 10}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !repo.written || e.Status != model.ErasureDone || e.ConversationsDeleted != 1 {
		t.Fatalf("job %s, %d deleted (transcript written: %v); want done with the conversation the person joined deleted", e.Status, e.ConversationsDeleted, repo.written)
	}
	sentences, err := dao.NewConversations(c.db).Sentences(ctx, c.tenant, old)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	for _, st := range sentences {
		if strings.Contains(st.Text, "Hangzhou") {
			t.Fatalf("the person's words are left in conversation %d: %q", old, st.Text)
		}
	}
	var n int64
	if err := c.db.Model(&model.Conversation{}).Where("id = ?", old).Count(&n).Error; err != nil || n != 0 {
		t.Fatalf("conversation %d: %d rows (%v), want it deleted", old, n, err)
	}
}

// A call centre may key an outside speaker by the caller's number and name
// them only "客户": the key is the person's label too. The lookup counts
// the conversation and the sentences spoken under that key, and the
// erasure deletes it; a speaker keyed otherwise is left.
func TestErasureTakesASpeakerKeyedByTheIdentifierForThePerson(t *testing.T) {
	const key = "+86 138 0013 8000"
	s := newScoped(t, "Guest Ma", 1, 1, 5, 50)
	keyed := call(t, s.db, s.tenant, "keyed", "Rep's guest")
	speaks(t, s.db, s.tenant, keyed, key, "客户")
	writeTranscript(t, s.db, keyed, key, speakerWords)
	other := call(t, s.db, s.tenant, "other", "客户")
	subject := privacy.Subject{Phone: "138-0013-8000"}
	h, err := s.service.Lookup(s.admin, subject)
	if err != nil || h.Conversations != 1 || h.SentencesSpoken != 1 {
		t.Fatalf("lookup: %+v %v; want the keyed speaker's conversation and sentence", h, err)
	}
	e, err := s.service.StartErasure(s.admin, subject)
	if err != nil {
		t.Fatal(err)
	}
	s.run(t)
	if job := s.job(t, e.ID); job.Status != model.ErasureDone || job.ConversationsDeleted != 1 {
		t.Fatalf("job %s, %d deleted; want done with the keyed speaker's conversation deleted", job.Status, job.ConversationsDeleted)
	}
	for id, want := range map[int64]int64{keyed: 0, other: 1} {
		var n int64
		if err := s.db.Model(&model.Conversation{}).Where("id = ?", id).Count(&n).Error; err != nil || n != want {
			t.Errorf("conversation %d: %d rows (%v), want %d", id, n, err, want)
		}
	}
}

// fullReads counts the readings of the whole tenant's text (from its
// first conversation, not by change).
type fullReads struct {
	*speakerJoinsWhileRead
	full int
}

func (f *fullReads) FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(string) [][2]int) ([]int64, int64, error) {
	if after == 0 && since.IsZero() {
		f.full++
	}
	return f.speakerJoinsWhileRead.FindMentions(ctx, tenantID, after, upTo, limit, since, spans)
}

// A second round of a job (its recount after the reading found a
// conversation the person joined) reads on from where the reading stood,
// not the whole tenant's text again.
func TestASecondRoundOfAnErasureReadsOnFromWhereItStood(t *testing.T) {
	c := pendingMention(t)
	ctx := context.Background()
	var old int64
	if err := c.db.Model(&model.Conversation{}).Where("tenant_id = ? AND origin_conversation_id = ?", c.tenant, "c0").Pluck("id", &old).Error; err != nil || old == 0 {
		t.Fatal(old, err)
	}
	repo := &fullReads{speakerJoinsWhileRead: &speakerJoinsWhileRead{Privacy: c.repo, t: t, db: c.db, tenant: c.tenant, call: old}}
	r := privacy.NewRunner(repo, c.deleter, noRevoker{}, c.tx, privacy.RunnerOptions{Lease: time.Minute, IndexPoll: 20 * time.Millisecond, ConfirmOver: 10}, zerolog.Nop())
	if worked, err := r.RunOnce(ctx); !worked || err != nil {
		t.Fatalf("run: %v %v", worked, err)
	}
	if e, err := c.repo.GetErasure(ctx, c.tenant, c.job.ID); err != nil || e.ConversationsDeleted != 1 {
		t.Fatalf("job %+v %v; want the conversation the person joined deleted, in a second round", e, err)
	}
	if repo.full != 1 {
		t.Fatalf("the tenant's text was read from its first conversation %d times in one run; want once", repo.full)
	}
}
