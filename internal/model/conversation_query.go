package model

import "time"

// ConversationFilter selects conversations (PRODUCT §3). Zero fields do not
// filter; set fields combine with AND. The caller's data scope applies on
// top, always. Lists, search and statistics share it.
type ConversationFilter struct {
	// From is the inclusive lower bound on begin_time.
	From time.Time `json:"from,omitzero"`
	// To is the exclusive upper bound on begin_time.
	To time.Time `json:"to,omitzero"`
	// OwnerIDs: owned by any of these users.
	OwnerIDs []int64 `json:"owner_ids,omitempty"`
	// DepartmentID: owned by a user of this department or one below it.
	DepartmentID int64 `json:"department_id,omitempty"`
	DealID       int64 `json:"deal_id,omitempty"`
	// Direction is one of the Direction* constants.
	Direction     string `json:"direction,omitempty"`
	MinDurationMS *int64 `json:"min_duration_ms,omitempty"`
	MaxDurationMS *int64 `json:"max_duration_ms,omitempty"`
	// TrackerID: with at least one hit of this tracker.
	TrackerID int64 `json:"tracker_id,omitempty"`
}

// ConversationCursor is a keyset position in the (begin_time DESC, id DESC)
// order of conversation lists: the next page starts strictly after it.
type ConversationCursor struct {
	BeginTime time.Time
	ID        int64
}

// TrackerHitCount is how often one tracker hit one conversation.
type TrackerHitCount struct {
	TrackerID   int64  `json:"tracker_id"`
	TrackerName string `json:"tracker_name"`
	Hits        int64  `json:"hits"`
}
