//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestInvisibleAndSpoofingNamesAreRefused: names took anything but control
// characters, so a tracker could be named with nothing visible, a user
// "\u202eX", and a name could show reversed ("gnp.\u202eexe" shows as
// gnp.exe backwards). Over HTTP and gRPC alike, a bidi override, embedding
// or isolate, a noncharacter, or nothing visible is refused naming the
// field; names in Arabic or Hebrew with their marks of direction, Chinese,
// and emoji joined by ZWJ are taken; free text is not held to it.
func TestInvisibleAndSpoofingNamesAreRefused(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	for _, name := range []string{"\u202e\u202e\u202e", "\u200b\u200b", "\ufeff", "\uffff\ufffe", "gnp.\u202eexe", "\u2066x\u2069"} {
		r := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": name, "keywords": []string{"price"}})
		if r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "name" {
			t.Errorf("tracker name %q: field %q, message %q", name, r.Metadata["field"], r.Msg)
		}
	}
	r := authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": "ok", "keywords": []string{"price", "\u200b"}})
	if r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "keywords[1]" {
		t.Errorf("keyword of a zero-width space: field %q, message %q", r.Metadata["field"], r.Msg)
	}
	r = authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "\u202eX", "email": "rtl@names.example", "password": f.Password})
	if r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "name" || !strings.Contains(r.Msg, "U+202E") {
		t.Errorf("user name with an override: field %q, message %q", r.Metadata["field"], r.Msg)
	}
	for i, name := range []string{"\u200fשלום\u200f", "مرحبا\u200e 2026", "预算 跟进", "👩\u200d💻 dev"} {
		authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": name, "keywords": []string{string(rune('a' + i))}}).
			want(t, http.StatusCreated, "")
	}
	authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "דנה\u200f Cohen", "email": "dana@names.example", "password": f.Password}).
		want(t, http.StatusCreated, "")

	p := newPartner(t, s.GRPC(), f.AppToken(t))
	refused := func(what, field string, err error) {
		t.Helper()
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), field+": ") {
			t.Errorf("%s: %v, want INVALID_ARGUMENT on %s", what, err, field)
		}
	}
	_, err := p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "rtl-stage", Name: "Deal", Stage: "\u202ewon"})
	refused("deal stage with an override", "stage", err)
	_, err = p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "blank-name", Name: "\u200b\u3000"})
	refused("deal name of blanks", "name", err)
	_, err = p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "ok-stage", Name: "Deal", Stage: "成交"})
	if err != nil {
		t.Errorf("deal stage 成交: %v", err)
	}
	ev, ctx := eventsClient(t, s, f.AppToken(t))
	_, err = ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: "https://example.com/\u202egpj.exe", EventTypes: []string{"conversation.created"}})
	refused("webhook URL with an override", "url", err)

	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	id := p.create("names-1", f.Reps[0].ID, begin, 60_000, nil)
	_, err = p.put(id, []*openv1.Sentence{sentence(0, "rep", "hello"), sentence(1, "\u200b", "who is this")}, 10)
	refused("transcript speaker key of a zero-width space", "sentence.speaker_key", err)
	// Free text keeps what it took: an override in a sentence is text.
	if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", "file gnp.\u202eexe \u200b"), sentence(1, "cust", "\u202e")}, 10); err != nil {
		t.Errorf("a sentence with an override: %v", err)
	}
	_, err = p.conv.CreateConversation(p.ctx, &openv1.CreateConversationRequest{
		OriginConversationId: "names-2", Owner: &openv1.CreateConversationRequest_OwnerUserId{OwnerUserId: f.Reps[0].ID},
		Channel: openv1.Channel_CHANNEL_CALL, BeginTime: timestamppb.New(begin), DurationMs: 1000,
		Participants: []*openv1.ParticipantInput{{SpeakerKey: "\ufeff"}},
	})
	refused("participant speaker key of a BOM", "participants[0].speaker_key", err)
}

// TestUserWithAStoredSpoofingNameCanBeDisabled: a user whose name an
// earlier release stored with a bidi embedding (or with nothing visible)
// could not be disabled or edited, as the update re-checked the stored
// name, while their tokens kept working. The name is kept when unchanged;
// a new name is still held to the rule.
func TestUserWithAStoredSpoofingNameCanBeDisabled(t *testing.T) {
	s := NewService(t, nil)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	const bidi = "\u202bمحمد\u202c"
	for i, name := range []string{bidi, "\u200b\u200b"} {
		u := f.Reps[i]
		if err := f.DB.Exec("UPDATE users SET name = ? WHERE id = ?", name, u.ID).Error; err != nil {
			t.Fatal(err)
		}
		tok := f.Token(t, u)
		authCall(t, s, http.MethodGet, "/api/v1/me", tok, nil).want(t, http.StatusOK, "")
		path := fmt.Sprintf("/api/v1/users/%d", u.ID)
		authCall(t, s, http.MethodPut, path, admin, map[string]any{"status": "disabled"}).want(t, http.StatusOK, "")
		authCall(t, s, http.MethodGet, "/api/v1/me", tok, nil).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
		authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *u.Email, "password": f.Password}).
			want(t, http.StatusUnauthorized, "USER_DISABLED")
		authCall(t, s, http.MethodPut, path, admin, map[string]any{"name": name, "role": "manager"}).want(t, http.StatusOK, "")
	}
	r := authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[0].ID), admin, map[string]any{"name": "\u202eX"})
	if r.want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "name" {
		t.Errorf("a new name with an override: field %q, message %q", r.Metadata["field"], r.Msg)
	}
}
