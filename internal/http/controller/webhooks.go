package controller

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/model"
)

// Operations of the admins' view of webhook subscriptions.
const (
	OperationListWebhooks        = "/mgv.web.v1.WebhookService/ListWebhooks"
	OperationGetWebhook          = "/mgv.web.v1.WebhookService/GetWebhook"
	OperationUpdateWebhook       = "/mgv.web.v1.WebhookService/UpdateWebhook"
	OperationDeleteWebhook       = "/mgv.web.v1.WebhookService/DeleteWebhook"
	OperationListDeliveries      = "/mgv.web.v1.WebhookService/ListDeliveries"
	OperationCreateRedelivery    = "/mgv.web.v1.WebhookService/Redeliver"
	OperationRotateWebhookSecret = "/mgv.web.v1.WebhookService/RotateWebhookSecret"
)

// Webhooks lets the tenant's admins see and manage every app's webhook
// subscriptions (apps manage their own over gRPC).
type Webhooks struct {
	Subs *webhook.Subscriptions
}

// WebhookJSON is a subscription; its secret is never shown here.
type WebhookJSON struct {
	ID             int64     `json:"id"`
	AppID          int64     `json:"app_id"`
	URL            string    `json:"url"`
	EventTypes     []string  `json:"event_types"`
	Status         string    `json:"status"`
	DisabledReason string    `json:"disabled_reason"`
	Cursor         int64     `json:"cursor"`
	Attempts       int       `json:"attempts"`
	NextAttemptAt  time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// OldSecretUntil is when the previous signing secret stops signing
	// deliveries (a rotation's grace); null when none does.
	OldSecretUntil *time.Time `json:"old_secret_until"`
}

// WebhookSecretJSON is a subscription with its new signing secret: the
// only time it is shown.
type WebhookSecretJSON struct {
	WebhookJSON
	Secret string `json:"secret"`
}

// WebhookPageJSON is a page of subscriptions.
type WebhookPageJSON struct {
	Webhooks      []WebhookJSON `json:"webhooks"`
	NextPageToken string        `json:"next_page_token"`
	// Total counts the tenant's subscriptions over all pages.
	Total int64 `json:"total"`
}

// WebhookUpdateJSON is the body of PATCH /webhooks/{id}.
type WebhookUpdateJSON struct {
	Enabled *bool `json:"enabled"`
}

// DeliveryJSON is one delivery of an event with its attempts.
type DeliveryJSON struct {
	ID             int64      `json:"id"`
	SubscriptionID int64      `json:"subscription_id"`
	EventID        int64      `json:"event_id"`
	EventType      string     `json:"event_type"`
	Redelivery     bool       `json:"redelivery"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	ResponseCode   int        `json:"response_code"`
	LatencyMS      int64      `json:"latency_ms"`
	Error          string     `json:"error"`
	CreatedAt      time.Time  `json:"created_at"`
	LastAttemptAt  *time.Time `json:"last_attempt_at"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
}

// DeliveryPageJSON is a page of the delivery log.
type DeliveryPageJSON struct {
	Deliveries    []DeliveryJSON `json:"deliveries"`
	NextPageToken string         `json:"next_page_token"`
}

// RedeliveryJSON is the body of POST /webhooks/{id}/redeliveries: an event
// id, or an earlier delivery's id.
type RedeliveryJSON struct {
	EventID    int64 `json:"event_id"`
	DeliveryID int64 `json:"delivery_id"`
}

// Routes adds the routes.
func (h Webhooks) Routes(r Router) {
	const p = "/api/v1/webhooks"
	r.Handle(http.MethodGet, p, OperationListWebhooks, h.List, pageParams...)
	r.Handle(http.MethodGet, p+"/:id", OperationGetWebhook, h.Get)
	r.Handle(http.MethodPatch, p+"/:id", OperationUpdateWebhook, h.Update)
	r.Handle(http.MethodDelete, p+"/:id", OperationDeleteWebhook, h.Delete)
	r.Handle(http.MethodGet, p+"/:id/deliveries", OperationListDeliveries, h.Deliveries, "status", "page_size", "page_token")
	r.Handle(http.MethodPost, p+"/:id/redeliveries", OperationCreateRedelivery, h.Redeliver)
	r.Handle(http.MethodPost, p+"/:id/rotate-secret", OperationRotateWebhookSecret, h.RotateSecret)
}

// List is GET /webhooks?page_size=&page_token= (admins): every app's
// subscriptions, by id.
func (h Webhooks) List(c echo.Context) error {
	q := c.QueryParams()
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	page, err := h.Subs.List(c.Request().Context(), webhook.ListReq{PageSize: int(size), PageToken: q.Get("page_token"), Admin: true})
	if err != nil {
		return err
	}
	out := WebhookPageJSON{Webhooks: make([]WebhookJSON, 0, len(page.Subscriptions)), NextPageToken: page.NextPageToken, Total: page.Total}
	for _, s := range page.Subscriptions {
		out.Webhooks = append(out.Webhooks, webhookJSON(s))
	}
	return render.OK(c, out)
}

// Get is GET /webhooks/{id} (admins).
func (h Webhooks) Get(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	s, err := h.Subs.Get(c.Request().Context(), id, true)
	if err != nil {
		return err
	}
	return render.OK(c, webhookJSON(s))
}

// Update is PATCH /webhooks/{id} (admins): {"enabled": false} stops the
// deliveries, {"enabled": true} resumes them from where they stopped.
func (h Webhooks) Update(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in WebhookUpdateJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return errs.InvalidArgument("enabled", "is required: true or false")
	}
	s, err := h.Subs.SetEnabled(c.Request().Context(), id, *in.Enabled)
	if err != nil {
		return err
	}
	return render.OK(c, webhookJSON(s))
}

// Delete is DELETE /webhooks/{id} (admins).
func (h Webhooks) Delete(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := h.Subs.Delete(c.Request().Context(), id, true); err != nil {
		return err
	}
	return render.OK(c, map[string]any{"id": id})
}

// Deliveries is GET /webhooks/{id}/deliveries?status=&page_size=&page_token=
// (admins): the delivery log, newest first.
func (h Webhooks) Deliveries(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	size, err := optInt(q, "page_size")
	if err != nil {
		return err
	}
	page, err := h.Subs.Deliveries(c.Request().Context(), webhook.DeliveriesReq{
		SubscriptionID: id, Status: q.Get("status"), PageSize: int(size), PageToken: q.Get("page_token"), Admin: true,
	})
	if err != nil {
		return err
	}
	out := DeliveryPageJSON{Deliveries: make([]DeliveryJSON, 0, len(page.Deliveries)), NextPageToken: page.NextPageToken}
	for _, d := range page.Deliveries {
		out.Deliveries = append(out.Deliveries, deliveryJSON(d))
	}
	return render.OK(c, out)
}

// Redeliver is POST /webhooks/{id}/redeliveries (admins): the event is
// sent again under its id, as a new delivery.
func (h Webhooks) Redeliver(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in RedeliveryJSON
	if err := bind(c, &in); err != nil {
		return err
	}
	d, err := h.Subs.Redeliver(c.Request().Context(), webhook.RedeliverReq{
		SubscriptionID: id, EventID: in.EventID, DeliveryID: in.DeliveryID, Admin: true,
	})
	if err != nil {
		return err
	}
	return render.JSON(c, http.StatusCreated, deliveryJSON(d))
}

// RotateSecret is POST /webhooks/{id}/rotate-secret (admins): a new
// signing secret; the previous one signs too for grace_seconds (0, the
// default: not at all).
func (h Webhooks) RotateSecret(c echo.Context) error {
	id, grace, err := rotation(c, webhook.MaxSecretGrace)
	if err != nil {
		return err
	}
	rotated, err := h.Subs.RotateSecret(c.Request().Context(), id, grace)
	if err != nil {
		return err
	}
	return render.OK(c, WebhookSecretJSON{WebhookJSON: webhookJSON(rotated.Subscription), Secret: rotated.Secret})
}

func webhookJSON(s model.WebhookSubscription) WebhookJSON {
	out := WebhookJSON{
		ID: s.ID, AppID: s.AppID, URL: s.URL, EventTypes: strings.Split(s.EventTypes, ","), Status: s.Status,
		DisabledReason: s.DisabledReason, Cursor: s.EventCursor, Attempts: s.Attempts,
		NextAttemptAt: s.NextAttemptAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if s.OldSecretUntil != nil && s.OldSecretUntil.After(time.Now()) {
		until := s.OldSecretUntil.UTC()
		out.OldSecretUntil = &until
	}
	return out
}

func deliveryJSON(d model.WebhookDelivery) DeliveryJSON {
	out := DeliveryJSON{
		ID: d.ID, SubscriptionID: d.SubscriptionID, EventID: d.EventID, EventType: d.EventType, Redelivery: d.Redelivery,
		Status: d.Status, Attempts: d.Attempts, ResponseCode: d.ResponseCode, LatencyMS: d.LatencyMS, Error: d.LastError,
		CreatedAt: d.CreatedAt,
	}
	if d.Attempts > 0 {
		t := d.LastAttemptAt
		out.LastAttemptAt = &t
	}
	if d.Status == model.DeliveryPending {
		t := d.NextAttemptAt
		out.NextAttemptAt = &t
	}
	return out
}
