package conversation

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
)

// AppendDeleted is the DeleteHook that appends a conversation.deleted
// event per conversation to l, in the deletion's transaction.
func AppendDeleted(l EventLog) DeleteHook {
	return DeleteHookFunc(func(ctx context.Context, deleted []model.Conversation) error {
		evs := make([]events.Event, len(deleted))
		for i, c := range deleted {
			evs[i] = events.Event{TenantID: c.TenantID, Type: events.ConversationDeleted, Data: map[string]any{
				"conversation_id":        c.ID,
				"origin_conversation_id": c.OriginConversationID,
			}}
		}
		return l.Append(ctx, evs...)
	})
}
