package privacy

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
)

// EventLog is where the end of an erasure appends its event (events.Log).
type EventLog interface {
	Append(ctx context.Context, evs ...events.Event) error
}

// ErasedHookFunc adapts a function to ErasedHook.
type ErasedHookFunc func(ctx context.Context, e model.Erasure) error

// OnPersonErased calls f.
func (f ErasedHookFunc) OnPersonErased(ctx context.Context, e model.Erasure) error { return f(ctx, e) }

// AppendErased is the ErasedHook that appends person.erased to l: the job
// and its counts, never the identifier erased.
func AppendErased(l EventLog) ErasedHook {
	return ErasedHookFunc(func(ctx context.Context, e model.Erasure) error {
		data := map[string]any{
			"erasure_id":            e.ID,
			"subject_kind":          e.SubjectKind,
			"conversations_deleted": e.ConversationsDeleted,
			"users_anonymised":      e.UsersAnonymised,
		}
		if e.UserID != 0 {
			data["user_id"] = e.UserID
		}
		return l.Append(ctx, events.Event{TenantID: e.TenantID, Type: events.PersonErased, Data: data})
	})
}
