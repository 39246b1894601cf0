package model

import "time"

// Status of a webhook subscription.
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
)

// WebhookSubscription is an app's webhook: where the tenant's events of
// some types are POSTed, and how far delivery has got.
type WebhookSubscription struct {
	ID       int64 `gorm:"primaryKey"`
	TenantID int64
	AppID    int64
	URL      string `gorm:"column:url"`
	// EventTypes are comma separated.
	EventTypes string
	// SecretSealed is the signing secret encrypted with the configured
	// key; never returned after creation.
	SecretSealed string
	// OldSecretSealed is the previous signing secret, sealed likewise,
	// which signs deliveries too until OldSecretUntil (a rotation's
	// grace); empty and nil when none.
	OldSecretSealed string
	OldSecretUntil  *time.Time
	Status          string
	DisabledReason  string
	// EventCursor is the id of the last event delivered (or skipped as of
	// another type): delivery continues after it.
	EventCursor int64
	// Attempts counts the consecutive failed rounds of the event after the
	// cursor; FailingSince is when the first of them failed.
	Attempts      int
	FailingSince  time.Time
	NextAttemptAt time.Time
	// LeaseUntil and LeaseOwner: the instance delivering for it now.
	LeaseUntil time.Time
	LeaseOwner string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// RedeliverAt is the earliest next attempt of its pending
	// redeliveries; nil when none is pending.
	RedeliverAt *time.Time
}

// TableName of WebhookSubscription.
func (WebhookSubscription) TableName() string { return "webhook_subscriptions" }

// Status of a delivery.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is one event's delivery to a subscription with its
// attempts: the delivery log.
type WebhookDelivery struct {
	ID             int64 `gorm:"primaryKey"`
	TenantID       int64
	SubscriptionID int64
	EventID        int64
	EventType      string
	// Redelivery marks a delivery asked for again by the partner or an
	// admin, outside the subscription's order.
	Redelivery    bool
	Status        string
	Attempts      int
	ResponseCode  int
	LatencyMS     int64 `gorm:"column:latency_ms"`
	LastError     string
	CreatedAt     time.Time
	LastAttemptAt time.Time
	NextAttemptAt time.Time
}

// TableName of WebhookDelivery.
func (WebhookDelivery) TableName() string { return "webhook_deliveries" }
