package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/config"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/outbound"
)

// webhookDomain wires subscriptions and the deliverer.
type webhookDomain struct {
	subs      *webhook.Subscriptions
	deliverer *webhook.Deliverer
}

// webhookLookupEnv, when set (tests only, never in pro), maps receiver
// names to addresses ahead of the system resolver: "name=addr,name=addr".
const webhookLookupEnv = config.EnvWebhookHosts

func newWebhookDomain(cfg *config.Config, log zerolog.Logger, events *dao.Events, store *dao.Webhooks) (*webhookDomain, error) {
	sealer, err := webhook.NewSealer(cfg.WebhookKey())
	if err != nil {
		return nil, fmt.Errorf("webhooks.secret_key: %w", err)
	}
	w := cfg.Webhooks
	opts := outbound.Options{
		ConnectTimeout: w.ConnectTimeout.Duration, HeaderTimeout: w.HeaderTimeout.Duration, TotalTimeout: w.RequestTimeout.Duration,
		Policy: outbound.Policy{AllowLoopback: w.AllowLoopback}, RequireHTTPS: cfg.RequireHTTPS(), MaxIdlePerHost: w.InFlight,
	}
	if hosts := os.Getenv(webhookLookupEnv); hosts != "" && cfg.App.Env != global.EnvPro {
		if opts.Lookup, err = staticLookup(hosts); err != nil {
			return nil, fmt.Errorf("%s: %w", webhookLookupEnv, err)
		}
	}
	client := outbound.New(opts)
	log = log.With().Str("component", "webhooks").Logger()
	evs := eventLog{events}
	dm := &webhookDomain{}
	if w.Enabled {
		host, _ := os.Hostname()
		dm.deliverer = webhook.NewDeliverer(store, evs, sender{client}, sealer, webhook.DeliverOptions{
			Owner:   host + ":" + strconv.Itoa(os.Getpid()),
			Workers: w.Workers, InFlight: w.InFlight, Batch: w.Batch,
			Poll: w.PollInterval.Duration, Lease: w.Lease.Duration, Slice: w.Slice.Duration, RequestTimeout: w.RequestTimeout.Duration,
			Retry: webhook.Retry{Base: w.RetryBase.Duration, Max: w.RetryMax.Duration, Window: w.RetryWindow.Duration},
			Keep:  w.Keep.Duration, Log: log,
		})
	}
	dm.subs = webhook.NewSubscriptions(store, evs, client, sealer, dm.wake, w.MaxSubscriptionsPerApp, w.MaxPendingRedeliveries)
	return dm, nil
}

// wake tells the local deliverer there is work (a commit with events, a
// redelivery); other instances find it at their next poll.
func (dm *webhookDomain) wake() {
	if dm.deliverer != nil {
		dm.deliverer.Wake()
	}
}

func (dm *webhookDomain) start() {
	if dm.deliverer != nil {
		dm.deliverer.Start(context.Background())
	}
}

func (dm *webhookDomain) stop() {
	if dm.deliverer != nil {
		dm.deliverer.Stop()
	}
}

func staticLookup(spec string) (func(context.Context, string) ([]netip.Addr, error), error) {
	zone := map[string][]netip.Addr{}
	for _, pair := range strings.Split(spec, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(pair), "=")
		a, err := netip.ParseAddr(addr)
		if !ok || err != nil {
			return nil, fmt.Errorf("%q is not name=address", pair)
		}
		zone[name] = append(zone[name], a)
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if a, ok := zone[host]; ok {
			return a, nil
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		return addrs, err
	}, nil
}

// sender adapts the outbound client to the deliverer.
type sender struct{ c *outbound.Client }

func (s sender) Post(ctx context.Context, url string, headers map[string]string, body []byte) (webhook.Result, error) {
	r, err := s.c.Post(ctx, outbound.Request{URL: url, Headers: headers, Body: body})
	return webhook.Result{Status: r.Status, Latency: r.Latency, RetryAfter: r.RetryAfter, HasRetryAfter: r.HasRetryAfter}, err
}

// eventLog adapts the event log's store to what the deliverer reads.
type eventLog struct{ d *dao.Events }

// After reads the head, the events and how far the log was trimmed in one
// snapshot: every event up to the head has committed (ids are handed out in
// commit order), so when fewer than limit events come back the log was read
// through the head, and the cursor may move to it even past events of other
// types; and a log trimmed past the cursor in that snapshot had lost events
// after it before they were read (see webhook.CheckExpired).
func (e eventLog) After(ctx context.Context, tenantID, cursor int64, types []string, limit int) ([]webhook.Event, int64, error) {
	var head, trimmed int64
	var rows []model.Event
	err := e.d.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		if head, trimmed, err = e.d.Head(ctx, tenantID); err != nil {
			return err
		}
		rows, _, err = e.d.After(ctx, tenantID, cursor, 0, types, limit)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	if err := webhook.CheckExpired(cursor, trimmed); err != nil {
		return nil, 0, err
	}
	out := make([]webhook.Event, 0, len(rows))
	for _, r := range rows {
		out = append(out, webhook.Event{ID: r.ID, Type: r.Type, TenantID: r.TenantID, OccurredAt: r.OccurredAt, Data: []byte(r.Data)})
	}
	scanned := head
	if len(out) == limit {
		scanned = out[len(out)-1].ID
	}
	return out, max(scanned, cursor), nil
}

func (e eventLog) Get(ctx context.Context, tenantID, id int64) (webhook.Event, error) {
	rows, _, err := e.d.After(ctx, tenantID, id-1, 0, nil, 1)
	if err != nil {
		return webhook.Event{}, err
	}
	if len(rows) == 0 || rows[0].ID != id {
		return webhook.Event{}, errs.NotFound(errs.ReasonNotFound, "event %d is not in the log (unknown, or trimmed by retention)", id)
	}
	r := rows[0]
	return webhook.Event{ID: r.ID, Type: r.Type, TenantID: r.TenantID, OccurredAt: r.OccurredAt, Data: []byte(r.Data)}, nil
}

func (e eventLog) Last(ctx context.Context, tenantID int64) (int64, error) {
	last, _, err := e.d.Head(ctx, tenantID)
	return last, err
}

func (e eventLog) LastOf(ctx context.Context, tenantIDs []int64) (map[int64]int64, error) {
	return e.d.Heads(ctx, tenantIDs)
}
