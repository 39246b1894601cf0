package server

import (
	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/webhook"
)

// Events serves EventService.
type Events struct {
	openv1.UnimplementedEventServiceServer
	// Webhooks serves the subscription RPCs (webhooks.go).
	Webhooks *webhook.Subscriptions
}
