//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
)

// A receiver that refuses an event often quotes what it refuses: here
// "unknown call <origin id>", the id holding the caller's number. The
// delivery log and the reason of the subscription disabled after its retry
// window keep the status only ("HTTP 422"), so once the caller is erased
// the number is nowhere in the database, nor in what the app
// (ListDeliveries, ListSubscriptions) and the admins (GET
// /api/v1/webhooks/{id}) read. A disabling reason written by an earlier
// version, quoting the answer after the status, is cut down to the status
// when the service starts; a delivery it wrote is read up to the status,
// and cut to it by the erasure.
func TestWebhookReceiverAnswersAreNotKeptOnMariaDB(t *testing.T) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Data struct {
				Origin string `json:"origin_conversation_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		http.Error(w, "unknown call "+ev.Data.Origin, http.StatusUnprocessableEntity)
	}))
	defer rcv.Close()

	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_WEBHOOKS_RETRY_BASE"] = "200ms"
	s.Env["MGV_WEBHOOKS_RETRY_MAX"] = "500ms"
	s.Env["MGV_WEBHOOKS_RETRY_WINDOW"] = "2s"
	f := NewFixture(t, s)
	national := fmt.Sprintf("139%08d", rand.N(100_000_000))
	phone := "+86" + national

	// What an earlier version wrote: a subscription disabled with the
	// receiver's answer in its reason, and a delivery quoting it.
	ctx := context.Background()
	hooks := dao.NewWebhooks(f.DB)
	legacy := model.WebhookSubscription{TenantID: f.Tenant.ID, AppID: f.App.ID, URL: rcv.URL + "/old", EventTypes: "conversation.created",
		SecretSealed: "v1:x", Status: model.WebhookActive}
	if err := hooks.Create(ctx, &legacy, 20); err != nil {
		t.Fatal(err)
	}
	if err := hooks.SetStatus(ctx, f.Tenant.ID, legacy.ID, model.WebhookDisabled,
		"deliveries failed for 24h0m0s (40 attempts) since 2026-12-01T10:00:00Z; last error: HTTP 422: unknown call pbx-call-86"+national); err != nil {
		t.Fatal(err)
	}
	old := model.WebhookDelivery{TenantID: f.Tenant.ID, SubscriptionID: legacy.ID, EventID: 1, EventType: "conversation.created",
		Status: model.DeliveryFailed, Attempts: 40, ResponseCode: 422, LastError: "HTTP 422: unknown call pbx-call-86" + national,
		CreatedAt: time.Now(), LastAttemptAt: time.Now()}
	if err := f.DB.Create(&old).Error; err != nil {
		t.Fatal(err)
	}

	s.Start()
	s.WaitReady(30 * time.Second)
	admin := f.Token(t, f.Admin)
	ev, ectx := eventsClient(t, s, f.AppToken(t))
	sub, err := ev.CreateSubscription(ectx, &openv1.CreateSubscriptionRequest{Url: rcv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	p.create("pbx-call-86"+national, f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, func(r *openv1.CreateConversationRequest) {
		r.Title = "callback to " + phone
	})

	var disabled *openv1.Subscription
	polltest.Until(t, 60*time.Second, 100*time.Millisecond, "the subscription disabled after its retry window", func() bool {
		res, err := ev.ListSubscriptions(ectx, &openv1.ListSubscriptionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range res.Subscriptions {
			if x.Id == sub.Subscription.Id && x.Status == openv1.SubscriptionStatus_SUBSCRIPTION_STATUS_DISABLED {
				disabled = x
			}
		}
		return disabled != nil
	})
	if !strings.HasSuffix(disabled.DisabledReason, "; last error: HTTP 422") {
		t.Errorf("disabled reason %q, want it to end with the status of the last answer", disabled.DisabledReason)
	}
	dl, err := ev.ListDeliveries(ectx, &openv1.ListDeliveriesRequest{SubscriptionId: sub.Subscription.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl.Deliveries) != 1 || dl.Deliveries[0].ResponseCode != 422 || dl.Deliveries[0].Error != "HTTP 422" {
		t.Errorf("delivery log %v, want one delivery failed with HTTP 422 and nothing of the answer", dl.Deliveries)
	}
	res, err := ev.ListSubscriptions(ectx, &openv1.ListSubscriptionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res.Subscriptions {
		if x.Id == legacy.ID && x.DisabledReason != "deliveries failed for 24h0m0s (40 attempts) since 2026-12-01T10:00:00Z; last error: HTTP 422" {
			t.Errorf("the reason an earlier version wrote reads %q after the start, want it up to the status", x.DisabledReason)
		}
	}
	ol, err := ev.ListDeliveries(ectx, &openv1.ListDeliveriesRequest{SubscriptionId: legacy.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ol.Deliveries) != 1 || ol.Deliveries[0].Error != "HTTP 422" {
		t.Errorf("the delivery an earlier version wrote reads %v, want its error up to the status", ol.Deliveries)
	}

	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": phone}).want(t, http.StatusAccepted, "").decode(t, &e)
	waitErasure(t, s, admin, e.ID, 60*time.Second)
	if left := tablesHolding(t, f, national); len(left) > 0 {
		t.Errorf("after the erasure the number is in %v", left)
	}
	for _, id := range []int64{sub.Subscription.Id, legacy.ID} {
		w := authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/webhooks/%d", id), admin, nil).want(t, http.StatusOK, "")
		if strings.Contains(string(w.Data), national) {
			t.Errorf("GET /api/v1/webhooks/%d reads after the erasure: %s", id, w.Data)
		}
	}
}
