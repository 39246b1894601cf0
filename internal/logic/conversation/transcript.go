package conversation

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
)

// Limits of PutTranscript (mgv.open.v1 conversation.proto).
const (
	MaxChunkSentences      = 1000
	MaxTranscriptSentences = 20_000
	MaxSentenceTextBytes   = search.MaxSentenceBytes
	MaxTranscriptTextBytes = search.MaxTranscriptTextBytes
	// maxSentenceMS: no sentence lies beyond the longest conversation.
	maxSentenceMS = maxConversationMS
)

// SentenceInput is one sentence as a partner sends it.
type SentenceInput struct {
	Seq        int64
	SpeakerKey string
	StartMS    int64
	EndMS      int64
	Text       string
}

// TranscriptResult is what a stored transcript gives.
type TranscriptResult struct {
	ConversationID int64
	SentenceCount  int
	Metrics        interaction.Metrics
}

// TranscriptUpload collects a transcript chunk by chunk, validating as it
// goes so that a bad stream is refused at its first bad sentence; nothing
// is stored before CommitTranscript.
type TranscriptUpload struct {
	in             *Ingest
	scope          model.Scope // the caller's: its tenant owns the conversation
	chunks         int
	conversationID int64
	expected       int64 // -1: not announced
	sentences      []model.Sentence
	lastSeq        int64
	// textBytes are the sentences' texts as indexed (search.TextJSONBytes).
	textBytes int64
	// speakers are the distinct speaker keys so far: each one not among
	// the conversation's participants becomes one, and a conversation
	// holds at most maxParticipants.
	speakers map[string]struct{}
	// reserved is what the upload holds of the ingest's transcript budget;
	// prepaid is the number of sentences whose fixed size it covers.
	reserved int64
	prepaid  int
}

// sentenceSize is the fixed memory of one buffered sentence, its strings
// aside.
const sentenceSize = int64(unsafe.Sizeof(model.Sentence{}))

// MaxTranscriptBufferBytes is the most one upload can take of the
// transcript budget: the longest transcript of the longest sentences and
// speaker keys (64 characters of up to 4 bytes).
const MaxTranscriptBufferBytes = MaxTranscriptSentences * (MaxSentenceTextBytes + 4*maxSpeakerKeyChars + sentenceSize)

// reserve takes n bytes of the transcript budget for the upload; over the
// budget the upload is refused at once with a retry hint, so buffered
// transcripts never grow past it.
func (u *TranscriptUpload) reserve(n int64) error {
	if share := u.in.budget.Share(); share > 0 && u.reserved+n > share {
		// Never taken, however long the client waits: not a retry.
		return errs.InvalidArgument("chunk", "the transcript takes more than the %d bytes a tenant's transcripts may buffer at once (grpc.transcript_buffer_bytes × max_streams_per_tenant / max_streams): send fewer or shorter sentences", share)
	}
	if !u.in.budget.ReserveIn(u.budgetGroup(), n) {
		return errs.Of(errs.ReasonOverCapacity, "the server is buffering as many transcripts as it can (%d bytes, a share of them for each tenant); retry shortly", u.in.budget.Max()).
			With("retry_after_seconds", "5")
	}
	u.reserved += n
	return nil
}

// Release gives back what the upload holds of the transcript budget. Call
// it once the upload is committed or abandoned; it may be called again.
func (u *TranscriptUpload) Release() {
	u.in.budget.ReleaseIn(u.budgetGroup(), u.reserved)
	u.reserved = 0
}

// budgetGroup is whose share of the transcript budget the upload spends:
// its tenant's.
func (u *TranscriptUpload) budgetGroup() string { return strconv.FormatInt(u.scope.TenantID, 10) }

// BeginTranscript starts replacing a conversation's transcript; expected,
// when set, is the number of sentences the client announces. Errors of the
// upload name conversation_id, expected_sentence_count, chunk (one Add's
// sentences) and sentence.<field> of SentenceInput.
func (in *Ingest) BeginTranscript(ctx context.Context, conversationID int64, expected *int64) (*TranscriptUpload, error) {
	s, err := access.Require(ctx, access.Ingest)
	if err != nil {
		return nil, err
	}
	if err := access.CheckID("conversation_id", conversationID); err != nil {
		return nil, err
	}
	u := &TranscriptUpload{in: in, scope: s, conversationID: conversationID, expected: -1, lastSeq: -1, speakers: map[string]struct{}{}}
	if expected != nil {
		if *expected < 0 || *expected > MaxTranscriptSentences {
			return nil, errs.InvalidArgument("expected_sentence_count", "must be 0..%d (got %d)", MaxTranscriptSentences, *expected)
		}
		u.expected = *expected
		if err := u.reserve(*expected * sentenceSize); err != nil {
			return nil, err
		}
		u.prepaid = int(*expected)
		u.sentences = make([]model.Sentence, 0, *expected)
	}
	return u, nil
}

// Add validates and keeps one chunk of sentences. When a second chunk
// comes, more of the upload is on its way, and an unknown conversation is
// refused before the rest is read; an upload of one chunk is all here
// already, and CommitTranscript refuses it alike when it locks the
// conversation, one query fewer. A caller whose token was revoked since
// the upload began is refused, as a new call would be (an upload is
// bounded by its deadline, so a token expiring meanwhile does not end it).
func (u *TranscriptUpload) Add(ctx context.Context, chunk []SentenceInput) error {
	if err := access.Revoked(ctx); err != nil {
		return err
	}
	if u.chunks++; u.chunks == 2 {
		if _, err := u.in.convs.Get(ctx, u.scope, u.conversationID); err != nil {
			return err
		}
	}
	if len(chunk) == 0 || len(chunk) > MaxChunkSentences {
		return errs.InvalidArgument("chunk", "a chunk holds 1..%d sentences (got %d)", MaxChunkSentences, len(chunk))
	}
	if n := len(u.sentences) + len(chunk); n > MaxTranscriptSentences {
		return errs.InvalidArgument("chunk", "a transcript holds at most %d sentences (got %d so far)", MaxTranscriptSentences, n)
	}
	var size int64
	for _, s := range chunk {
		size += int64(len(s.SpeakerKey) + len(s.Text))
	}
	if unpaid := len(u.sentences) + len(chunk) - max(u.prepaid, len(u.sentences)); unpaid > 0 {
		size += int64(unpaid) * sentenceSize
	}
	if err := u.reserve(size); err != nil {
		return err
	}
	for _, s := range chunk {
		if err := ValidateSentence(u.lastSeq, s); err != nil {
			return err
		}
		if _, ok := u.speakers[s.SpeakerKey]; !ok {
			if len(u.speakers) == maxParticipants {
				return errs.InvalidArgument("sentence.speaker_key", "seq %d: a transcript has at most %d distinct speaker keys, as a conversation has at most %d participants",
					s.Seq, maxParticipants, maxParticipants).With("seq", strconv.FormatInt(s.Seq, 10))
			}
			u.speakers[s.SpeakerKey] = struct{}{}
		}
		if u.textBytes += int64(search.TextJSONBytes(s.Text)); u.textBytes > MaxTranscriptTextBytes {
			return errs.InvalidArgument("chunk", "a transcript's texts total at most %d bytes (64 MiB) as they are indexed, in JSON, where '\"', '\\', "+
				"line breaks and tabs count two bytes; seq %d brings them to %d", MaxTranscriptTextBytes, s.Seq, u.textBytes).With("seq", strconv.FormatInt(s.Seq, 10))
		}
		u.lastSeq = s.Seq
		u.sentences = append(u.sentences, model.Sentence{
			TenantID: u.scope.TenantID, ConversationID: u.conversationID,
			Seq: int(s.Seq), SpeakerKey: s.SpeakerKey, StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text,
		})
	}
	return nil
}

// SetTranscriptBudget bounds the bytes of transcripts buffered at once by
// all uploads; nil (the default) leaves them unbounded.
func (in *Ingest) SetTranscriptBudget(b *bound.Budget) { in.budget = b }

// Len is the number of sentences collected.
func (u *TranscriptUpload) Len() int { return len(u.sentences) }

// ValidateSentence checks one sentence that follows the sentence with seq
// prevSeq (-1 for the first). Errors name the field and the seq.
func ValidateSentence(prevSeq int64, s SentenceInput) error {
	bad := func(field, format string, args ...any) error {
		return errs.InvalidArgument("sentence."+field, "seq %d: %s", s.Seq, fmt.Sprintf(format, args...)).
			With("seq", strconv.FormatInt(s.Seq, 10))
	}
	switch {
	case s.Seq < 0 || s.Seq > math.MaxInt32:
		return bad("seq", "must be 0..%d", math.MaxInt32)
	case s.Seq <= prevSeq:
		return bad("seq", "must be greater than the previous sentence's seq %d (strictly increasing)", prevSeq)
	case s.SpeakerKey == "":
		return bad("speaker_key", "required")
	case !utf8.ValidString(s.SpeakerKey):
		return bad("speaker_key", "must be UTF-8")
	case utf8.RuneCountInString(s.SpeakerKey) > maxSpeakerKeyChars:
		return bad("speaker_key", "at most %d characters", maxSpeakerKeyChars)
	case access.CheckLine("speaker_key", s.SpeakerKey) != nil:
		// A key first seen in the transcript, which becomes a participant,
		// is also held to access.CheckName (newSpeakerKeys); a key of a
		// participant an earlier release stored is taken as it is.
		return bad("speaker_key", "must not contain control characters or line breaks")
	case s.StartMS < 0:
		return bad("start_ms", "must be >= 0 (got %d)", s.StartMS)
	case s.EndMS < s.StartMS:
		return bad("end_ms", "must be >= start_ms (start_ms %d, end_ms %d)", s.StartMS, s.EndMS)
	case s.EndMS > maxSentenceMS:
		return bad("end_ms", "must be at most %d (24 hours; got %d)", maxSentenceMS, s.EndMS)
	case s.Text == "":
		return bad("text", "required")
	case len(s.Text) > MaxSentenceTextBytes:
		return bad("text", "at most %d bytes (got %d)", MaxSentenceTextBytes, len(s.Text))
	case !utf8.ValidString(s.Text):
		return bad("text", "must be UTF-8")
	}
	// A sentence is what someone said: it may run over lines and hold tabs,
	// but NUL, terminal escapes and other controls would reach every screen,
	// export and log that shows it.
	if r, n, ok := access.TextControl(s.Text); ok {
		return bad("text", "%s", access.TextControlDetail(r, n))
	}
	return nil
}

// CommitTranscript stores a collected transcript (writeTranscripts), in
// one transaction with the other transcripts committed at the same time
// (transcript_commit.go), and runs the OnCommitted function once it is
// committed. A caller whose token was revoked since the upload began is
// refused, and nothing is stored.
func (in *Ingest) CommitTranscript(ctx context.Context, u *TranscriptUpload) (TranscriptResult, error) {
	defer u.Release()
	if err := access.Revoked(ctx); err != nil {
		return TranscriptResult{}, err
	}
	if u.expected >= 0 && int64(len(u.sentences)) != u.expected {
		return TranscriptResult{}, errs.InvalidArgument("expected_sentence_count",
			"the header announced %d sentences, the stream carried %d", u.expected, len(u.sentences))
	}
	return in.commit(ctx, u)
}

// PutTranscript replaces a transcript in one call: BeginTranscript, Add in
// chunks, CommitTranscript.
func (in *Ingest) PutTranscript(ctx context.Context, conversationID int64, sentences []SentenceInput) (TranscriptResult, error) {
	n := int64(len(sentences))
	u, err := in.BeginTranscript(ctx, conversationID, &n)
	if err != nil {
		return TranscriptResult{}, err
	}
	defer u.Release()
	for i := 0; i < len(sentences); i += MaxChunkSentences {
		if err := u.Add(ctx, sentences[i:min(i+MaxChunkSentences, len(sentences))]); err != nil {
			return TranscriptResult{}, err
		}
	}
	return in.CommitTranscript(ctx, u)
}

func storedMetrics(c model.Conversation, m interaction.Metrics, at time.Time) model.ConversationMetrics {
	return model.ConversationMetrics{
		ConversationID: c.ID, TenantID: c.TenantID, AlgoVersion: m.AlgoVersion,
		TalkRatio: m.TalkRatio, LongestMonologueMS: m.LongestMonologueMS, LongestCustomerStoryMS: m.LongestCustomerStoryMS,
		Interactivity: m.Interactivity, PatienceMS: m.PatienceMS,
		QuestionCountInternal: m.QuestionCountInternal, QuestionCountExternal: m.QuestionCountExternal,
		QuestionRate: m.QuestionRate, SilenceMS: m.SilenceMS, ComputedAt: at.UTC().Truncate(time.Millisecond),
	}
}
