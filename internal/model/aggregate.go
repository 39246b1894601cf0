package model

import "time"

// Rows computed by queries rather than stored in a table: the storage layer
// fills them, the use cases turn them into answers.

// TrackerOwnerHits counts one tracker's hits in the conversations of one owner.
type TrackerOwnerHits struct {
	OwnerUserID   int64
	OwnerName     string
	Hits          int64
	Conversations int64
}

// TrackerPeriodHits counts one tracker's hits, and the conversations with
// one, among the conversations that began in one period of time starting at
// Start.
type TrackerPeriodHits struct {
	Start         time.Time
	Hits          int64
	Conversations int64
}

// RepAggregate sums the conversations of one owner in a time range. The
// metric sums cover only the Measured conversations (those with metrics).
type RepAggregate struct {
	OwnerUserID   int64
	Conversations int64
	DurationMS    int64
	Measured      int64
	MetricValues
}

// MetricValues holds one number per interaction metric: sums, or means.
type MetricValues struct {
	TalkRatio              float64
	LongestMonologueMS     float64
	LongestCustomerStoryMS float64
	Interactivity          float64
	PatienceMS             float64
	QuestionCountInternal  float64
	QuestionCountExternal  float64
	QuestionRate           float64
	SilenceMS              float64
}

// CommentWithAuthor is a comment and its author's display name.
type CommentWithAuthor struct {
	Comment
	AuthorName string
}

// CommentCursor is the keyset position after the last comment of a page,
// in the (start_ms, id) order of a conversation's comments.
type CommentCursor struct {
	StartMS int64 `json:"s"`
	ID      int64 `json:"i"`
}

// TrackerBatch says what one step of a tracker re-application did.
type TrackerBatch struct {
	// Conversations is how many conversations the step matched.
	Conversations int
	// Done: no conversation is left after the job's cursor.
	Done bool
	// Superseded: the job is gone or the tracker has moved past its version;
	// a newer job does the work.
	Superseded bool
	// TrackerGone: the tracker is deleted; its hits are to be purged.
	TrackerGone bool
	// LeaseLost: the claim's lease ran out, and another instance may be
	// claiming the job (or has): nothing was written, and the job is
	// left to whoever holds it, or to the next claim.
	LeaseLost bool
}
