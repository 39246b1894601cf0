// Package model holds the gorm structs and plain domain types. Every row
// carries its tenant; times are UTC. No behaviour beyond validation.
package model

import "time"

// Roles of a user.
const (
	RoleRep     = "rep"
	RoleManager = "manager"
	RoleAdmin   = "admin"
)

// Affiliations of a participant or a tracker filter.
const (
	AffiliationInternal = "internal"
	AffiliationExternal = "external"
	AffiliationUnknown  = "unknown"
	AffiliationAnyone   = "anyone"
)

// Conversation channels, directions and states.
const (
	ChannelCall    = "call"
	ChannelMeeting = "meeting"

	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	DirectionUnknown  = "unknown"

	StatusPending = "pending"
	StatusReady   = "ready"
	StatusFailed  = "failed"
)

// User states.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// Tenant is one customer company.
type Tenant struct {
	ID        int64 `gorm:"primaryKey"`
	Name      string
	Timezone  string
	RateTier  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Department is a node of the tenant's org tree. Path is "/1/5/9/": the ids
// from the root down to this node, so a subtree is a prefix match.
type Department struct {
	ID                 int64 `gorm:"primaryKey"`
	TenantID           int64
	ParentID           *int64
	OriginDepartmentID *string
	Name               string
	Path               string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// MaxDepartmentPath is departments.path's column size: no department's path,
// nor that of any department below it, may be longer.
const MaxDepartmentPath = 512

// User is a member of a tenant. PasswordHash is never returned.
type User struct {
	ID           int64 `gorm:"primaryKey"`
	TenantID     int64
	DepartmentID *int64
	Name         string
	Email        *string
	Phone        *string
	Role         string
	Status       string
	OriginUserID *string
	PasswordHash string `json:"-"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Erased reports whether a privacy erasure anonymised u: no name (every
// other user has one, 1..255 characters), no email, phone, origin id or
// password, disabled. Nothing may be attributed to such a user any more.
func (u User) Erased() bool {
	return u.Name == "" && u.Email == nil && u.Phone == nil && u.OriginUserID == nil && u.PasswordHash == "" && u.Status == UserDisabled
}

// App is an open-platform client of a tenant.
type App struct {
	ID         int64 `gorm:"primaryKey"`
	TenantID   int64
	Name       string
	AppKey     string
	SecretHash string `json:"-"`
	// Scopes is a space-separated list, e.g. "ingest read search".
	Scopes   string
	RateTier string
	// Status is AppActive or AppDisabled; a disabled app gets no token.
	Status string
	// OldSecretHash is the previous secret's hash while OldSecretUntil
	// (the end of its grace after a rotation) is ahead; "" when none.
	OldSecretHash  string `json:"-"`
	OldSecretUntil *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// App statuses.
const (
	AppActive   = "active"
	AppDisabled = "disabled"
)

// RefreshToken is one single-use refresh token; tokens of one login form a
// family, all revoked when a spent one is presented again.
type RefreshToken struct {
	ID        int64 `gorm:"primaryKey"`
	TenantID  int64
	UserID    int64
	FamilyID  string
	TokenHash string
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

// Token version kinds.
const (
	TokenVersionUser = "user"
	TokenVersionApp  = "app"
)

// TokenVersion is the version a user's or an app's tokens must carry at
// least; raising it revokes every token signed before.
type TokenVersion struct {
	ID        int64 `gorm:"primaryKey"`
	Kind      string
	SubjectID int64
	TenantID  int64
	Version   int64
	Reason    string
	ChangedAt time.Time
	// GraceVersion and above stay valid until GraceUntil (nil: no grace):
	// the tokens of an app's previous secret during its grace.
	GraceVersion int64
	GraceUntil   *time.Time
	// Revision numbers the last raise, from one sequence for every user
	// and app, in commit order (0: raised by a release before migration
	// 0025); instances poll by it.
	Revision int64
}

// Deal is a sales opportunity.
type Deal struct {
	ID           int64 `gorm:"primaryKey"`
	TenantID     int64
	OriginDealID string
	Name         string
	AccountName  string
	Stage        string
	// AmountCents is the amount in the smallest currency unit.
	AmountCents int64
	OwnerUserID *int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Conversation is one call or meeting.
type Conversation struct {
	ID                   int64 `gorm:"primaryKey"`
	TenantID             int64
	OriginConversationID string
	OwnerUserID          int64
	DealID               *int64
	Title                string
	Channel              string
	Direction            string
	BeginTime            time.Time
	DurationMS           int64
	Language             string
	Status               string
	// CustomData is a JSON object.
	CustomData string
	// RequestHash fingerprints the create request, so a retry is told
	// apart from a conflicting reuse of the origin id; ErasedRequest once
	// an erasure rewrote what it fingerprints.
	RequestHash       string
	TranscriptVersion int64
	SentenceCount     int
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Participant maps an ASR speaker label to a person.
type Participant struct {
	ID             int64 `gorm:"primaryKey"`
	TenantID       int64
	ConversationID int64
	SpeakerKey     string
	UserID         *int64
	Name           string
	Affiliation    string
}

// Sentence is one line of a transcript.
type Sentence struct {
	ConversationID int64
	Seq            int
	TenantID       int64
	SpeakerKey     string
	StartMS        int64
	EndMS          int64
	Text           string
}

// TranscriptPart is a run of a transcript's sentences in seq order, stored
// as one JSON array (dao encodes and decodes it): a transcript is written
// and read whole, so its sentences need not be rows of their own. Most
// transcripts are one part; a part stays far below MySQL's packet limit.
type TranscriptPart struct {
	ConversationID int64 `gorm:"primaryKey"`
	Part           int   `gorm:"primaryKey"`
	TenantID       int64
	Sentences      string
}

// ConversationMetrics are the interaction metrics of a transcript.
type ConversationMetrics struct {
	ConversationID         int64 `gorm:"primaryKey"`
	TenantID               int64
	AlgoVersion            int
	TalkRatio              float64
	LongestMonologueMS     int64
	LongestCustomerStoryMS int64
	Interactivity          float64
	PatienceMS             float64
	QuestionCountInternal  int
	QuestionCountExternal  int
	QuestionRate           float64
	SilenceMS              int64
	ComputedAt             time.Time
}

// Tracker is a named set of keywords to find in transcripts.
type Tracker struct {
	ID       int64 `gorm:"primaryKey"`
	TenantID int64
	Name     string
	// Keywords is a JSON array of words and phrases.
	Keywords    string
	Affiliation string
	// Version grows with every change; hits of older versions are replaced
	// by the background re-application.
	Version int64
	// MatchRule is the rule of keyword matching (TrackerMatchRule) by
	// which the tracker was last queued to be applied to every
	// conversation: one below this version's is applied once more.
	MatchRule int
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt *time.Time
}

// TrackerMatchRule numbers the rule by which tracker keywords match
// (package tracker); bump it whenever a change would alter hits already
// stored, so that every tracker is applied again once (trackers.match_rule,
// OutboxTrackerApply). Rule 1 cut Chinese into characters that matched
// across punctuation and spaces (好用 hit 很好，用户) and numbers at their
// full stops and commas (3 hit 3.5%); rule 2 matches as search does.
const TrackerMatchRule = 2

// TrackerHit is one keyword found in one sentence.
type TrackerHit struct {
	ID             int64 `gorm:"primaryKey"`
	TenantID       int64
	TrackerID      int64
	ConversationID int64
	Seq            int
	StartMS        int64
	SpeakerKey     string
	Phrase         string
}

// Comment is a remark at a moment of a call.
type Comment struct {
	ID             int64 `gorm:"primaryKey"`
	TenantID       int64
	ConversationID int64
	AuthorUserID   int64
	StartMS        int64
	Text           string
	ReplyTo        *int64
	CreatedAt      time.Time
	DeletedAt      *time.Time
}

// Outbox kinds.
const (
	OutboxTranscript   = "transcript"
	OutboxConversation = "conversation"
	// OutboxTrackerApply applies a tracker to the tenant's conversations by
	// rule TrackerMatchRule, whose number its name carries: a process of an
	// earlier version, which claims only OutboxTrackerApplyRule1, never
	// applies it by its own rule, as it could beside this one while an
	// upgrade runs (tableflip, or a fleet upgraded an instance at a time).
	OutboxTrackerApply = "tracker_apply_2"
	// OutboxTrackerApplyRule1 is the kind of the jobs earlier versions
	// write; this one claims them too and applies them by its rule.
	OutboxTrackerApplyRule1 = "tracker_apply"
)

// OutboxTrackerKinds are the kinds of tracker jobs this version runs.
var OutboxTrackerKinds = []string{OutboxTrackerApplyRule1, OutboxTrackerApply}

// OutboxJob is durable background work written in the same transaction as
// the change it follows: search indexing and tracker re-application.
type OutboxJob struct {
	ID             int64 `gorm:"primaryKey"`
	TenantID       int64
	Kind           string
	ConversationID int64
	TrackerID      int64
	Version        int64
	// Attempts counts the job's claims. A claim's count is its token:
	// its renewals, finish and retry act only while the count is still
	// the claim's, that is, while no later claim took the job.
	Attempts int
	// Failures counts the job's failed attempts in a row; its retry delay
	// grows with them. A turn handed back, or a run interrupted, sets it
	// to 0: claims alone never lengthen the delay.
	Failures      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
}

// TableName keeps the table name short and stable.
func (OutboxJob) TableName() string { return "outbox" }

// TableName of ConversationMetrics.
func (ConversationMetrics) TableName() string { return "conversation_metrics" }
