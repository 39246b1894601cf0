package conversation

import (
	"context"

	"github.com/megaview/mgvcore/internal/model"
)

// TranscriptWrite is a transcript being stored, as the hooks see it.
type TranscriptWrite struct {
	// Conversation is the conversation row with TranscriptVersion already
	// increased for this write and SentenceCount set to len(Sentences).
	Conversation model.Conversation
	// Participants are all speakers, those first seen in this transcript
	// included (as unknown), by SpeakerKey and Affiliation.
	Participants []model.Participant
	// Sentences are the new transcript in seq order, as stored.
	Sentences []model.Sentence
	// Trackers is the stamp of the tenant's trackers as the write's
	// transaction sees them (TranscriptLock).
	Trackers TrackersStamp
}

// TranscriptHook derives data from a transcript in the transaction that
// stores it (e.g. tracker hits), so no reader ever sees a transcript
// without it. ctx carries that transaction: repository calls made with ctx
// join it. When OnTranscript runs, the old sentences and every tracker hit
// of the conversation are already deleted and the new sentences inserted.
// An error rolls the whole write back, and the client sees it. A hook may
// run more than once for one write (the transaction is run again when the
// database breaks a deadlock), so only its database writes may count.
type TranscriptHook interface {
	OnTranscript(ctx context.Context, w TranscriptWrite) error
}

// TranscriptHookFunc adapts a function to TranscriptHook.
type TranscriptHookFunc func(ctx context.Context, w TranscriptWrite) error

// OnTranscript calls f.
func (f TranscriptHookFunc) OnTranscript(ctx context.Context, w TranscriptWrite) error {
	return f(ctx, w)
}
