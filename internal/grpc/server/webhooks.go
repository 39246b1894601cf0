package server

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/webhook"
	"github.com/megaview/mgvcore/internal/model"
)

var (
	subscriptionStatuses = enum[openv1.SubscriptionStatus]{names: map[openv1.SubscriptionStatus]string{
		openv1.SubscriptionStatus_SUBSCRIPTION_STATUS_UNSPECIFIED: "",
		openv1.SubscriptionStatus_SUBSCRIPTION_STATUS_ACTIVE:      model.WebhookActive,
		openv1.SubscriptionStatus_SUBSCRIPTION_STATUS_DISABLED:    model.WebhookDisabled,
	}}
	deliveryStatuses = enum[openv1.DeliveryStatus]{names: map[openv1.DeliveryStatus]string{
		openv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED: "",
		openv1.DeliveryStatus_DELIVERY_STATUS_PENDING:     model.DeliveryPending,
		openv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED:   model.DeliveryDelivered,
		openv1.DeliveryStatus_DELIVERY_STATUS_FAILED:      model.DeliveryFailed,
	}}
)

// CreateSubscription registers a webhook of the calling app.
func (s Events) CreateSubscription(ctx context.Context, req *openv1.CreateSubscriptionRequest) (*openv1.CreateSubscriptionResponse, error) {
	c, err := s.Webhooks.Create(ctx, webhook.CreateReq{URL: req.GetUrl(), Types: req.GetEventTypes()})
	if err != nil {
		return nil, err
	}
	audit.Target(ctx, "webhook", strconv.FormatInt(c.Subscription.ID, 10))
	return &openv1.CreateSubscriptionResponse{Subscription: subscriptionToProto(c.Subscription), Secret: c.Secret}, nil
}

// ListSubscriptions lists the calling app's subscriptions.
func (s Events) ListSubscriptions(ctx context.Context, req *openv1.ListSubscriptionsRequest) (*openv1.ListSubscriptionsResponse, error) {
	r, err := s.Webhooks.List(ctx, webhook.ListReq{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &openv1.ListSubscriptionsResponse{NextPageToken: r.NextPageToken, Total: r.Total, Subscriptions: make([]*openv1.Subscription, 0, len(r.Subscriptions))}
	for _, sub := range r.Subscriptions {
		out.Subscriptions = append(out.Subscriptions, subscriptionToProto(sub))
	}
	return out, nil
}

// DeleteSubscription deletes one of the calling app's subscriptions.
func (s Events) DeleteSubscription(ctx context.Context, req *openv1.DeleteSubscriptionRequest) (*openv1.DeleteSubscriptionResponse, error) {
	if err := s.Webhooks.Delete(ctx, req.GetId(), false); err != nil {
		return nil, err
	}
	return &openv1.DeleteSubscriptionResponse{}, nil
}

// ListDeliveries pages the delivery log of one of the app's subscriptions.
func (s Events) ListDeliveries(ctx context.Context, req *openv1.ListDeliveriesRequest) (*openv1.ListDeliveriesResponse, error) {
	r, err := s.Webhooks.Deliveries(ctx, webhook.DeliveriesReq{
		SubscriptionID: req.GetSubscriptionId(), Status: deliveryStatuses.name(req.GetStatus()),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	out := &openv1.ListDeliveriesResponse{NextPageToken: r.NextPageToken, Deliveries: make([]*openv1.Delivery, 0, len(r.Deliveries))}
	for _, d := range r.Deliveries {
		out.Deliveries = append(out.Deliveries, deliveryToProto(d))
	}
	return out, nil
}

// Redeliver queues an event again for one of the app's subscriptions.
func (s Events) Redeliver(ctx context.Context, req *openv1.RedeliverRequest) (*openv1.RedeliverResponse, error) {
	d, err := s.Webhooks.Redeliver(ctx, webhook.RedeliverReq{
		SubscriptionID: req.GetSubscriptionId(), EventID: req.GetEventId(), DeliveryID: req.GetDeliveryId(),
	})
	if err != nil {
		return nil, err
	}
	return &openv1.RedeliverResponse{Delivery: deliveryToProto(d)}, nil
}

func subscriptionToProto(s model.WebhookSubscription) *openv1.Subscription {
	return &openv1.Subscription{
		Id: s.ID, Url: s.URL, EventTypes: strings.Split(s.EventTypes, ","), Status: subscriptionStatuses.value(s.Status),
		DisabledReason: s.DisabledReason, CreatedAt: timestamppb.New(s.CreatedAt),
	}
}

func deliveryToProto(d model.WebhookDelivery) *openv1.Delivery {
	out := &openv1.Delivery{
		Id: d.ID, SubscriptionId: d.SubscriptionID, EventId: d.EventID, EventType: d.EventType,
		Status: deliveryStatuses.value(d.Status), Attempts: int32(d.Attempts), ResponseCode: int32(d.ResponseCode),
		LatencyMs: d.LatencyMS, Error: d.LastError, CreatedAt: timestamppb.New(d.CreatedAt),
	}
	if d.Attempts > 0 {
		out.LastAttemptAt = timestamppb.New(d.LastAttemptAt)
	}
	if d.Status == model.DeliveryPending {
		out.NextAttemptAt = timestamppb.New(d.NextAttemptAt)
	}
	return out
}
