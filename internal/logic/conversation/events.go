package conversation

import (
	"context"
	"time"

	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/interaction"
	"github.com/megaview/mgvcore/internal/model"
)

// EventLog is where writes append their partner events, in their own
// transaction (events.Log).
type EventLog interface {
	Append(ctx context.Context, evs ...events.Event) error
	// Stage defers the Appends made under the context it returns to flush,
	// which writes them with one statement.
	Stage(ctx context.Context) (staged context.Context, flush func() error)
}

// SetEventLog makes every conversation and transcript write append its
// partner events to l in its transaction: conversation.created, and
// transcript.ready (with the events the transcript hooks append, such as
// tracker.matched) for each transcript of a group, with one statement per
// group.
func (in *Ingest) SetEventLog(l EventLog) { in.events = l }

// createConversation inserts conv and its participants with its
// conversation.created event, unless one of users was erased.
func (in *Ingest) createConversation(ctx context.Context, conv *model.Conversation, parts []model.Participant, users []attribution) error {
	return in.tx.InTx(ctx, func(ctx context.Context) error {
		if err := in.refuseErased(ctx, conv.TenantID, users); err != nil {
			return err
		}
		if err := in.convs.Create(ctx, conv, parts); err != nil {
			return err
		}
		if in.events == nil {
			return nil
		}
		return in.events.Append(ctx, events.Event{TenantID: conv.TenantID, Type: events.ConversationCreated, Data: map[string]any{
			"conversation_id":        conv.ID,
			"origin_conversation_id": conv.OriginConversationID,
			"owner_user_id":          conv.OwnerUserID,
			"begin_time":             conv.BeginTime.UTC().Format(time.RFC3339Nano),
		}})
	})
}

// stageEvents returns the context a transcript group is written in and
// the flush that appends its events last; without an event log, ctx and
// a flush that does nothing.
func (in *Ingest) stageEvents(ctx context.Context) (context.Context, func() error) {
	if in.events == nil {
		return ctx, func() error { return nil }
	}
	return in.events.Stage(ctx)
}

// appendTranscriptReady stages the transcript.ready event of w.
func (in *Ingest) appendTranscriptReady(ctx context.Context, w TranscriptWrite, m interaction.Metrics) error {
	if in.events == nil {
		return nil
	}
	c := w.Conversation
	return in.events.Append(ctx, events.Event{TenantID: c.TenantID, Type: events.TranscriptReady, Data: map[string]any{
		"conversation_id":    c.ID,
		"transcript_version": c.TranscriptVersion,
		"sentence_count":     len(w.Sentences),
		"metrics": map[string]any{
			"talk_ratio":                m.TalkRatio,
			"longest_monologue_ms":      m.LongestMonologueMS,
			"longest_customer_story_ms": m.LongestCustomerStoryMS,
			"interactivity":             m.Interactivity,
			"patience_ms":               m.PatienceMS,
			"question_count_internal":   m.QuestionCountInternal,
			"question_count_external":   m.QuestionCountExternal,
			"question_rate":             m.QuestionRate,
			"silence_ms":                m.SilenceMS,
			"algo_version":              m.AlgoVersion,
		},
	}})
}
