package conversation

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access/accesstest"
	"github.com/megaview/mgvcore/internal/model"
)

func TestValidateSentence(t *testing.T) {
	ok := SentenceInput{Seq: 3, SpeakerKey: "0", StartMS: 100, EndMS: 200, Text: "你好"}
	with := func(f func(*SentenceInput)) SentenceInput {
		s := ok
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name  string
		prev  int64
		s     SentenceInput
		field string // "" when valid
	}{
		{"valid", 2, ok, ""},
		{"first with seq 0", -1, with(func(s *SentenceInput) { s.Seq = 0 }), ""},
		{"gap in seq", 0, ok, ""},
		{"zero-length", 2, with(func(s *SentenceInput) { s.EndMS = s.StartMS }), ""},
		{"text of exactly 4096 bytes", 2, with(func(s *SentenceInput) { s.Text = strings.Repeat("a", 4096) }), ""},
		{"speaker key of 64 characters", 2, with(func(s *SentenceInput) { s.SpeakerKey = strings.Repeat("说", 64) }), ""},
		{"repeated seq", 3, ok, "sentence.seq"},
		{"decreasing seq", 7, ok, "sentence.seq"},
		{"negative seq", -1, with(func(s *SentenceInput) { s.Seq = -1 }), "sentence.seq"},
		{"seq beyond int32", 2, with(func(s *SentenceInput) { s.Seq = 1 << 31 }), "sentence.seq"},
		{"no speaker", 2, with(func(s *SentenceInput) { s.SpeakerKey = "" }), "sentence.speaker_key"},
		{"speaker key too long", 2, with(func(s *SentenceInput) { s.SpeakerKey = strings.Repeat("k", 65) }), "sentence.speaker_key"},
		{"escape in the speaker key", 2, with(func(s *SentenceInput) { s.SpeakerKey = "evil\x1b[2J" }), "sentence.speaker_key"},
		{"line break in the speaker key", 2, with(func(s *SentenceInput) { s.SpeakerKey = "a\nb" }), "sentence.speaker_key"},
		{"negative start", 2, with(func(s *SentenceInput) { s.StartMS = -1 }), "sentence.start_ms"},
		{"end before start", 2, with(func(s *SentenceInput) { s.EndMS = 99 }), "sentence.end_ms"},
		{"end past 24 hours", 2, with(func(s *SentenceInput) { s.EndMS = 86_400_001 }), "sentence.end_ms"},
		{"empty text", 2, with(func(s *SentenceInput) { s.Text = "" }), "sentence.text"},
		{"text of 4097 bytes", 2, with(func(s *SentenceInput) { s.Text = strings.Repeat("a", 4097) }), "sentence.text"},
		{"CJK text over 4 KiB", 2, with(func(s *SentenceInput) { s.Text = strings.Repeat("预", 1366) }), "sentence.text"},
		{"invalid UTF-8", 2, with(func(s *SentenceInput) { s.Text = "\xff" }), "sentence.text"},
		{"text over lines, with tabs", 2, with(func(s *SentenceInput) { s.Text = "第一句\r\n\tsecond\u2028third" }), ""},
		{"NUL in the text", 2, with(func(s *SentenceInput) { s.Text = "nul\x00" }), "sentence.text"},
		{"escape in the text", 2, with(func(s *SentenceInput) { s.Text = "\x1b[2Jwiped" }), "sentence.text"},
		{"backspace in the text", 2, with(func(s *SentenceInput) { s.Text = "ab\bc" }), "sentence.text"},
		{"DEL in the text", 2, with(func(s *SentenceInput) { s.Text = "del\x7f" }), "sentence.text"},
		{"C1 control in the text", 2, with(func(s *SentenceInput) { s.Text = "csi\u009b31m" }), "sentence.text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSentence(tc.prev, tc.s)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			e := errs.From(err)
			if e == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != tc.field || e.Metadata["seq"] == "" ||
				!strings.Contains(e.Message, "seq ") {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %s and the seq", err, tc.field)
			}
		})
	}
}

// A control character in a sentence's text is refused naming the
// sentence and the character.
func TestValidateSentenceNamesTheControlCharacter(t *testing.T) {
	err := ValidateSentence(-1, SentenceInput{Seq: 7, SpeakerKey: "a", EndMS: 10, Text: "red \x1b[31malert"})
	e := errs.From(err)
	const want = "sentence.text: seq 7: must not contain control characters other than line breaks and tabs (U+001B is character 5)"
	if e == nil || e.Reason != errs.ReasonInvalidArgument || e.Message != want || e.Metadata["seq"] != "7" {
		t.Fatalf("got %v, want INVALID_ARGUMENT %q", err, want)
	}
}

func TestTranscriptUploadLimits(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	begin := func() *TranscriptUpload {
		t.Helper()
		u, err := in.BeginTranscript(ctx, repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 10_000}), nil)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	u := begin()
	if err := u.Add(ctx, nil); errs.From(err).Metadata["field"] != "chunk" {
		t.Fatalf("empty chunk: %v", err)
	}
	chunk := func(from, n int) []SentenceInput {
		out := make([]SentenceInput, n)
		for i := range out {
			out[i] = SentenceInput{Seq: int64(from + i), SpeakerKey: "s", StartMS: 0, EndMS: 1, Text: "x"}
		}
		return out
	}
	if err := u.Add(ctx, chunk(0, MaxChunkSentences+1)); errs.From(err).Metadata["field"] != "chunk" {
		t.Fatalf("oversized chunk: %v", err)
	}
	for i := 0; i < MaxTranscriptSentences; i += MaxChunkSentences {
		if err := u.Add(ctx, chunk(i, MaxChunkSentences)); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Add(ctx, chunk(MaxTranscriptSentences, 1)); errs.From(err).Metadata["field"] != "chunk" {
		t.Fatalf("sentence 20 001: %v", err)
	}
	// Seq order holds across chunks.
	v := begin()
	if err := v.Add(ctx, chunk(5, 2)); err != nil {
		t.Fatal(err)
	}
	if err := v.Add(ctx, chunk(6, 1)); errs.From(err).Metadata["seq"] != "6" {
		t.Fatalf("seq going back across chunks: %v", err)
	}
}

// A transcript whose texts, as indexed, would make a document larger
// than one request to Elasticsearch carries is refused at the sentence
// that passes the bound, naming it: '"' counts two bytes there.
func TestTranscriptTextIsBoundAsIndexed(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	u, err := in.BeginTranscript(ctx, repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 10_000}), nil)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat(`"`, MaxSentenceTextBytes) // 8 KiB as indexed
	var err2 error
	for from := 0; from < MaxTranscriptSentences && err2 == nil; from += MaxChunkSentences {
		chunk := make([]SentenceInput, MaxChunkSentences)
		for i := range chunk {
			chunk[i] = SentenceInput{Seq: int64(from + i), SpeakerKey: "s", EndMS: 1, Text: text}
		}
		err2 = u.Add(ctx, chunk)
	}
	e := errs.From(err2)
	if want := MaxTranscriptTextBytes / (2 * MaxSentenceTextBytes); e.Metadata["field"] != "chunk" || e.Metadata["seq"] != strconv.Itoa(want) ||
		!strings.Contains(e.Message, "67108864") {
		t.Fatalf("got %v %v, want chunk refused at seq %d naming the bound", err2, e.Metadata, want)
	}
}

func TestCommitChecksAnnouncedCount(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	id := repo.addConversation(model.Conversation{TenantID: 1, OriginConversationID: "c", DurationMS: 10_000})
	three := int64(3)
	u, err := in.BeginTranscript(ctx, id, &three)
	if err != nil {
		t.Fatal(err)
	}
	hi := []SentenceInput{{Seq: 0, SpeakerKey: "a", EndMS: 10, Text: "hi"}}
	if err := u.Add(ctx, hi); err != nil {
		t.Fatal(err)
	}
	if _, err := in.CommitTranscript(ctx, u); errs.From(err).Metadata["field"] != "expected_sentence_count" {
		t.Fatalf("truncated upload: %v", err)
	}
	if repo.replaced != 0 {
		t.Fatal("a truncated upload was stored")
	}
	// An unknown conversation: an upload of one chunk is refused at
	// commit, a longer one at its second chunk.
	single, err := in.BeginTranscript(ctx, 999, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := single.Add(ctx, hi); err != nil {
		t.Fatal(err)
	}
	if _, err := in.CommitTranscript(ctx, single); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Fatalf("unknown conversation, one chunk: %v", err)
	}
	long, err := in.BeginTranscript(ctx, 999, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := long.Add(ctx, hi); err != nil {
		t.Fatal(err)
	}
	if err := long.Add(ctx, []SentenceInput{{Seq: 1, SpeakerKey: "a", EndMS: 10, Text: "again"}}); errs.ReasonOf(err) != errs.ReasonConversationNotFound {
		t.Fatalf("unknown conversation, second chunk: %v", err)
	}
	minus := int64(-1)
	if _, err := in.BeginTranscript(ctx, id, &minus); errs.From(err).Metadata["field"] != "expected_sentence_count" {
		t.Fatalf("negative count: %v", err)
	}
}

// An upload whose caller's token is revoked while it runs is refused at
// its next chunk, or at the commit, and stores nothing; a token that merely
// expires meanwhile does not end it.
func TestUploadEndsWithItsRevokedToken(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	id := repo.addConversation(model.Conversation{TenantID: 1, OriginConversationID: "c", DurationMS: 10_000})
	sentence := func(seq int64) []SentenceInput {
		return []SentenceInput{{Seq: seq, SpeakerKey: "a", StartMS: seq * 10, EndMS: seq*10 + 10, Text: "hi"}}
	}
	begin := func(tok *accesstest.Token) (context.Context, *TranscriptUpload) {
		ctx := tok.With(accesstest.App(1, "ingest"))
		u, err := in.BeginTranscript(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Add(ctx, sentence(0)); err != nil {
			t.Fatal(err)
		}
		return ctx, u
	}

	tok := accesstest.NewToken(time.Now().Add(time.Hour))
	ctx, u := begin(tok)
	tok.Revoke()
	if err := u.Add(ctx, sentence(1)); errs.ReasonOf(err) != errs.ReasonTokenRevoked {
		t.Fatalf("a chunk after the revocation: %v", err)
	}
	if _, err := in.CommitTranscript(ctx, u); errs.ReasonOf(err) != errs.ReasonTokenRevoked {
		t.Fatalf("the commit after the revocation: %v", err)
	}
	if repo.replaced != 0 {
		t.Fatal("a revoked caller's transcript was stored")
	}

	tok = accesstest.NewToken(time.Now().Add(50 * time.Millisecond))
	ctx, u = begin(tok)
	time.Sleep(100 * time.Millisecond)
	if err := tok.Check(); errs.ReasonOf(err) != errs.ReasonUnauthenticated {
		t.Fatalf("control: the token has not expired: %v", err)
	}
	if err := u.Add(ctx, sentence(1)); err != nil {
		t.Fatalf("a chunk after the expiry: %v", err)
	}
	if _, err := in.CommitTranscript(ctx, u); err != nil {
		t.Fatalf("the commit after the expiry: %v", err)
	}
	if repo.replaced != 1 {
		t.Fatalf("stored %d transcripts, want the one whose token expired meanwhile", repo.replaced)
	}
}

func TestCommitRunsHooksAndAddsUnknownSpeakers(t *testing.T) {
	repo := newFakeRepo()
	var got TranscriptWrite
	hook := TranscriptHookFunc(func(ctx context.Context, w TranscriptWrite) error {
		if !repo.inTx {
			t.Error("hook ran outside the transaction")
		}
		got = w
		return nil
	})
	in := NewIngest(repo, fakeDeals{repo}, repo, hook)
	id := repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 10_000})
	repo.participants[id] = []model.Participant{{SpeakerKey: "rep", Affiliation: model.AffiliationInternal}}
	res, err := in.PutTranscript(accesstest.App(1, "ingest"), id, []SentenceInput{
		{Seq: 0, SpeakerKey: "rep", StartMS: 0, EndMS: 3000, Text: "what is your budget?"},
		{Seq: 1, SpeakerKey: "guest", StartMS: 3000, EndMS: 4000, Text: "about ten thousand dollars"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics.TalkRatio != 0.75 || res.Metrics.QuestionCountInternal != 1 {
		t.Fatalf("metrics: %+v", res.Metrics)
	}
	if len(got.Sentences) != 2 || len(got.Participants) != 2 || got.Participants[1].Affiliation != model.AffiliationUnknown ||
		got.Conversation.TranscriptVersion != 1 || got.Conversation.SentenceCount != 2 {
		t.Fatalf("hook saw %+v", got)
	}
	if repo.stored[id] != 2 {
		t.Fatalf("stored %d", repo.stored[id])
	}
}

func TestTranscriptBudget(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	budget := bound.NewBudget(64 << 10)
	in.SetTranscriptBudget(budget)
	ctx := accesstest.App(1, "ingest")
	id := repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 10_000_000})
	chunk := func(from, n int) []SentenceInput {
		out := make([]SentenceInput, n)
		for i := range out {
			out[i] = SentenceInput{Seq: int64(from + i), SpeakerKey: "s", StartMS: int64(from + i), EndMS: int64(from + i), Text: strings.Repeat("x", 1000)}
		}
		return out
	}
	u, err := in.BeginTranscript(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add(ctx, chunk(0, 40)); err != nil {
		t.Fatalf("a chunk within the budget: %v", err)
	}
	held := budget.Used()
	if held < 40*1000 {
		t.Fatalf("reserved %d bytes for 40 kB of text", held)
	}
	err = u.Add(ctx, chunk(40, 40))
	if e := errs.From(err); e.Reason != errs.ReasonOverCapacity || e.Metadata["retry_after_seconds"] == "" || e.Status != 429 {
		t.Fatalf("over the budget: %v (%+v)", err, e)
	}
	if budget.Used() != held {
		t.Fatalf("a refused chunk kept %d bytes", budget.Used()-held)
	}
	// A second upload is refused while the first holds the budget ...
	u2, err := in.BeginTranscript(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := u2.Add(ctx, chunk(0, 40)); errs.ReasonOf(err) != errs.ReasonOverCapacity {
		t.Fatalf("a second upload over the budget: %v", err)
	}
	u2.Release()
	many := int64(MaxTranscriptSentences)
	if _, err := in.BeginTranscript(ctx, id, &many); errs.ReasonOf(err) != errs.ReasonOverCapacity {
		t.Fatalf("announcing %d sentences over the budget: %v", many, err)
	}
	// ... and the budget comes back when the first is abandoned or committed.
	u.Release()
	u.Release()
	if budget.Used() != 0 {
		t.Fatalf("%d bytes held after release", budget.Used())
	}
	if _, err := in.PutTranscript(ctx, id, chunk(0, 40)); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if budget.Used() != 0 {
		t.Fatalf("%d bytes held after a commit", budget.Used())
	}
}

// Each speaker key a transcript brings is a new participant, and a
// conversation holds at most maxParticipants: an upload with more distinct
// keys is refused at the first one too many, and one whose new keys would
// take its conversation past the cap is refused at the commit, storing
// nothing.
func TestTranscriptSpeakersAreBounded(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	id := repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 3_600_000})
	repo.participants[id] = []model.Participant{
		{SpeakerKey: "rep", Affiliation: model.AffiliationInternal}, {SpeakerKey: "cust", Affiliation: model.AffiliationExternal},
	}
	sentences := func(prefix string, keys int) []SentenceInput {
		out := make([]SentenceInput, keys)
		for i := range out {
			out[i] = SentenceInput{Seq: int64(i), SpeakerKey: fmt.Sprintf("%s%d", prefix, i), StartMS: int64(i), EndMS: int64(i) + 1, Text: "嗯"}
		}
		return out
	}
	_, err := in.PutTranscript(ctx, id, sentences("s", maxParticipants+1))
	if err == nil || errs.From(err).Metadata["field"] != "sentence.speaker_key" || errs.From(err).Metadata["seq"] != strconv.Itoa(maxParticipants) {
		t.Fatalf("%d distinct keys: %v", maxParticipants+1, err)
	}
	_, err = in.PutTranscript(ctx, id, sentences("s", maxParticipants-1))
	if err == nil || errs.From(err).Metadata["field"] != "sentence.speaker_key" || errs.From(err).Reason != errs.ReasonInvalidArgument {
		t.Fatalf("2 participants and %d new keys: %v", maxParticipants-1, err)
	}
	if repo.replaced != 0 || len(repo.participants[id]) != 2 {
		t.Fatalf("stored %d transcripts, %d participants; want none stored", repo.replaced, len(repo.participants[id]))
	}
	if _, err := in.PutTranscript(ctx, id, sentences("s", maxParticipants-2)); err != nil {
		t.Fatalf("2 participants and %d new keys: %v", maxParticipants-2, err)
	}
}

// A transcript naming a participant whose speaker key an earlier release
// stored, which access.CheckName refuses, is taken; a new speaker key of
// that kind is refused naming sentence.speaker_key.
func TestTranscriptTakesAStoredSpeakerKey(t *testing.T) {
	repo := newFakeRepo()
	in := NewIngest(repo, fakeDeals{repo}, repo)
	ctx := accesstest.App(1, "ingest")
	id := repo.addConversation(model.Conversation{TenantID: 1, DurationMS: 10_000})
	repo.participants[id] = []model.Participant{{SpeakerKey: "\u200b", Affiliation: model.AffiliationUnknown}}
	if _, err := in.PutTranscript(ctx, id, []SentenceInput{{Seq: 0, SpeakerKey: "\u200b", StartMS: 0, EndMS: 1000, Text: "hello"}}); err != nil {
		t.Fatalf("a stored speaker key: %v", err)
	}
	_, err := in.PutTranscript(ctx, id, []SentenceInput{
		{Seq: 0, SpeakerKey: "\u200b", StartMS: 0, EndMS: 1000, Text: "hello"},
		{Seq: 1, SpeakerKey: "x\u202e", StartMS: 1000, EndMS: 2000, Text: "who"},
	})
	if e := errs.From(err); e == nil || e.Reason != errs.ReasonInvalidArgument || e.Metadata["field"] != "sentence.speaker_key" || !strings.Contains(e.Message, "U+202E") {
		t.Fatalf("a new speaker key with an override: %v, want INVALID_ARGUMENT on sentence.speaker_key", err)
	}
}
