package server

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/policy"
)

// Events serves EventService: StreamEvents here; the subscription RPCs
// belong to the webhook deliveries.
type Events struct {
	openv1.UnimplementedEventServiceServer
	// Webhooks serves the subscription RPCs (webhooks.go).
	Webhooks *webhook.Subscriptions
	Streams  *events.Streams
	// Slots caps concurrent streams per app (or user), per tenant and in
	// all.
	Slots *bound.Slots
}

// StreamEvents sends the tenant's events after the cursor, then the new
// ones as they commit.
func (s Events) StreamEvents(req *openv1.StreamEventsRequest, stream openv1.EventService_StreamEventsServer) error {
	ctx := stream.Context()
	release, ok := s.Slots.AcquireIn("tenant:"+policy.InfoFrom(ctx).Caller().TenantID, streamKey(ctx))
	if !ok {
		return errs.Of(errs.ReasonOverCapacity, "too many event streams at once for this app, this tenant or this server; close one, or retry shortly").
			With("retry_after_seconds", "5")
	}
	defer release()
	return s.Streams.Stream(ctx, events.StreamRequest{Cursor: req.GetCursor(), Types: req.GetTypes()}, func(e events.Event) error {
		pe, err := eventProto(e)
		if err != nil {
			return err
		}
		return stream.Send(pe)
	})
}

// eventProto converts an event; its data's numbers become doubles, which
// hold every id and count exactly (below 2^53).
func eventProto(e events.Event) (*openv1.Event, error) {
	data, err := structpb.NewStruct(plainJSON(e.Data).(map[string]any))
	if err != nil {
		return nil, errs.Internal(fmt.Errorf("event %d: %w", e.ID, err))
	}
	return &openv1.Event{Id: e.ID, Type: e.Type, TenantId: e.TenantID, OccurredAt: timestamppb.New(e.OccurredAt), Data: data}, nil
}

// plainJSON replaces the json.Numbers of decoded JSON by float64s, which
// structpb takes.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = plainJSON(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = plainJSON(v)
		}
		return out
	}
	return v
}
