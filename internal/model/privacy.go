package model

import (
	"strings"
	"time"
)

// Statuses of an erasure job.
const (
	ErasureAwaitingConfirmation = "awaiting_confirmation"
	ErasurePending              = "pending"
	ErasureDone                 = "done"
	ErasureFailed               = "failed"
)

// Redacted is what an erasure writes where free text wrote the person's
// email address or phone number.
const Redacted = "[erased]"

// ErasedRequest is the request hash of a conversation an erasure rewrote
// (a title, a participant's name or key, an origin id): no request has
// it, so a create request with its origin id is a conflict whatever it
// says, and the hash of the request before the erasure, which would tell
// a guess at an erased number right from wrong, is gone.
const ErasedRequest = "erased"

// Redact writes Redacted over the byte ranges spans (in order, apart) of
// text.
func Redact(text string, spans [][2]int) string {
	var b strings.Builder
	at := 0
	for _, s := range spans {
		b.WriteString(text[at:s[0]])
		b.WriteString(Redacted)
		at = s[1]
	}
	b.WriteString(text[at:])
	return b.String()
}

// Kinds of identifier an erasure or a lookup is by.
const (
	SubjectEmail        = "email"
	SubjectPhone        = "phone"
	SubjectOriginUserID = "origin_user_id"
	SubjectName         = "name"
)

// Erasure is a personal-data erasure job (table privacy_erasures).
type Erasure struct {
	ID                   int64 `gorm:"primaryKey"`
	TenantID             int64
	RequestedBy          int64
	SubjectKind          string
	Subject              string
	UserID               int64
	Status               string
	ConversationsTotal   int64
	ConversationsDeleted int64
	UsersAnonymised      int64
	LeaseOwner           string
	LeaseUntil           time.Time
	LastError            string
	CreatedAt            time.Time
	UpdatedAt            time.Time
	FinishedAt           *time.Time
	// ConversationsUpTo is the tenant's highest conversation id when the
	// job was requested: it deletes no conversation above it. Nil for a
	// job from before migration 0016 that has not been taken up since.
	ConversationsUpTo *int64
	// ConversationsRedacted and DealsRedacted count what the job rewrote
	// where free text wrote the person's email or phone (0 for jobs from
	// before migration 0026).
	ConversationsRedacted int64
	DealsRedacted         int64
	// MentionsAfter is the last conversation id the job has read for
	// mentions, and MentionsSince when it began reading (less the skew
	// allowed for the clocks of other instances); nil before it does.
	MentionsAfter int64
	MentionsSince *time.Time
	// Resumed is set by a claim of a job that was claimed before (by a
	// process that stopped or died, by a worker that handed it back at
	// the end of its turn, or before the job waited for its
	// confirmation): what that claim did is not known. Not stored.
	Resumed bool `gorm:"-"`
}

// TableName is privacy_erasures.
func (Erasure) TableName() string { return "privacy_erasures" }

// PersonMatch is what holds a person's data: their user record if they are
// a user of the tenant, and the conversations they take part in.
type PersonMatch struct {
	// User is the internal user, nil for an external person.
	User *User
	// Conversations are the conversations the person took part in, by id,
	// with the speaker keys they spoke under.
	Conversations map[int64][]string
	// External are the conversations among them where the person took
	// part as a speaker who is not a user.
	External []int64
}
