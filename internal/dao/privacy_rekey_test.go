package dao_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// An erased user's speaker keys, often their name or number, are replaced
// in their participant rows, their sentences and their tracker hits, a
// batch of conversations at a time, each with a new transcript version and
// a search job; another speaker's key and another user's are left as they
// were, and a batch done is not done again.
func TestAnErasedUsersSpeakerKeysAreReplacedEverywhere(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		rep := model.User{TenantID: 3, Name: "Zhang Wei", Role: model.RoleRep, Status: model.UserActive}
		other := model.User{TenantID: 3, Name: "Li Na", Role: model.RoleRep, Status: model.UserActive}
		for _, u := range []*model.User{&rep, &other} {
			if err := db.Create(u).Error; err != nil {
				t.Fatal(err)
			}
		}
		keys := []string{"Zhang Wei", "13900000001", "spk_0"}
		var convs []model.Conversation
		for i, key := range keys {
			c := model.Conversation{TenantID: 3, OriginConversationID: fmt.Sprint("c", i), OwnerUserID: rep.ID, Channel: "call",
				Direction: "unknown", Status: "ready", BeginTime: now, CreatedAt: now, UpdatedAt: now, TranscriptVersion: 1}
			if err := db.Create(&c).Error; err != nil {
				t.Fatal(err)
			}
			parts := []model.Participant{
				{TenantID: 3, ConversationID: c.ID, SpeakerKey: key, UserID: &rep.ID, Affiliation: model.AffiliationInternal},
				{TenantID: 3, ConversationID: c.ID, SpeakerKey: "Li Na", UserID: &other.ID, Affiliation: model.AffiliationInternal},
				{TenantID: 3, ConversationID: c.ID, SpeakerKey: "cust", Affiliation: model.AffiliationExternal},
			}
			if err := db.Create(&parts).Error; err != nil {
				t.Fatal(err)
			}
			sentences := []model.Sentence{{Seq: 0, SpeakerKey: key, Text: "hello"}, {Seq: 1, SpeakerKey: "Li Na", Text: "hi"}, {Seq: 2, SpeakerKey: "cust", Text: "hello"}}
			tp, err := dao.TranscriptParts(c, sentences)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Create(&tp).Error; err != nil {
				t.Fatal(err)
			}
			hits := []model.TrackerHit{{TenantID: 3, TrackerID: 1, ConversationID: c.ID, Seq: 0, SpeakerKey: key, Phrase: "hello"},
				{TenantID: 3, TrackerID: 1, ConversationID: c.ID, Seq: 2, SpeakerKey: "cust", Phrase: "hello"}}
			if err := db.Create(&hits).Error; err != nil {
				t.Fatal(err)
			}
			convs = append(convs, c)
		}
		rekey := func() int {
			t.Helper()
			var n int
			if err := tx.InTx(ctx, func(ctx context.Context) error {
				var err error
				n, err = p.RekeyUserSpeakers(ctx, 3, rep.ID, 2)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if a, b, c := rekey(), rekey(), rekey(); a != 2 || b != 1 || c != 0 {
			t.Fatalf("batches of 2 of 3 conversations: %d, %d, %d", a, b, c)
		}
		for _, c := range convs {
			var pt []model.Participant
			if err := db.Where("conversation_id = ?", c.ID).Order("id").Find(&pt).Error; err != nil {
				t.Fatal(err)
			}
			want := dao.ErasedSpeakerKey(pt[0].ID)
			if pt[0].SpeakerKey != want || pt[1].SpeakerKey != "Li Na" || pt[2].SpeakerKey != "cust" {
				t.Errorf("conversation %d's participants: %+v", c.ID, pt)
			}
			_, sentences, err := dao.NewConversations(db).TranscriptPart(ctx, 3, c.ID, 0)
			if err != nil || len(sentences) != 3 || sentences[0].SpeakerKey != want || sentences[1].SpeakerKey != "Li Na" || sentences[2].SpeakerKey != "cust" {
				t.Errorf("conversation %d's sentences: %+v %v", c.ID, sentences, err)
			}
			var hitKeys []string
			if err := db.Model(&model.TrackerHit{}).Where("conversation_id = ?", c.ID).Order("seq").Pluck("speaker_key", &hitKeys).Error; err != nil {
				t.Fatal(err)
			}
			if len(hitKeys) != 2 || hitKeys[0] != want || hitKeys[1] != "cust" {
				t.Errorf("conversation %d's tracker hits: %v", c.ID, hitKeys)
			}
			var got model.Conversation
			if err := db.First(&got, c.ID).Error; err != nil || got.TranscriptVersion != 2 || got.RequestHash != model.ErasedRequest {
				t.Errorf("conversation %d: transcript version %d, want 2 (raised once), request hash %q %v", c.ID, got.TranscriptVersion, got.RequestHash, err)
			}
			var jobs int64
			if err := db.Model(&model.OutboxJob{}).Where("conversation_id = ? AND kind = ? AND version = 2", c.ID, model.OutboxTranscript).Count(&jobs).Error; err != nil || jobs != 1 {
				t.Errorf("conversation %d: %d search jobs of version 2 %v", c.ID, jobs, err)
			}
		}
	})
}

// A transcript committed while the re-key waits for its conversation is
// the one re-keyed, not written over by the transcript the re-key would
// have read before it waited: on MariaDB (REPEATABLE READ), a plain first
// read fixed the transaction's snapshot, and the re-key wrote the old
// sentences back over the new ones.
func TestTheRekeyRewritesATranscriptCommittedWhileItWaited(t *testing.T) {
	db := daotest.OpenMariaDB(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rep := model.User{TenantID: 3, Name: "Zhang Wei", Role: model.RoleRep, Status: model.UserActive}
	if err := db.Create(&rep).Error; err != nil {
		t.Fatal(err)
	}
	c := model.Conversation{TenantID: 3, OriginConversationID: "c", OwnerUserID: rep.ID, Channel: "call",
		Direction: "unknown", Status: "ready", BeginTime: now, CreatedAt: now, UpdatedAt: now, TranscriptVersion: 1}
	if err := db.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&model.Participant{TenantID: 3, ConversationID: c.ID, SpeakerKey: "Zhang Wei", UserID: &rep.ID, Affiliation: model.AffiliationInternal}).Error; err != nil {
		t.Fatal(err)
	}
	parts := func(version int64, text string) []model.TranscriptPart {
		c := c
		c.TranscriptVersion = version
		tp, err := dao.TranscriptParts(c, []model.Sentence{{Seq: 0, SpeakerKey: "Zhang Wei", Text: text}})
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	if err := db.Create(parts(1, "the old words")).Error; err != nil {
		t.Fatal(err)
	}
	// A transcript write holds the conversation, as a commit does.
	writer := db.Begin()
	if err := writer.Exec("UPDATE conversations SET transcript_version = 2 WHERE id = ?", c.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := writer.Exec("DELETE FROM transcript_parts WHERE conversation_id = ?", c.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := writer.Create(parts(2, "the new words")).Error; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			_, err := dao.NewPrivacy(db).RekeyUserSpeakers(ctx, 3, rep.ID, 10)
			return err
		})
	}()
	time.Sleep(300 * time.Millisecond) // the re-key reads, then waits for the conversation
	if err := writer.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, sentences, err := dao.NewConversations(db).TranscriptPart(ctx, 3, c.ID, 0)
	if err != nil || len(sentences) != 1 || sentences[0].Text != "the new words" || sentences[0].SpeakerKey == "Zhang Wei" {
		t.Fatalf("after the re-key: %+v %v; want the new words under the new key", sentences, err)
	}
}
