package privacy

import (
	"context"
	"strconv"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/model"
)

// ErasureView is an erasure job as the API shows it: never the identifier
// it erases.
type ErasureView struct {
	ID                   int64
	Status               string
	SubjectKind          string
	InternalUser         bool
	ConversationsTotal   int64
	ConversationsDeleted int64
	UsersAnonymised      int64
	LastError            string
	CreatedAt            time.Time
	UpdatedAt            time.Time
	FinishedAt           *time.Time
	ConversationsUpTo    *int64
	// ConversationsRedacted and DealsRedacted count what the job rewrote
	// where free text wrote the person's email or phone.
	ConversationsRedacted int64
	DealsRedacted         int64
}

func erasureView(e model.Erasure) ErasureView {
	v := ErasureView{ID: e.ID, Status: e.Status, SubjectKind: e.SubjectKind, InternalUser: e.UserID != 0,
		ConversationsTotal: e.ConversationsTotal, ConversationsDeleted: e.ConversationsDeleted,
		UsersAnonymised: e.UsersAnonymised, LastError: e.LastError,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(), ConversationsUpTo: e.ConversationsUpTo,
		ConversationsRedacted: e.ConversationsRedacted, DealsRedacted: e.DealsRedacted}
	if e.FinishedAt != nil {
		t := e.FinishedAt.UTC()
		v.FinishedAt = &t
	}
	return v
}

// StartErasure starts erasing a person: the conversations where they are a
// speaker who is not a user are deleted, and if they are a user of the
// tenant, that user is anonymised (their conversations stay). The job is
// the conversations that exist now: it keeps the tenant's highest
// conversation id, read with the count, and deletes none above it (a
// conversation ingested later is for a later request). It runs in the
// background; one deleting more than the confirmation threshold waits for
// ConfirmErasure with its count. A name erases only speakers who are not
// users, and one that names no such speaker but a user is refused: users
// are erased by their email, phone or origin user id. Admins only.
func (s *Service) StartErasure(ctx context.Context, subject Subject) (ErasureView, error) {
	sc, err := access.Require(ctx, access.Admin)
	if err != nil {
		return ErasureView{}, err
	}
	kind, value, err := subject.normalize()
	if err != nil {
		return ErasureView{}, err
	}
	user, err := s.repo.FindUser(ctx, sc.TenantID, kind, userKeys(subject, kind, value))
	if err != nil {
		return ErasureView{}, err
	}
	names, err := externalNames(ctx, s.repo, sc.TenantID, kind, value)
	if err != nil {
		return ErasureView{}, err
	}
	upTo, n, err := s.repo.ErasureScope(ctx, sc.TenantID, names)
	if err != nil {
		return ErasureView{}, err
	}
	if kind == model.SubjectName && user != nil {
		// Names are not unique: a name erases only the speakers who are
		// not users and bear it, never the user who does. One that
		// names no such speaker would erase nothing of the user while
		// reporting done.
		if n == 0 {
			return ErasureView{}, errs.InvalidArgument("name", "this is the name of user %d of the tenant, and of no speaker who is not a user; erase a user by their email, phone or origin_user_id", user.ID)
		}
		user = nil
	}
	e := model.Erasure{TenantID: sc.TenantID, RequestedBy: sc.UserID, SubjectKind: kind, Subject: value,
		Status: model.ErasurePending, ConversationsTotal: n, ConversationsUpTo: &upTo}
	if user != nil {
		if err := s.repo.KeepAnAdmin(ctx, sc.TenantID, user.ID); err != nil {
			return ErasureView{}, err
		}
		e.UserID = user.ID
	}
	if e.ConversationsTotal > s.confirmOver {
		e.Status = model.ErasureAwaitingConfirmation
	}
	if err := s.repo.CreateErasure(ctx, &e); err != nil {
		return ErasureView{}, err
	}
	audit.Target(ctx, "erasure", strconv.FormatInt(e.ID, 10))
	if e.Status == model.ErasurePending {
		s.notify()
	}
	return erasureView(e), nil
}

// GetErasure returns a job of the caller's tenant. Admins only.
func (s *Service) GetErasure(ctx context.Context, id int64) (ErasureView, error) {
	_, e, err := s.erasure(ctx, id)
	if err != nil {
		return ErasureView{}, err
	}
	return erasureView(e), nil
}

// erasure is the admin's tenant and its job id.
func (s *Service) erasure(ctx context.Context, id int64) (model.Scope, model.Erasure, error) {
	sc, err := access.Require(ctx, access.Admin)
	if err != nil {
		return model.Scope{}, model.Erasure{}, err
	}
	if err := access.CheckID("id", id); err != nil {
		return model.Scope{}, model.Erasure{}, err
	}
	e, err := s.repo.GetErasure(ctx, sc.TenantID, id)
	return sc, e, err
}

// ConfirmErasure lets a job that waits for confirmation run; count must be
// the number of conversations it deletes, as the job states it. The job is
// counted again first (what it deleted, and what matches up to its bound
// now): a transcript rewritten since may have added or removed the person
// from conversations. When that number is not the job's total, the total
// becomes it; a larger one refuses the confirmation, naming it, so that an
// admin confirms what will really be deleted, and a smaller one is
// confirmed. A count that is the new total is confirmed at once. A job that waits for no
// confirmation (any more) is ERASURE_NOT_AWAITING_CONFIRMATION. Admins
// only.
func (s *Service) ConfirmErasure(ctx context.Context, id, count int64) (ErasureView, error) {
	sc, e, err := s.erasure(ctx, id)
	if err != nil {
		return ErasureView{}, err
	}
	if e.Status != model.ErasureAwaitingConfirmation {
		return ErasureView{}, errs.Of(errs.ReasonErasureNotAwaitingConfirmation, "erasure %d is %s and waits for no confirmation", id, e.Status)
	}
	upTo, err := s.repo.BoundErasure(ctx, sc.TenantID, id)
	if err != nil {
		return ErasureView{}, err
	}
	names, err := externalNames(ctx, s.repo, sc.TenantID, e.SubjectKind, e.Subject)
	if err != nil {
		return ErasureView{}, err
	}
	left, err := s.repo.CountExternalConversations(ctx, sc.TenantID, names, upTo)
	if err != nil {
		return ErasureView{}, err
	}
	if total := e.ConversationsDeleted + left; total != e.ConversationsTotal {
		ok, err := s.repo.RecountErasure(ctx, sc.TenantID, id, total)
		if err != nil {
			return ErasureView{}, err
		}
		if !ok {
			return ErasureView{}, confirmedAlready(id)
		}
		// A count of what is there now is confirmed. Fewer than the
		// admin confirms is no risk either (retention or a delete got to
		// some first): the confirmation stands for them.
		if count != total && (total > e.ConversationsTotal || count != e.ConversationsTotal) {
			return ErasureView{}, countChanged(total)
		}
		e.ConversationsTotal, count = total, total
	}
	if count != e.ConversationsTotal {
		return ErasureView{}, errs.InvalidArgument("count", "must be the number of conversations the erasure deletes, %d (got %d)", e.ConversationsTotal, count)
	}
	ok, err := s.repo.ConfirmErasure(ctx, sc.TenantID, id, count)
	if err != nil {
		return ErasureView{}, err
	}
	if !ok {
		// Another admin confirmed it in the meantime, or counted it
		// again to another total.
		now, err := s.repo.GetErasure(ctx, sc.TenantID, id)
		if err != nil {
			return ErasureView{}, err
		}
		if now.Status == model.ErasureAwaitingConfirmation {
			return ErasureView{}, countChanged(now.ConversationsTotal)
		}
		return ErasureView{}, confirmedAlready(id)
	}
	s.notify()
	return s.GetErasure(ctx, id)
}

// countChanged refuses a confirmation of a job whose count is total now;
// the metadata conversations_total carries the number to confirm.
func countChanged(total int64) error {
	n := strconv.FormatInt(total, 10)
	return errs.InvalidArgument("count", "the conversations the erasure deletes changed since they were counted: it now deletes %s; confirm %s", n, n).
		With("conversations_total", n)
}

// confirmedAlready refuses a confirmation that another got in before.
func confirmedAlready(id int64) error {
	return errs.Of(errs.ReasonErasureNotAwaitingConfirmation, "erasure %d was confirmed already", id)
}
