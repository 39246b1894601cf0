package app

import (
	"context"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/bound"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/grpc/server"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/logic/webhook"
)

// eventsDomain wires the partner event log: writers append to log (ingest,
// the tracker hook and re-application), readers page it over HTTP and
// stream it over gRPC, and the trimmer enforces events.retention.
type eventsDomain struct {
	cfg     config.Events
	log     *events.Log
	streams *events.Streams
	trimmer *events.Trimmer
	// webhooks serves the subscription RPCs of EventService.
	webhooks *webhook.Subscriptions
}

func newEventsDomain(cfg *config.Config, log zerolog.Logger, d *deps) *eventsDomain {
	ed := &eventsDomain{cfg: cfg.Events}
	// The streams hear of this instance's appends once they commit.
	ed.log = events.NewLog(dao.NewEvents(d.db), dao.NewTransactor(d.db), func(tenants []int64) { ed.streams.Appended(tenants) })
	ed.streams = events.NewStreams(ed.log, log, events.StreamOptions{Poll: cfg.Events.Poll.Duration, SendTimeout: cfg.Events.SendTimeout.Duration})
	ed.trimmer = events.NewTrimmer(ed.log, log, events.TrimOptions{Retention: cfg.Events.Retention.Duration, Every: cfg.Events.TrimInterval.Duration})
	return ed
}

func (ed *eventsDomain) register(r controller.Router, g grpc.ServiceRegistrar) {
	controller.Events{Log: ed.log}.Routes(r)
	openv1.RegisterEventServiceServer(g, server.Events{Streams: ed.streams, Webhooks: ed.webhooks,
		Slots: bound.NewSlots(ed.cfg.MaxStreamsPerApp, ed.cfg.MaxStreams).PerGroup(ed.cfg.MaxStreamsPerTenant)})
}

func (ed *eventsDomain) start() {
	ed.streams.Start(context.Background())
	ed.trimmer.Start(context.Background())
}

// endStreams ends the open streams, so the gRPC drain need not wait for
// clients that never hang up; it is one of the drain's shutdowns.
func (ed *eventsDomain) endStreams(context.Context) error {
	ed.streams.Stop()
	return nil
}

func (ed *eventsDomain) stop() {
	ed.streams.Stop()
	ed.trimmer.Stop()
}
