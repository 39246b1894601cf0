// Package privacy is governance over personal data: what holds a person
// (lookup) and erasing them (an asynchronous job that deletes the
// conversations an external person took part in and anonymises an
// internal user).
package privacy

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Repo is the storage of lookups and erasures (dao.Privacy).
type Repo interface {
	// FindPerson finds what holds a person in a tenant: the user whose
	// identifier is one of values (FindUser), the conversations where
	// that user speaks, and those where a speaker who is not a user is
	// named one of names.
	FindPerson(ctx context.Context, tenantID int64, kind string, values, names []string) (model.PersonMatch, error)
	// ExternalNames lists the distinct names of the tenant's speakers who
	// are not users for which keep holds.
	ExternalNames(ctx context.Context, tenantID int64, keep func(name string) bool) ([]string, error)
	// FindUser finds the tenant's user whose identifier is one of values,
	// byte for byte, the user of the earliest value winning; nil when
	// there is none (and for a name).
	FindUser(ctx context.Context, tenantID int64, kind string, values []string) (*model.User, error)
	// CountComments counts the live comments a user wrote.
	CountComments(ctx context.Context, tenantID, userID int64) (int64, error)
	// CountSentences counts the sentences spoken under the given speaker
	// keys of each conversation.
	CountSentences(ctx context.Context, tenantID int64, speakers map[int64][]string) (int64, error)

	CreateErasure(ctx context.Context, e *model.Erasure) error
	// GetErasure returns a job of the tenant; ERASURE_NOT_FOUND otherwise.
	GetErasure(ctx context.Context, tenantID, id int64) (model.Erasure, error)
	// ConfirmErasure moves a job awaiting confirmation whose total is
	// total to pending and reports whether it did.
	ConfirmErasure(ctx context.Context, tenantID, id, total int64) (bool, error)
	// RecountErasure sets the total of a job awaiting confirmation and
	// reports whether it did (false: it no longer awaits confirmation).
	RecountErasure(ctx context.Context, tenantID, id, total int64) (bool, error)
	// ErasureGrew sets the total of owner's pending job; with confirm the
	// job goes back to awaiting confirmation and owner's claim ends,
	// otherwise owner's lease is renewed. False when owner no longer
	// holds it.
	ErasureGrew(ctx context.Context, id int64, owner string, total int64, confirm bool, lease time.Duration) (bool, error)
	// BoundErasure returns the job's bound (ConversationsUpTo), giving a
	// job from before it had one the tenant's highest conversation id now.
	BoundErasure(ctx context.Context, tenantID, id int64) (int64, error)
	// ErasureScope returns the tenant's highest conversation id now and
	// the number of conversations up to it where a speaker who is not a
	// user is named one of names, read together.
	ErasureScope(ctx context.Context, tenantID int64, names []string) (upTo, count int64, err error)
	// ClaimErasure leases one pending job whose lease has run out to owner
	// until lease from now; nil when there is none. Tenants take turns: a
	// tenant that holds perTenant leased jobs, on any instance, gets none,
	// and of the others the one with the fewest goes first, then the one
	// that has waited longest.
	ClaimErasure(ctx context.Context, owner string, lease time.Duration, perTenant int) (*model.Erasure, error)
	// ErasureProgress adds deleted to the job's count and renews owner's
	// lease; false when owner no longer holds it.
	ErasureProgress(ctx context.Context, id int64, owner string, deleted int, lease time.Duration) (bool, error)
	// ErasureRedacted adds to the counts of what owner's job rewrote where
	// free text wrote the person's email or phone, moves its reading on to
	// conversation id after (never back), and renews owner's lease; false
	// when owner no longer holds it.
	ErasureRedacted(ctx context.Context, id int64, owner string, conversations, deals int, after int64, lease time.Duration) (bool, error)
	// MentionsBegin records when owner's job began reading for mentions
	// and renews owner's lease; false when owner no longer holds it.
	MentionsBegin(ctx context.Context, id int64, owner string, since time.Time, lease time.Duration) (bool, error)
	// ExternalConversations lists up to limit conversations of the tenant
	// with ids up to upTo, in id order, where a speaker who is not a user
	// is named one of names.
	ExternalConversations(ctx context.Context, tenantID int64, names []string, upTo int64, limit int) ([]int64, error)
	// CountExternalConversations counts the conversations of the tenant
	// with ids up to upTo where a speaker who is not a user is named one of names.
	CountExternalConversations(ctx context.Context, tenantID int64, names []string, upTo int64) (int64, error)
	// OutboxMark is the highest outbox job id now (0: none).
	OutboxMark(ctx context.Context) (int64, error)
	// IndexRemovalPending reports whether a search job of the tenant up
	// to id mark is for a conversation that no longer exists: the search
	// index still holds a deleted conversation's document.
	IndexRemovalPending(ctx context.Context, tenantID, mark int64) (bool, error)
	// SearchJobsPending reports whether a search job of the tenant up to
	// id mark is left for a conversation up to id upTo changed at or after
	// since, or deleted.
	SearchJobsPending(ctx context.Context, tenantID, mark, upTo int64, since time.Time) (bool, error)
	// User returns a user of the tenant; nil when there is none.
	User(ctx context.Context, tenantID, id int64) (*model.User, error)
	// FindMentions reads the free text of up to limit of the tenant's
	// conversations with ids above after and up to upTo (changed, or
	// commented on, at or after since, when it is not zero), in id order,
	// and returns those where spans finds a mention, and the last id read
	// (0 when none was left).
	FindMentions(ctx context.Context, tenantID, after, upTo int64, limit int, since time.Time, spans func(text string) [][2]int) (found []int64, last int64, err error)
	// RedactConversations writes model.Redacted over the mentions spans
	// finds in the free text of the tenant's conversations ids, raising
	// their transcript versions and queueing their re-indexing, and
	// returns how many had a mention; it leaves alone those where a
	// speaker who is not a user has a name for which speaks holds (nil:
	// none). In the transaction ctx carries.
	RedactConversations(ctx context.Context, tenantID int64, ids []int64, spans func(string) [][2]int, speaks func(name string) bool) (int, error)
	// RekeyUserSpeakers gives the user's participant rows in up to limit
	// conversations, those not given it yet, a speaker key that names no
	// one, in participants, transcripts and tracker hits, raising their
	// transcript versions and queueing their re-indexing; it returns how
	// many conversations it re-keyed (0: none left). In the transaction
	// ctx carries.
	RekeyUserSpeakers(ctx context.Context, tenantID, userID int64, limit int) (int, error)
	// RedactDeals writes model.Redacted over the mentions in the names and
	// account names of up to limit of the tenant's deals with ids above
	// after (changed at or after since, when it is not zero), in id order,
	// and returns the last id read (0 when none was left) and how many had
	// a mention.
	RedactDeals(ctx context.Context, tenantID, after int64, limit int, since time.Time, spans func(string) [][2]int) (last int64, n int, err error)
	// RedactEvents writes model.Redacted over the mentions in the data of
	// up to limit of the tenant's partner events with ids above after
	// (leaving those of conversations above upTo), in id order, and
	// returns the last id read (0 when none was left) and how many had a
	// mention.
	RedactEvents(ctx context.Context, tenantID, after, upTo int64, limit int, spans func(string) [][2]int) (last int64, n int, err error)
	// ClearWebhookAnswers cuts the receivers' answers that earlier
	// versions kept after the status down to the status, in the tenant's
	// webhook deliveries with ids in (after, after+span], and returns
	// where to go on from (0 when the log is read through) and how many
	// it cut.
	ClearWebhookAnswers(ctx context.Context, tenantID, after int64, span int) (next int64, n int, err error)
	// DisableUser disables a user and revokes their refresh tokens,
	// keeping what identifies them; LAST_ADMIN for the tenant's last
	// active admin. In the transaction ctx carries.
	DisableUser(ctx context.Context, tenantID, userID int64) error
	// AnonymiseUser clears a user's name, email, phone, origin id and
	// password, disables them, revokes their refresh tokens, clears their
	// name on the participants they are, deletes the comments they wrote
	// (their text), and queues the re-indexing of the conversations they
	// speak in. In the transaction ctx carries.
	// It refuses the tenant's last active admin (LAST_ADMIN).
	AnonymiseUser(ctx context.Context, tenantID, userID int64) error
	// KeepAnAdmin answers LAST_ADMIN when userID is the tenant's last
	// active admin, whom an erasure would disable.
	KeepAnAdmin(ctx context.Context, tenantID, userID int64) error
	// ReleaseErasures hands owner's jobs back, due at once (a clean stop
	// or an upgrade: the next process need not wait out the lease; the end
	// of a job's turn: the next claim serves the tenants waiting first).
	ReleaseErasures(ctx context.Context, owner string) error
	// ForgetErasure clears the subject of owner's pending job whose
	// deletions and anonymisation are done; it then only ends.
	ForgetErasure(ctx context.Context, id int64, owner string) error
	// ExpireUnconfirmed ends failed, with lastError and without their
	// subject, the jobs awaiting confirmation unchanged since before, and
	// returns them.
	ExpireUnconfirmed(ctx context.Context, before time.Time, lastError string) ([]model.Erasure, error)
	// FinishErasure ends owner's job with status and forgets its subject.
	FinishErasure(ctx context.Context, id int64, owner, status, lastError string) error
}

// Revoker ends every token of a user (identity.Revocations).
type Revoker interface {
	Revoke(ctx context.Context, kind string, tenantID, id int64, reason string) error
}

// Transactor runs functions in one transaction.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// ErasedHook runs in the transaction that ends an erasure (the
// person.erased event is written there). It gets the job with its subject
// already cleared.
type ErasedHook interface {
	OnPersonErased(ctx context.Context, e model.Erasure) error
}

// externalNames lists the names the tenant's speakers who are not users
// carry that are the subject's identifier, in whatever form they were
// written: an email in capitals, a phone number with spaces or a country
// prefix. Lookups and erasures match those, not the normalised value alone.
func externalNames(ctx context.Context, repo Repo, tenantID int64, kind, value string) ([]string, error) {
	return repo.ExternalNames(ctx, tenantID, nameMatcher(kind, value))
}

// userKeys are the values a user's identifier may be stored as: the
// normalised value, and for a phone also the forms releases before E.164
// normalisation stored (as sign-in finds them), from the number as given
// and from its E.164 form, so that a user who still signs in with such a
// number is found, and erased, too.
func userKeys(given Subject, kind, value string) []string {
	keys := []string{value}
	if kind != model.SubjectPhone {
		return keys
	}
	for _, v := range []string{value, given.Phone} {
		forms, _ := identity.PhoneForms(v)
		for _, f := range forms {
			if !slices.Contains(keys, f) {
				keys = append(keys, f)
			}
		}
	}
	return keys
}

// nameMatcher tells whether a speaker's name is the subject's identifier,
// or holds it: for an email, the same address whatever its case; for a
// phone, a number that normalises to the same E.164 one; for either, a
// name that writes it among other words, as partners label a speaker
// ("Jose <jose@example.com>", "张先生 138 0013 8000"): that speaker is the
// person, whose words go with their conversations (the mention reading
// would otherwise redact the identifier from the name and leave the words
// under it, found by nothing after). For a name, the value itself (spaces
// around a name never count). An origin user id is the partner's
// id of a user: it names no speaker who is not a user, whatever a
// speaker's name says (a partner's contact id or an extension may read
// the same), so it matches none.
func nameMatcher(kind, value string) func(name string) bool {
	switch kind {
	case model.SubjectOriginUserID:
		return func(string) bool { return false }
	case model.SubjectEmail:
		m := newMentions([]string{value}, nil)
		return func(n string) bool {
			return strings.Contains(n, "@") && identity.NormalizeEmail(n) == value || m != nil && len(m.Spans(n)) > 0
		}
	case model.SubjectPhone:
		m := newMentions(nil, []string{value})
		return func(n string) bool {
			// Most names have no digits (nor numerals) at all: they are
			// not read.
			if !strings.ContainsFunc(n, func(r rune) bool { return unicode.IsDigit(r) || digitOf(r) >= 0 }) {
				return false
			}
			if v, ok := identity.NormalizePhone(n); ok && v == value {
				return true
			}
			return m != nil && len(m.Spans(n)) > 0
		}
	}
	return func(n string) bool { return strings.TrimSpace(n) == value }
}

// emailShaped: v is an address as an account's is (identity.ValidEmail:
// a local part and a domain, nothing around them, at most 255 bytes). An
// erasure finds its subject's address in free text too: "@", "a@" or
// ".@." would match at signs and dots all over the tenant's text.
func emailShaped(v string) bool {
	at := strings.LastIndexByte(v, '@')
	return at > 0 && at < len(v)-1 && identity.ValidEmail(v)
}

// Subject is whom a lookup or an erasure is about: exactly one of its
// fields.
type Subject struct {
	Email        string
	Phone        string
	OriginUserID string
	Name         string
}

// normalize returns the kind and the normalised value of s, as sign-in
// normalises them (emails lower case, phones E.164), or the error naming
// the field at fault. A value holding a control character is refused, as
// where users and participants are written: it names no one, and an
// erasure keeps its subject to show.
func (s Subject) normalize() (kind, value string, err error) {
	given := 0
	for _, v := range []string{s.Email, s.Phone, s.OriginUserID, s.Name} {
		if strings.TrimSpace(v) != "" {
			given++
		}
	}
	if given != 1 {
		return "", "", errs.InvalidArgument("email", "give exactly one of email, phone, origin_user_id and name (got %d)", given)
	}
	switch {
	case s.Email != "":
		if err := access.CheckLine("email", s.Email); err != nil {
			return "", "", err
		}
		v := identity.NormalizeEmail(s.Email)
		if !emailShaped(v) {
			return "", "", errs.InvalidArgument("email", "%q is not an email address: it needs a name, an at sign and a domain, no spaces, at most 255 bytes", s.Email)
		}
		return model.SubjectEmail, v, nil
	case s.Phone != "":
		v, ok := identity.NormalizePhone(s.Phone)
		if !ok {
			return "", "", errs.InvalidArgument("phone", "not a valid phone number")
		}
		return model.SubjectPhone, v, nil
	case s.OriginUserID != "":
		// 128 characters, as a user's origin id may have: up to 512 bytes.
		v := strings.TrimSpace(s.OriginUserID)
		if n := utf8.RuneCountInString(v); n > 128 {
			return "", "", errs.InvalidArgument("origin_user_id", "at most 128 characters (got %d)", n)
		}
		if err := access.CheckLine("origin_user_id", v); err != nil {
			return "", "", err
		}
		return model.SubjectOriginUserID, v, nil
	}
	v := strings.TrimSpace(s.Name)
	if len([]rune(v)) > 255 {
		return "", "", errs.InvalidArgument("name", "at most 255 characters")
	}
	if err := access.CheckLine("name", v); err != nil {
		return "", "", err
	}
	return model.SubjectName, v, nil
}
