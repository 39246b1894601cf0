// Package webhook pushes the tenant's events to partners' receivers:
// subscriptions per app, signed deliveries retried with backoff, a delivery
// log and redelivery (PRODUCT §7).
package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Event is one entry of a tenant's event log, as delivered.
type Event struct {
	ID         int64
	Type       string
	TenantID   int64
	OccurredAt time.Time
	// Data is the event's JSON object.
	Data []byte
}

// EventLog reads the tenant's event log (ids increase by one per tenant,
// in commit order).
type EventLog interface {
	// After lists up to limit events of the given types (all when empty)
	// after id cursor, oldest first; scanned is the id up to which the log
	// was read, at least the last event returned, so a cursor can move
	// past events of other types. When the log was trimmed past the
	// cursor before the events after it were read, the error is an
	// *Expired (see CheckExpired): the events and how far the log was
	// trimmed are read in one snapshot of the log.
	After(ctx context.Context, tenantID, cursor int64, types []string, limit int) (events []Event, scanned int64, err error)
	// Get reads one event still kept; NotFound when unknown or trimmed.
	Get(ctx context.Context, tenantID, id int64) (Event, error)
	// Last is the id of the tenant's newest event (0 when none).
	Last(ctx context.Context, tenantID int64) (int64, error)
	// LastOf is Last for several tenants at once.
	LastOf(ctx context.Context, tenantIDs []int64) (map[int64]int64, error)
}

// Expired is EventLog.After's error for a cursor the log's retention has
// passed: the events after Cursor through Through were trimmed before they
// were read, and those of the subscription's types among them are gone.
type Expired struct{ Cursor, Through int64 }

func (e *Expired) Error() string {
	return fmt.Sprintf("events %d to %d expired (events.retention) before they were delivered", e.Cursor+1, e.Through)
}

// CheckExpired is the *Expired for events read after cursor from a
// snapshot of the log trimmed through trimmed: nil when the trim left the
// cursor behind (trimmed <= cursor). trimmed must come from the snapshot
// the events were read from: read apart, a trim before the events' read
// and another between the two reads look like one trim after the read,
// and the events the first one took would be skipped without a word.
func CheckExpired(cursor, trimmed int64) error {
	if trimmed <= cursor {
		return nil
	}
	return &Expired{Cursor: cursor, Through: trimmed}
}

// Store keeps subscriptions and their delivery log.
type Store interface {
	// Create inserts s unless its app has maxPerApp subscriptions already
	// (SUBSCRIPTION_QUOTA_EXCEEDED), racing creates included.
	Create(ctx context.Context, s *model.WebhookSubscription, maxPerApp int) error
	// Get reads a subscription of the tenant; appID 0 means any app's.
	Get(ctx context.Context, tenantID, appID, id int64) (*model.WebhookSubscription, error)
	// List pages by id after afterID; appID 0 means every app's. It also
	// returns how many subscriptions the tenant (the app unless appID is
	// 0) has in all.
	List(ctx context.Context, tenantID, appID, afterID int64, limit int) ([]model.WebhookSubscription, int64, error)
	// Delete removes a subscription and its delivery log.
	Delete(ctx context.Context, tenantID, appID, id int64) error
	// SetStatus enables or disables a subscription; enabling clears its
	// failure state and makes it due now.
	SetStatus(ctx context.Context, tenantID, id int64, status, reason string) error
	// Deliveries pages a subscription's deliveries newest first, before
	// id beforeID (0: from the newest); status "" means any.
	Deliveries(ctx context.Context, subscriptionID int64, status string, beforeID int64, limit int) ([]model.WebhookDelivery, error)
	Delivery(ctx context.Context, subscriptionID, id int64) (*model.WebhookDelivery, error)
	// SetSecret writes s's secret and previous secret while the
	// subscription still has the secret before (CONFLICT otherwise).
	SetSecret(ctx context.Context, before string, s *model.WebhookSubscription) error
	// AddRedelivery inserts a pending redelivery, due now, unless the
	// subscription has maxPending redeliveries pending already
	// (REDELIVERY_QUOTA_EXCEEDED), racing requests included.
	AddRedelivery(ctx context.Context, d *model.WebhookDelivery, maxPending int) error

	DeliveryStore
}

// URLChecker says why a URL cannot be a receiver's, as far as can be told
// before connecting (the address is checked again when connecting).
type URLChecker interface {
	CheckURL(url string) error
}

// The event types partners may subscribe to (PRODUCT §7).
var EventTypes = []string{
	"conversation.created", "transcript.ready", "tracker.matched", "conversation.deleted", "person.erased",
	"tracker.deleted",
}

// Limits of a subscription.
const (
	maxURLLength = 2048
	maxTypes     = 16
)

// Subscriptions manages the subscriptions: apps their own over gRPC,
// admins the whole tenant's over HTTP.
type Subscriptions struct {
	store  Store
	events EventLog
	urls   URLChecker
	sealer *Sealer
	// wake tells the local deliverer a redelivery is due (may be nil).
	wake func()
	// maxPerApp is how many subscriptions an app may have.
	maxPerApp int
	// maxPending is how many redeliveries a subscription may have pending.
	maxPending int
}

// DefaultMaxPerApp is the subscriptions an app may have when
// NewSubscriptions is given no cap.
const DefaultMaxPerApp = 20

// DefaultMaxPendingRedeliveries is the redeliveries a subscription may
// have pending when NewSubscriptions is given no cap.
const DefaultMaxPendingRedeliveries = 1000

// NewSubscriptions builds the use cases; an app may have maxPerApp
// subscriptions (DefaultMaxPerApp when not positive), a subscription
// maxPending redeliveries pending (DefaultMaxPendingRedeliveries when not
// positive).
func NewSubscriptions(store Store, events EventLog, urls URLChecker, sealer *Sealer, wake func(), maxPerApp, maxPending int) *Subscriptions {
	if maxPerApp < 1 {
		maxPerApp = DefaultMaxPerApp
	}
	if maxPending < 1 {
		maxPending = DefaultMaxPendingRedeliveries
	}
	return &Subscriptions{store: store, events: events, urls: urls, sealer: sealer, wake: wake, maxPerApp: maxPerApp, maxPending: maxPending}
}

// CreateReq is a new subscription.
type CreateReq struct {
	URL   string
	Types []string
}

// Created is the new subscription with its secret, shown only now.
type Created struct {
	Subscription model.WebhookSubscription
	Secret       string
}

// Create registers a subscription of the calling app, unless the app has
// as many as it may (SUBSCRIPTION_QUOTA_EXCEEDED, naming the cap).
// Deliveries start with the events after the newest one now.
func (s *Subscriptions) Create(ctx context.Context, req CreateReq) (Created, error) {
	sc, err := access.Require(ctx, access.Read)
	if err != nil {
		return Created{}, err
	}
	if sc.Role != model.RoleApp {
		return Created{}, errs.Forbidden("subscriptions belong to apps; sign in as an app")
	}
	if err := s.checkURL(req.URL); err != nil {
		return Created{}, err
	}
	types, err := checkTypes(req.Types)
	if err != nil {
		return Created{}, err
	}
	last, err := s.events.Last(ctx, sc.TenantID)
	if err != nil {
		return Created{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Created{}, errs.Internal(err)
	}
	sub := model.WebhookSubscription{
		TenantID: sc.TenantID, AppID: sc.AppID, URL: req.URL, EventTypes: strings.Join(types, ","),
		Status: model.WebhookActive, EventCursor: last,
	}
	if sub.SecretSealed, err = s.sealer.Seal(secret, secretAAD(sub.TenantID, sub.AppID)); err != nil {
		return Created{}, errs.Internal(err)
	}
	if err := s.store.Create(ctx, &sub, s.maxPerApp); err != nil {
		return Created{}, err
	}
	sub.SecretSealed, sub.OldSecretSealed = "", ""
	return Created{Subscription: sub, Secret: secret}, nil
}

func (s *Subscriptions) checkURL(u string) error {
	switch {
	case u == "":
		return errs.InvalidArgument("url", "is required")
	case len(u) > maxURLLength || !utf8.ValidString(u):
		return errs.InvalidArgument("url", "must be at most %d characters of UTF-8", maxURLLength)
	}
	if err := access.CheckName("url", u); err != nil {
		return err
	}
	if err := s.urls.CheckURL(u); err != nil {
		return errs.InvalidArgument("url", "%s", err.Error())
	}
	return nil
}

func checkTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, errs.InvalidArgument("event_types", "needs at least one of %s", strings.Join(EventTypes, ", "))
	}
	if len(types) > maxTypes {
		return nil, errs.InvalidArgument("event_types", "must have at most %d entries (got %d)", maxTypes, len(types))
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if !slices.Contains(EventTypes, t) {
			return nil, errs.InvalidArgument("event_types", "has an unknown type %.64q (known: %s)", t, strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// secretAAD binds a sealed secret to its tenant and app.
func secretAAD(tenantID, appID int64) string {
	return "webhook:" + itoa(tenantID) + ":" + itoa(appID)
}

// owner is the app whose subscriptions the caller manages: the app itself,
// or 0 (every app) for a tenant admin.
func owner(ctx context.Context, admin bool) (model.Scope, int64, error) {
	need := access.Read
	if admin {
		need = access.Admin
	}
	sc, err := access.Require(ctx, need)
	if err != nil {
		return sc, 0, err
	}
	if sc.Role == model.RoleApp {
		return sc, sc.AppID, nil
	}
	if !sc.IsAdmin() {
		return sc, 0, errs.Forbidden("only an admin of the tenant may do this")
	}
	return sc, 0, nil
}

// ListReq pages subscriptions.
type ListReq struct {
	PageSize  int
	PageToken string
	// Admin lists the whole tenant's (HTTP, admins); otherwise the calling
	// app's.
	Admin bool
}

// ListResp is a page of subscriptions, without secrets. Total is how many
// subscriptions the caller's list holds in all pages: the app's, or the
// whole tenant's for an admin.
type ListResp struct {
	Subscriptions []model.WebhookSubscription
	NextPageToken string
	Total         int64
}

type idCursor struct {
	ID int64 `json:"i"`
}

// List pages subscriptions by id.
func (s *Subscriptions) List(ctx context.Context, req ListReq) (ListResp, error) {
	sc, app, err := owner(ctx, req.Admin)
	if err != nil {
		return ListResp{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return ListResp{}, err
	}
	var cur idCursor
	if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
		return ListResp{}, err
	}
	if req.PageToken != "" && cur.ID <= 0 {
		return ListResp{}, access.ErrPageTokenNotIssued()
	}
	subs, total, err := s.store.List(ctx, sc.TenantID, app, cur.ID, size+1)
	if err != nil {
		return ListResp{}, err
	}
	out := ListResp{Total: total}
	if len(subs) > size {
		subs = subs[:size]
		out.NextPageToken = access.EncodePageToken(idCursor{ID: subs[size-1].ID})
	}
	for i := range subs {
		subs[i].SecretSealed = ""
	}
	out.Subscriptions = subs
	return out, nil
}

// Get reads one subscription (the app's own, or any of the tenant's for an
// admin).
func (s *Subscriptions) Get(ctx context.Context, id int64, admin bool) (model.WebhookSubscription, error) {
	sc, app, err := owner(ctx, admin)
	if err != nil {
		return model.WebhookSubscription{}, err
	}
	if err := access.CheckID("id", id); err != nil {
		return model.WebhookSubscription{}, err
	}
	sub, err := s.store.Get(ctx, sc.TenantID, app, id)
	if err != nil {
		return model.WebhookSubscription{}, err
	}
	sub.SecretSealed, sub.OldSecretSealed = "", ""
	return *sub, nil
}

// Delete removes a subscription and stops its deliveries.
func (s *Subscriptions) Delete(ctx context.Context, id int64, admin bool) error {
	sc, app, err := owner(ctx, admin)
	if err != nil {
		return err
	}
	if err := access.CheckID("id", id); err != nil {
		return err
	}
	return s.store.Delete(ctx, sc.TenantID, app, id)
}

// SetEnabled disables a subscription (reason recorded) or enables it again
// (admins, HTTP); an enabled subscription resumes from where it stopped.
func (s *Subscriptions) SetEnabled(ctx context.Context, id int64, enabled bool) (model.WebhookSubscription, error) {
	sc, _, err := owner(ctx, true)
	if err != nil {
		return model.WebhookSubscription{}, err
	}
	if _, err := s.Get(ctx, id, true); err != nil {
		return model.WebhookSubscription{}, err
	}
	status, reason := model.WebhookActive, ""
	if !enabled {
		status, reason = model.WebhookDisabled, "disabled by an admin"
	}
	if err := s.store.SetStatus(ctx, sc.TenantID, id, status, reason); err != nil {
		return model.WebhookSubscription{}, err
	}
	if enabled && s.wake != nil {
		s.wake()
	}
	return s.Get(ctx, id, true)
}

// MaxSecretGrace bounds how long a rotated signing secret keeps signing.
const MaxSecretGrace = 7 * 24 * time.Hour

// RotateSecret gives a subscription a new signing secret (admins, HTTP),
// returned only now. With a grace the previous secret signs too until it
// ends (the signature header then carries both signatures, the new one
// first), so the receiver can switch at its own pace; without one it stops
// at once. A rotation during a grace ends the earlier one, and one racing
// another is CONFLICT (it would keep the secret the other replaced).
func (s *Subscriptions) RotateSecret(ctx context.Context, id int64, grace time.Duration) (Created, error) {
	if grace < 0 || grace > MaxSecretGrace {
		return Created{}, errs.InvalidArgument("grace_seconds", "must be from 0 to %d seconds (7 days)", int64(MaxSecretGrace/time.Second))
	}
	sc, _, err := owner(ctx, true)
	if err != nil {
		return Created{}, err
	}
	if err := access.CheckID("id", id); err != nil {
		return Created{}, err
	}
	sub, err := s.store.Get(ctx, sc.TenantID, 0, id)
	if err != nil {
		return Created{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Created{}, err
	}
	sealed, err := s.sealer.Seal(secret, secretAAD(sub.TenantID, sub.AppID))
	if err != nil {
		return Created{}, err
	}
	before := sub.SecretSealed
	sub.OldSecretSealed, sub.OldSecretUntil = "", nil
	if grace > 0 {
		until := time.Now().Add(grace).UTC().Truncate(time.Millisecond)
		sub.OldSecretSealed, sub.OldSecretUntil = before, &until
	}
	sub.SecretSealed = sealed
	if err := s.store.SetSecret(ctx, before, sub); err != nil {
		return Created{}, err
	}
	sub.SecretSealed, sub.OldSecretSealed = "", ""
	return Created{Subscription: *sub, Secret: secret}, nil
}

// DeliveriesReq pages a subscription's delivery log.
type DeliveriesReq struct {
	SubscriptionID int64
	// Status filters: "" any, or a model.Delivery* status.
	Status    string
	PageSize  int
	PageToken string
	Admin     bool
}

// DeliveriesResp is a page of the delivery log, newest first.
type DeliveriesResp struct {
	Deliveries    []model.WebhookDelivery
	NextPageToken string
}

// Deliveries pages the delivery log of one subscription.
func (s *Subscriptions) Deliveries(ctx context.Context, req DeliveriesReq) (DeliveriesResp, error) {
	if _, err := s.Get(ctx, req.SubscriptionID, req.Admin); err != nil {
		return DeliveriesResp{}, errs.From(err).Named("subscription_id")
	}
	switch req.Status {
	case "", model.DeliveryPending, model.DeliveryDelivered, model.DeliveryFailed:
	default:
		return DeliveriesResp{}, errs.InvalidArgument("status", "must be pending, delivered or failed (got %.32q)", req.Status)
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return DeliveriesResp{}, err
	}
	var cur idCursor
	if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
		return DeliveriesResp{}, err
	}
	if req.PageToken != "" && cur.ID <= 0 {
		return DeliveriesResp{}, access.ErrPageTokenNotIssued()
	}
	ds, err := s.store.Deliveries(ctx, req.SubscriptionID, req.Status, cur.ID, size+1)
	if err != nil {
		return DeliveriesResp{}, err
	}
	var out DeliveriesResp
	if len(ds) > size {
		ds = ds[:size]
		out.NextPageToken = access.EncodePageToken(idCursor{ID: ds[size-1].ID})
	}
	out.Deliveries = ds
	return out, nil
}

// RedeliverReq names what to send again: an event by id, or an earlier
// delivery's event.
type RedeliverReq struct {
	SubscriptionID int64
	EventID        int64
	DeliveryID     int64
	Admin          bool
}

// Redeliver queues the event again for the subscription, as a new pending
// delivery with the same event id. The event must be of a type the
// subscription takes, and the subscription have fewer than maxPending
// redeliveries pending (REDELIVERY_QUOTA_EXCEEDED, naming the cap): the
// request is refused, not queued, so nothing acknowledged is dropped.
func (s *Subscriptions) Redeliver(ctx context.Context, req RedeliverReq) (model.WebhookDelivery, error) {
	sub, err := s.Get(ctx, req.SubscriptionID, req.Admin)
	if err != nil {
		return model.WebhookDelivery{}, errs.From(err).Named("subscription_id")
	}
	eventID, field := req.EventID, "event_id"
	switch {
	case req.EventID != 0 && req.DeliveryID != 0:
		return model.WebhookDelivery{}, errs.InvalidArgument("event_id", "give either event_id or delivery_id, not both")
	case req.DeliveryID != 0:
		field = "delivery_id"
		if err := access.CheckID(field, req.DeliveryID); err != nil {
			return model.WebhookDelivery{}, err
		}
		d, err := s.store.Delivery(ctx, sub.ID, req.DeliveryID)
		if err != nil {
			return model.WebhookDelivery{}, unknownRef(err, field)
		}
		eventID = d.EventID
	default:
		if err := access.CheckID(field, req.EventID); err != nil {
			return model.WebhookDelivery{}, err
		}
	}
	ev, err := s.events.Get(ctx, sub.TenantID, eventID)
	if err != nil {
		return model.WebhookDelivery{}, unknownRef(err, field)
	}
	if takes := strings.Split(sub.EventTypes, ","); !slices.Contains(takes, ev.Type) {
		return model.WebhookDelivery{}, errs.InvalidArgument(field, "event %d is a %s event, and subscription %d takes only %s",
			ev.ID, ev.Type, sub.ID, strings.Join(takes, ", "))
	}
	d := model.WebhookDelivery{
		TenantID: sub.TenantID, SubscriptionID: sub.ID, EventID: ev.ID, EventType: ev.Type,
		Redelivery: true, Status: model.DeliveryPending,
	}
	if err := s.store.AddRedelivery(ctx, &d, s.maxPending); err != nil {
		return model.WebhookDelivery{}, err
	}
	if s.wake != nil {
		s.wake()
	}
	return d, nil
}

// unknownRef names field in the NOT_FOUND answering what a request refers
// to (an event of another tenant's log or none, a delivery of another
// subscription), so the caller knows which of its ids is unknown.
func unknownRef(err error, field string) error {
	if !errs.IsNotFound(err) {
		return err
	}
	e := errs.From(err).With("field", field)
	e.Message = field + ": " + e.Message
	return e
}
