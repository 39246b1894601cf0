package conversation

import "github.com/megaview/mgvcore/internal/model"

// What a transcript write and its repository exchange inside the write's
// transaction (IngestRepo).

// TranscriptTarget is a conversation a transcript of N sentences is about
// to be written to.
type TranscriptTarget struct {
	TenantID, ID int64
	N            int
}

// TranscriptLock is what a transcript write learns when it locks its
// conversation.
type TranscriptLock struct {
	// Conversation is the row as updated for the write.
	Conversation model.Conversation
	// Speakers are the conversation's participants, by SpeakerKey and
	// Affiliation.
	Speakers []model.Participant
	// Trackers identifies the state of the tenant's trackers as the
	// transaction sees it: trackers read in a state with the same
	// Trackers are the same trackers.
	Trackers TrackersStamp
}

// TrackersStamp is the number of a tenant's tracker rows and the sum of
// their versions. Every change that matters to matching adds to the sum:
// a new tracker (version 1), a change of keywords or affiliation and a
// deletion (the version goes up, the row stays). The tenant's trackers
// change in one order, so two states with the same sum are the same
// state; the count tells a purge of deleted rows apart.
type TrackersStamp struct {
	Count, Versions int64
}

// TranscriptRows is a transcript to store: the conversation as
// LockForTranscripts returned it, and the sentences in seq order.
type TranscriptRows struct {
	Conversation model.Conversation
	Sentences    []model.Sentence
}
