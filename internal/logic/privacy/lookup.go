package privacy

import (
	"context"
	"slices"

	"github.com/megaview/mgvcore/internal/logic/access"
)

// lookupIDs bounds the conversation ids a lookup lists (all are counted).
const lookupIDs = 1000

// PersonUser is the user record of a person, as a lookup shows it.
type PersonUser struct {
	ID           int64
	Name         string
	Email        *string
	Phone        *string
	OriginUserID *string
	Role         string
	Status       string
}

// Holdings is what holds a person's data in a tenant.
type Holdings struct {
	// User is nil when the person is not a user of the tenant.
	User *PersonUser
	// Conversations counts those the person takes part in;
	// ExternalConversations those where they are a speaker who is not a
	// user (an erasure deletes these). ConversationIDs lists the first
	// lookupIDs of them, in id order.
	Conversations         int64
	ExternalConversations int64
	ConversationIDs       []int64
	CommentsAuthored      int64
	SentencesSpoken       int64
}

// Service holds the lookup and erasure use cases.
type Service struct {
	repo        Repo
	confirmOver int64
	notify      func()
}

// NewService works through repo; an erasure deleting more than confirmOver
// conversations waits for its count to be confirmed. notify (may be nil)
// wakes the erasure runner.
func NewService(repo Repo, confirmOver int64, notify func()) *Service {
	if notify == nil {
		notify = func() {}
	}
	return &Service{repo: repo, confirmOver: confirmOver, notify: notify}
}

// Lookup lists what holds a person: their user record, the conversations
// they take part in (as a user or as a named outside speaker), the
// comments they wrote and the sentences they spoke. Admins only.
func (s *Service) Lookup(ctx context.Context, subject Subject) (Holdings, error) {
	sc, err := access.Require(ctx, access.Admin)
	if err != nil {
		return Holdings{}, err
	}
	kind, value, err := subject.normalize()
	if err != nil {
		return Holdings{}, err
	}
	names, err := externalNames(ctx, s.repo, sc.TenantID, kind, value)
	if err != nil {
		return Holdings{}, err
	}
	m, err := s.repo.FindPerson(ctx, sc.TenantID, kind, userKeys(subject, kind, value), names)
	if err != nil {
		return Holdings{}, err
	}
	out := Holdings{Conversations: int64(len(m.Conversations)), ExternalConversations: int64(len(m.External)), ConversationIDs: []int64{}}
	for id := range m.Conversations {
		out.ConversationIDs = append(out.ConversationIDs, id)
	}
	slices.Sort(out.ConversationIDs)
	out.ConversationIDs = out.ConversationIDs[:min(len(out.ConversationIDs), lookupIDs)]
	if u := m.User; u != nil {
		out.User = &PersonUser{ID: u.ID, Name: u.Name, Email: u.Email, Phone: u.Phone, OriginUserID: u.OriginUserID, Role: u.Role, Status: u.Status}
		if out.CommentsAuthored, err = s.repo.CountComments(ctx, sc.TenantID, u.ID); err != nil {
			return Holdings{}, err
		}
	}
	if out.SentencesSpoken, err = s.repo.CountSentences(ctx, sc.TenantID, m.Conversations); err != nil {
		return Holdings{}, err
	}
	return out, nil
}
