package server

import (
	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// Events serves EventService.
type Events struct {
	openv1.UnimplementedEventServiceServer
}
