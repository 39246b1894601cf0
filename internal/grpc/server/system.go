// Package server implements the mgv.open.v1 services: proto ↔ logic
// conversion only; the use cases live in internal/logic.
package server

import (
	"context"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// System serves SystemService.
type System struct {
	openv1.UnimplementedSystemServiceServer
}

// Ping answers at once, through every interceptor.
func (System) Ping(context.Context, *openv1.PingRequest) (*openv1.PingResponse, error) {
	return &openv1.PingResponse{Pong: "pong"}, nil
}
