package dao_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/model"
)

// The identifier the mention tests look for: an address whose ampersand
// a transcript part's JSON escapes, so that only its decoded text shows it.
const mentioned = "li&wang@example.com"

// mentionSpans finds the address, also with a line break after its at
// sign (two sentences of a transcript, looked at together).
func mentionSpans(s string) [][2]int {
	var out [][2]int
	for _, loc := range mentionRE.FindAllStringIndex(s, -1) {
		out = append(out, [2]int{loc[0], loc[1]})
	}
	return out
}

var mentionRE = regexp.MustCompile(regexp.QuoteMeta("li&wang@") + `\n?` + regexp.QuoteMeta("example.com"))

// mentionCall writes a conversation of tenant 7 with a title, custom data,
// a transcript of two sentences, an outside speaker and a comment; mention
// says which of them write the address.
func mentionCall(t *testing.T, db *gorm.DB, mention string) model.Conversation {
	t.Helper()
	text := func(where, s string) string {
		if where == mention {
			return s + " " + mentioned
		}
		return s
	}
	id := speakerCall(t, db, 7, text("name", "Guest"), 0)
	if err := db.Model(&model.Conversation{}).Where("id = ?", id).Updates(map[string]any{
		"origin_conversation_id": text("origin", fmt.Sprint("pbx/", id)),
		"title":                  text("title", "call"), "custom_data": `{"crm":"` + strings.ReplaceAll(text("custom_data", "lead"), "&", `\u0026`) + `"}`, "transcript_version": 1,
	}).Error; err != nil {
		t.Fatal(err)
	}
	var c model.Conversation
	if err := db.First(&c, id).Error; err != nil {
		t.Fatal(err)
	}
	sentences := []model.Sentence{
		{Seq: 0, SpeakerKey: "rep", Text: "hello"},
		{Seq: 1, SpeakerKey: "cust", EndMS: 10, Text: text("transcript", "write to me at")},
	}
	if mention == "split" {
		// The address read out over two sentences.
		sentences[1].Text = "write to me at li&wang@"
		sentences = append(sentences, model.Sentence{Seq: 2, SpeakerKey: "cust", EndMS: 20, Text: "example.com please"})
	}
	parts, err := dao.TranscriptParts(c, sentences)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&parts).Error; err != nil {
		t.Fatal(err)
	}
	cm := model.Comment{TenantID: 7, ConversationID: id, AuthorUserID: 1, Text: text("comment", "note"), CreatedAt: c.CreatedAt}
	if err := db.Create(&cm).Error; err != nil {
		t.Fatal(err)
	}
	return c
}

// Mentions are found in every kind of free text a conversation holds,
// up to the bound and in the tenant alone, and rewritten there: each
// conversation rewritten gets a new transcript version and a search job,
// and the conversations without a mention, another tenant's and the
// other deals are left as they were.
func TestMentionsAreFoundAndRedactedInEveryText(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		plain := mentionCall(t, db, "")
		var want []int64
		at := map[string]int64{}
		for _, where := range []string{"title", "custom_data", "transcript", "name", "comment", "split", "origin"} {
			at[where] = mentionCall(t, db, where).ID
			want = append(want, at[where])
		}
		upTo := want[len(want)-1]
		later := mentionCall(t, db, "title")
		other := speakerCall(t, db, 8, "Guest "+mentioned, 0)

		var found []int64
		for after := int64(0); ; {
			ids, last, err := p.FindMentions(ctx, 7, after, upTo, 2, time.Time{}, mentionSpans)
			if err != nil {
				t.Fatal(err)
			}
			if last == 0 {
				break
			}
			if last <= after || last > upTo {
				t.Fatalf("last %d after %d (bound %d)", last, after, upTo)
			}
			found, after = append(found, ids...), last
		}
		if !slices.Equal(found, want) {
			t.Fatalf("found %v, want %v (not %d, %d or %d)", found, want, plain.ID, later.ID, other)
		}

		if err := dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			n, err := p.RedactConversations(ctx, 7, append(found, plain.ID), mentionSpans, nil)
			if err == nil && n != len(want) {
				t.Errorf("%d conversations rewritten, want %d", n, len(want))
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ids, _, err := p.FindMentions(ctx, 7, 0, upTo, 100, time.Time{}, mentionSpans); err != nil || len(ids) != 0 {
			t.Fatalf("after the redaction: %v %v", ids, err)
		}
		// What a create request gave was rewritten in the first four: its
		// hash would tell a guess at the mention right from wrong.
		for where, forgotten := range map[string]bool{"title": true, "custom_data": true, "name": true, "origin": true, "transcript": false, "comment": false, "split": false} {
			var hash string
			if err := db.Raw("SELECT request_hash FROM conversations WHERE id = ?", at[where]).Scan(&hash).Error; err != nil {
				t.Fatal(err)
			}
			if (hash == model.ErasedRequest) != forgotten {
				t.Errorf("a mention in the %s: request hash %q; forgotten %v", where, hash, forgotten)
			}
		}
		var left []int64
		for _, q := range []string{
			"SELECT id FROM conversations WHERE title LIKE ? OR custom_data LIKE ?",
			"SELECT id FROM conversations WHERE origin_conversation_id LIKE ? OR origin_conversation_id LIKE ?",
			"SELECT conversation_id FROM participants WHERE name LIKE ? OR name LIKE ?",
			"SELECT conversation_id FROM comments WHERE text LIKE ? OR text LIKE ?",
		} {
			var ids []int64
			if err := db.Raw(q, "%"+mentioned+"%", "%wang@example%").Scan(&ids).Error; err != nil {
				t.Fatal(err)
			}
			left = append(left, ids...)
		}
		slices.Sort(left)
		if !slices.Equal(left, []int64{later.ID, other}) {
			t.Errorf("mentions left in %v, want only in %d and %d", left, later.ID, other)
		}
		var c model.Conversation
		if err := db.First(&c, want[2]).Error; err != nil {
			t.Fatal(err)
		}
		sentences, err := dao.NewConversations(db).Sentences(ctx, 7, c.ID)
		if err != nil || len(sentences) != 2 || sentences[1].Text != "write to me at [erased]" || sentences[0].Text != "hello" {
			t.Fatalf("transcript after the redaction: %+v %v", sentences, err)
		}
		split, err := dao.NewConversations(db).Sentences(ctx, 7, want[5])
		if err != nil || len(split) != 3 || split[1].Text != "write to me at [erased]" || split[2].Text != " please" {
			t.Fatalf("transcript that split the address after the redaction: %+v %v", split, err)
		}
		var jobs []model.OutboxJob
		if err := db.Where("kind = ? AND conversation_id IN ?", model.OutboxTranscript, append(found, plain.ID)).Find(&jobs).Error; err != nil {
			t.Fatal(err)
		}
		if c.TranscriptVersion != 2 || len(jobs) != len(want)+1 {
			t.Errorf("version %d and %d search jobs after the redaction, want 2 and %d", c.TranscriptVersion, len(jobs), len(want)+1)
		}
		since := c.UpdatedAt
		if pending, err := p.SearchJobsPending(ctx, 7, jobs[0].ID-1, upTo, since); err != nil || pending {
			t.Errorf("search jobs pending before the first: %v %v", pending, err)
		}
		if pending, err := p.SearchJobsPending(ctx, 7, jobs[0].ID, upTo, since); err != nil || !pending {
			t.Errorf("search jobs pending up to the first: %v %v", pending, err)
		}
		if pending, err := p.SearchJobsPending(ctx, 7, jobs[len(jobs)-1].ID, upTo, since.Add(time.Second)); err != nil || pending {
			t.Errorf("search jobs pending for conversations not changed since: %v %v", pending, err)
		}
		if pending, err := p.SearchJobsPending(ctx, 7, jobs[len(jobs)-1].ID, jobs[0].ConversationID-1, since); err != nil || pending {
			t.Errorf("search jobs pending for conversations above the bound: %v %v", pending, err)
		}
		if pending, err := p.SearchJobsPending(ctx, 8, jobs[len(jobs)-1].ID, upTo, since); err != nil || pending {
			t.Errorf("another tenant's search jobs pending: %v %v", pending, err)
		}
	})
}

// An origin id holding the person's address is redacted too, and stays
// unique in its tenant: two call ids may differ only by what was erased,
// and a redacted id past the column's 128 characters is cut to what
// names the conversation alone.
func TestARedactedOriginIDStaysUniqueInItsTenant(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		wide := strings.Repeat("😀", 120)
		origins := []string{"pbx-" + mentioned, "crm-" + mentioned, wide + mentioned}
		var ids []int64
		for _, origin := range append(origins, "pbx-[erased]", wide+"[erased]") {
			id := speakerCall(t, db, 7, "Guest", 0)
			if err := db.Model(&model.Conversation{}).Where("id = ?", id).Update("origin_conversation_id", origin).Error; err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			n, err := dao.NewPrivacy(db).RedactConversations(ctx, 7, ids[:3], mentionSpans, nil)
			if err == nil && n != 3 {
				t.Errorf("%d conversations rewritten, want 3", n)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("pbx-[erased]#%d", ids[0]), "crm-[erased]", fmt.Sprintf("[erased]#%d", ids[2]), "pbx-[erased]", wide + "[erased]"}
		for i, id := range ids {
			var c model.Conversation
			if err := db.First(&c, id).Error; err != nil || c.OriginConversationID != want[i] {
				t.Errorf("origin id of conversation %d: %q (%v), want %q", i, c.OriginConversationID, err, want[i])
			}
		}
	})
}

// Two erasures at once may redact two call ids to the same one: the one
// that commits second takes the next free form instead of failing on the
// unique key (on MySQL its write waits for the first's commit).
func TestConcurrentErasuresRedactOriginIDsApart(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		var ids []int64
		for _, origin := range []string{"pbx-" + mentioned, "pbx-li&wang@\nexample.com"} {
			id := speakerCall(t, db, 7, "Guest", 0)
			if err := db.Model(&model.Conversation{}).Where("id = ?", id).Update("origin_conversation_id", origin).Error; err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		p, tx := dao.NewPrivacy(db), dao.NewTransactor(db)
		redact := func(ctx context.Context, id int64) error {
			_, err := p.RedactConversations(ctx, 7, []int64{id}, mentionSpans, nil)
			return err
		}
		second := make(chan error, 1)
		if err := tx.InTx(ctx, func(ctx context.Context) error {
			if err := redact(ctx, ids[0]); err != nil {
				return err
			}
			// SQLite's writers take turns: the second waits for the commit.
			go func() {
				second <- tx.InTx(context.Background(), func(ctx context.Context) error { return redact(ctx, ids[1]) })
			}()
			time.Sleep(200 * time.Millisecond)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := <-second; err != nil {
			t.Fatalf("the second erasure: %v", err)
		}
		want := []string{"pbx-[erased]", fmt.Sprintf("pbx-[erased]#%d", ids[1])}
		for i, id := range ids {
			var c model.Conversation
			if err := db.First(&c, id).Error; err != nil || c.OriginConversationID != want[i] {
				t.Errorf("origin id of conversation %d: %q (%v), want %q", i, c.OriginConversationID, err, want[i])
			}
		}
	})
}

// The partner event log is read in id order, a batch at a time, and the
// string values of an event's data rewritten where they write the person;
// another tenant's events, and those of conversations above the erasure's
// bound, are left as they are.
func TestMentionsAreRedactedInEvents(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, ev := range []struct {
			tenant, id int64
			data       string
		}{
			{7, 1, `{"conversation_id":1,"origin_conversation_id":"pbx-1"}`},
			{7, 2, `{"conversation_id":2,"origin_conversation_id":"pbx/` + strings.ReplaceAll(mentioned, "&", `\u0026`) + `/2"}`},
			{8, 1, `{"conversation_id":3,"origin_conversation_id":"` + mentioned + `"}`},
			{7, 3, `{"conversation_id":4,"metrics":{"talk_ratio":0.5}}`},
			{7, 4, `{"conversation_id":2,"origin_conversation_id":"` + mentioned + `","deleted":true}`},
			{7, 5, `{"conversation_id":5,"origin_conversation_id":"` + mentioned + `"}`},
		} {
			if err := db.Exec("INSERT INTO events (tenant_id, id, type, occurred_at, data) VALUES (?, ?, 'conversation.created', ?, ?)",
				ev.tenant, ev.id, now, ev.data).Error; err != nil {
				t.Fatal(err)
			}
		}
		p := dao.NewPrivacy(db)
		total := 0
		var reads []int64
		for after := int64(0); ; {
			last, n, err := p.RedactEvents(ctx, 7, after, 4, 2, mentionSpans)
			if err != nil {
				t.Fatal(err)
			}
			reads, total = append(reads, last), total+n
			if last == 0 {
				break
			}
			after = last
		}
		if total != 2 || !slices.Equal(reads, []int64{2, 4, 5, 0}) {
			t.Errorf("%d events rewritten, reads ending at %v", total, reads)
		}
		var data []string
		if err := db.Raw("SELECT data FROM events ORDER BY tenant_id, id").Scan(&data).Error; err != nil {
			t.Fatal(err)
		}
		want := []string{
			`{"conversation_id":1,"origin_conversation_id":"pbx-1"}`,
			`{"conversation_id":2,"origin_conversation_id":"pbx/[erased]/2"}`,
			`{"conversation_id":4,"metrics":{"talk_ratio":0.5}}`,
			`{"conversation_id":2,"deleted":true,"origin_conversation_id":"[erased]"}`,
			`{"conversation_id":5,"origin_conversation_id":"` + mentioned + `"}`,
			`{"conversation_id":3,"origin_conversation_id":"` + mentioned + `"}`,
		}
		if !slices.Equal(data, want) {
			t.Errorf("events after the redaction:\n%s\nwant\n%s", strings.Join(data, "\n"), strings.Join(want, "\n"))
		}
	})
}

// Deals are read in id order, a batch at a time, and a deal's name and
// account name rewritten; another tenant's deals are not read.
func TestMentionsAreRedactedInDeals(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		deals := []model.Deal{
			{TenantID: 7, OriginDealID: "a", Name: "renewal", AccountName: "Acme"},
			{TenantID: 7, OriginDealID: "b", Name: "deal for " + mentioned, AccountName: "Acme"},
			{TenantID: 8, OriginDealID: "c", Name: "deal for " + mentioned},
			{TenantID: 7, OriginDealID: "d", Name: "upsell", AccountName: mentioned},
		}
		for i := range deals {
			deals[i].CreatedAt, deals[i].UpdatedAt = now, now
		}
		if err := db.Create(&deals).Error; err != nil {
			t.Fatal(err)
		}
		p := dao.NewPrivacy(db)
		total := 0
		var reads []int64
		for after := int64(0); ; {
			last, n, err := p.RedactDeals(ctx, 7, after, 2, time.Time{}, mentionSpans)
			if err != nil {
				t.Fatal(err)
			}
			reads = append(reads, last)
			total += n
			if last == 0 {
				break
			}
			after = last
		}
		if total != 2 || !slices.Equal(reads, []int64{deals[1].ID, deals[3].ID, 0}) {
			t.Errorf("%d deals rewritten, reads ending at %v", total, reads)
		}
		var got []model.Deal
		if err := db.Order("id").Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got[1].Name != "deal for [erased]" || got[3].AccountName != "[erased]" || got[2].Name != deals[2].Name || got[0].Name != "renewal" {
			t.Errorf("deals after the redaction: %+v", got)
		}
	})
}

// A number in custom data may be a JSON number: it becomes the string
// [erased], and the document stays valid JSON, its other numbers as
// written; a key redacted to one the object has is numbered.
func TestMentionsInCustomDataNumbersKeepItJSON(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		id := speakerCall(t, db, 7, "Guest", 0)
		if err := db.Model(&model.Conversation{}).Where("id = ?", id).
			Update("custom_data", `{"customer_phone":13812345678,"big":9007199254740993,"note":"a\u0026b","13812345678":"mobile","[erased]":"kept"}`).Error; err != nil {
			t.Fatal(err)
		}
		spans := func(s string) [][2]int {
			var out [][2]int
			for _, loc := range regexp.MustCompile(`13812345678`).FindAllStringIndex(s, -1) {
				out = append(out, [2]int{loc[0], loc[1]})
			}
			return out
		}
		p := dao.NewPrivacy(db)
		if found, _, err := p.FindMentions(ctx, 7, 0, id, 10, time.Time{}, spans); err != nil || !slices.Equal(found, []int64{id}) {
			t.Fatalf("found %v %v", found, err)
		}
		if err := dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			_, err := p.RedactConversations(ctx, 7, []int64{id}, spans, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var c model.Conversation
		if err := db.First(&c, id).Error; err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		d := json.NewDecoder(strings.NewReader(c.CustomData))
		d.UseNumber()
		if err := d.Decode(&got); err != nil || got["customer_phone"] != "[erased]" || got["big"] != json.Number("9007199254740993") || got["note"] != "a&b" ||
			got["[erased]"] != "kept" || got["[erased] 2"] != "mobile" || len(got) != 5 {
			t.Errorf("custom data after the redaction: %s %v", c.CustomData, err)
		}
	})
}

// Read with a time, only the conversations changed or commented on since
// then are read, and only the deals changed since.
func TestMentionsChangedSinceAreReadAgain(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		titled := mentionCall(t, db, "title")
		commented := mentionCall(t, db, "comment")
		old := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		for _, q := range []string{"UPDATE conversations SET updated_at = ?", "UPDATE comments SET created_at = ?"} {
			if err := db.Exec(q, old).Error; err != nil {
				t.Fatal(err)
			}
		}
		since := old.Add(time.Minute)
		if found, last, err := p.FindMentions(ctx, 7, 0, commented.ID, 10, since, mentionSpans); err != nil || len(found) != 0 || last != 0 {
			t.Fatalf("nothing changed since: %v %d %v", found, last, err)
		}
		if err := db.Exec("UPDATE comments SET created_at = ? WHERE conversation_id = ?", since, commented.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("UPDATE conversations SET updated_at = ? WHERE id = ?", since, titled.ID).Error; err != nil {
			t.Fatal(err)
		}
		if found, _, err := p.FindMentions(ctx, 7, 0, commented.ID, 10, since, mentionSpans); err != nil || !slices.Equal(found, []int64{titled.ID, commented.ID}) {
			t.Fatalf("changed since: %v %v, want %d and %d", found, err, titled.ID, commented.ID)
		}
		deal := model.Deal{TenantID: 7, OriginDealID: "x", Name: "deal for " + mentioned, CreatedAt: old, UpdatedAt: old}
		if err := db.Create(&deal).Error; err != nil {
			t.Fatal(err)
		}
		if last, n, err := p.RedactDeals(ctx, 7, 0, 10, since, mentionSpans); err != nil || last != 0 || n != 0 {
			t.Fatalf("deals changed since: %d %d %v", last, n, err)
		}
		if last, n, err := p.RedactDeals(ctx, 7, 0, 10, old, mentionSpans); err != nil || last != deal.ID || n != 1 {
			t.Fatalf("deals changed since an hour ago: %d %d %v", last, n, err)
		}
	})
}

// A batch reads no more transcript text than it may: it ends with the
// conversation that took it past the bound, and the next batch goes on
// from there, so every mention is still found.
func TestMentionsAreReadInBatchesOfBoundedText(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		dao.SetMentionBatchBytes(t, 1)
		plain := mentionCall(t, db, "")
		var want, all []int64
		for _, where := range []string{"transcript", "split", "transcript"} {
			want = append(want, mentionCall(t, db, where).ID)
		}
		all = append([]int64{plain.ID}, want...)
		var found, lasts []int64
		for after := int64(0); ; {
			ids, last, err := p.FindMentions(ctx, 7, after, want[len(want)-1], 100, time.Time{}, mentionSpans)
			if err != nil {
				t.Fatal(err)
			}
			if last == 0 {
				break
			}
			found, lasts, after = append(found, ids...), append(lasts, last), last
		}
		if !slices.Equal(found, want) || !slices.Equal(lasts, all) {
			t.Fatalf("found %v in batches ending at %v; want %v, one conversation a batch (%v)", found, lasts, want, all)
		}
	})
}

// A conversation where a speaker who is not a user is the person is left
// as it is by the rewrite (the erasure deletes it as theirs, and finds it
// by that speaker's name), though it is re-indexed as the others are.
func TestMentionsAreNotRewrittenWhereThePersonSpeaks(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		p := dao.NewPrivacy(db)
		spoken, written := mentionCall(t, db, "name"), mentionCall(t, db, "title")
		speaks := func(name string) bool { return strings.Contains(name, mentioned) }
		if err := dao.NewTransactor(db).InTx(ctx, func(ctx context.Context) error {
			n, err := p.RedactConversations(ctx, 7, []int64{spoken.ID, written.ID}, mentionSpans, speaks)
			if err == nil && n != 1 {
				t.Errorf("%d conversations rewritten, want 1", n)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var names []string
		if err := db.Model(&model.Participant{}).Where("conversation_id = ? AND user_id IS NULL", spoken.ID).Pluck("name", &names).Error; err != nil ||
			!slices.ContainsFunc(names, speaks) {
			t.Fatalf("the person's name in conversation %d: %q %v; want it kept", spoken.ID, names, err)
		}
		var title string
		if err := db.Model(&model.Conversation{}).Where("id = ?", written.ID).Pluck("title", &title).Error; err != nil || strings.Contains(title, mentioned) {
			t.Fatalf("title of conversation %d: %q %v; want it rewritten", written.ID, title, err)
		}
		var jobs int64
		if err := db.Model(&model.OutboxJob{}).Where("conversation_id IN ?", []int64{spoken.ID, written.ID}).Count(&jobs).Error; err != nil || jobs != 2 {
			t.Fatalf("%d search jobs (%v), want one for each conversation whose version went up", jobs, err)
		}
	})
}

// A batch that reaches its bound of transcript text stops reading there on
// MySQL too: a result set closed early is sent whole by the server (its
// driver reads the rest to discard it), so the transcripts are read one
// conversation at a time. Ten conversations of about 3 MB, a bound of
// 1 MB: the batch ends after the first, and the server sends about that.
func TestAMentionBatchStopsReadingAtItsBoundOnMariaDB(t *testing.T) {
	db := daotest.OpenMariaDB(t)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 1500)
		for i := range b {
			b[i] = byte('a' + rnd.IntN(26))
		}
		return string(b)
	}
	var last int64
	for range 10 {
		id := speakerCall(t, db, 7, "Guest", 0)
		var c model.Conversation
		if err := db.First(&c, id).Error; err != nil {
			t.Fatal(err)
		}
		sentences := make([]model.Sentence, 2000)
		for i := range sentences {
			sentences[i] = model.Sentence{Seq: i, SpeakerKey: "cust", EndMS: int64(i), Text: word()}
		}
		parts, err := dao.TranscriptParts(c, sentences)
		if err != nil {
			t.Fatal(err)
		}
		for i := range parts {
			if err := db.Create(&parts[i]).Error; err != nil {
				t.Fatal(err)
			}
		}
		last = id
	}
	dao.SetMentionBatchBytes(t, 1<<20)
	sqlDB.SetMaxOpenConns(1) // one session: its Bytes_sent is the reading's
	sent := func() int64 {
		var name string
		var v int64
		if err := sqlDB.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Bytes_sent'").Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := sent()
	start := time.Now()
	_, got, err := dao.NewPrivacy(db).FindMentions(ctx, 7, 0, last, 100, time.Time{}, func(s string) [][2]int {
		if i := strings.Index(s, "zzzzzzzzzz"); i >= 0 {
			return [][2]int{{i, i + 10}}
		}
		return nil
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	read := sent() - before
	t.Logf("batch ended at conversation %d (of up to %d); %d bytes sent by the server in %v", got, last, read, took)
	if read > 8<<20 {
		t.Fatalf("a batch bounded at 1 MB of text that ended after one ~3 MB conversation read %d MB from the server", read>>20)
	}
}
