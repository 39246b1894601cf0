//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
)

// TestRetentionOnMariaDB runs two instances on one database with a short
// retention period: conversations older than the tenant's retention_days
// go once each, newer ones and those of a tenant without retention stay,
// and each run leaves an audit record.
func TestRetentionOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_PRIVACY_RETENTION_EVERY"] = "2s"
	env["MGV_PRIVACY_RETENTION_POLL"] = "200ms"
	env["MGV_PRIVACY_ERASURE_BATCH"] = "2"
	a := NewService(t, env)
	b := NewService(t, env)
	f := NewFixture(t, a)
	other := NewFixture(t, a)
	a.Start()
	b.Start()
	admin, rep := f.Token(t, f.Admin), f.Token(t, f.Reps[0])
	settings := "/api/v1/tenant/settings"
	var got controller.TenantSettingsJSON
	authCall(t, a, http.MethodGet, settings, admin, nil).want(t, http.StatusOK, "").decode(t, &got)
	if got.RetentionDays != 0 {
		t.Fatalf("a new tenant keeps conversations for ever: %+v", got)
	}
	authCall(t, a, http.MethodPut, settings, rep, map[string]any{"retention_days": 30}).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, a, http.MethodPut, settings, admin, map[string]any{"retention_days": -1}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")

	p, o := newPartner(t, a.GRPC(), f.AppToken(t)), newPartner(t, b.GRPC(), other.AppToken(t))
	now := time.Now().UTC()
	var old, fresh, kept []int64
	for i := range 5 {
		old = append(old, p.create(fmt.Sprintf("ret-old-%d", i), f.Reps[0].ID, now.AddDate(0, 0, -40-i), 60_000, nil))
		kept = append(kept, o.create(fmt.Sprintf("ret-other-%d", i), other.Reps[0].ID, now.AddDate(0, 0, -40-i), 60_000, nil))
	}
	fresh = append(fresh, p.create("ret-new", f.Reps[0].ID, now.AddDate(0, 0, -29), 60_000, nil))
	if _, err := p.put(old[0], transcript(10, "ret"), 10); err != nil {
		t.Fatal(err)
	}
	authCall(t, a, http.MethodPut, settings, admin, map[string]any{"retention_days": 30}).want(t, http.StatusOK, "")
	authCall(t, b, http.MethodGet, settings, admin, nil).want(t, http.StatusOK, "").decode(t, &got)
	if got.RetentionDays != 30 {
		t.Fatalf("settings read back: %+v", got)
	}

	deadline := time.Now().Add(30 * time.Second)
	for _, id := range old {
		for conversationRows(t, f, id)["conversations"] != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("conversation %d is older than the retention and still there", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		wantNoRows(t, f, id)
	}
	for _, id := range append(fresh, kept...) {
		if conversationRows(t, f, id)["conversations"] != 1 {
			t.Errorf("conversation %d went, though within the retention or of a tenant without one", id)
		}
	}
	events := deletedEvents(t, a, admin)
	for _, id := range old {
		if events[id] != 1 {
			t.Errorf("conversation %d: %d conversation.deleted events", id, events[id])
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var page controller.AuditLogPageJSON
		authCall(t, a, http.MethodGet, "/api/v1/audit-logs?operation=retention.run", admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		if len(page.Records) > 0 {
			r := page.Records[0]
			if r.ActorKind != "system" || r.TargetType != "tenant" || r.TargetID != fmt.Sprint(f.Tenant.ID) || r.Result != "ok" {
				t.Errorf("retention record: %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit record of a retention run")
		}
	}
}

// hourlyRetention starts one instance on MariaDB that runs each tenant's
// retention every hour and polls every 200 ms, with extra settings, and
// returns it with a tenant, its partner app and an admin's token.
func hourlyRetention(t *testing.T, extra map[string]string) (*Service, *Fixture, *partner, string) {
	t.Helper()
	env := mysqlEnv(t)
	for k, v := range extra {
		env[k] = v
	}
	return retentionService(t, env)
}

// retentionService starts the service on env with retention run hourly
// and polled every 200 ms.
func retentionService(t *testing.T, env map[string]string) (*Service, *Fixture, *partner, string) {
	t.Helper()
	env["MGV_PRIVACY_RETENTION_EVERY"] = "1h"
	env["MGV_PRIVACY_RETENTION_POLL"] = "200ms"
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	return s, f, newPartner(t, s.GRPC(), f.AppToken(t)), f.Token(t, f.Admin)
}

// TestShorterRetentionTakesEffectAtOnce: a tenant whose daily run has just
// happened shortens its retention; the conversations now expired go at the
// next poll, not a day later. A body without retention_days is refused:
// it used to turn retention off.
func TestShorterRetentionTakesEffectAtOnce(t *testing.T) {
	s, f, p, admin := hourlyRetention(t, nil)
	settings := "/api/v1/tenant/settings"
	authCall(t, s, http.MethodPut, settings, admin, map[string]any{"retention_days": 60}).want(t, http.StatusOK, "")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var page controller.AuditLogPageJSON
		authCall(t, s, http.MethodGet, "/api/v1/audit-logs?operation=retention.run", admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		if len(page.Records) > 0 {
			break // the day's run is done
		}
		if time.Now().After(deadline) {
			t.Fatal("no retention run")
		}
	}
	id := p.create("ret-short", f.Reps[0].ID, time.Now().UTC().AddDate(0, 0, -40), 60_000, nil)
	for _, body := range []map[string]any{{}, {"retention_days": nil}} {
		authCall(t, s, http.MethodPut, settings, admin, body).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	}
	var got controller.TenantSettingsJSON
	authCall(t, s, http.MethodGet, settings, admin, nil).want(t, http.StatusOK, "").decode(t, &got)
	if got.RetentionDays != 60 {
		t.Fatalf("after refused bodies the retention is %d, want 60", got.RetentionDays)
	}
	authCall(t, s, http.MethodPut, settings, admin, map[string]any{"retention_days": 30}).want(t, http.StatusOK, "")
	for deadline := time.Now().Add(10 * time.Second); conversationRows(t, f, id)["conversations"] != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("conversation %d, 40 days old, still there 10 s after retention went to 30 days", id)
		}
	}
}

// TestRetentionDeletingManyWaitsForConfirmation: a retention turned on or
// shortened so that more conversations than privacy.confirm_over are due
// is refused, naming their number, and changes nothing (a slip of the
// keyboard, 1 day for 100, would delete most of a tenant within a
// minute). Sent again with that number confirmed, it is made; the run
// leaves a record for each conversation it deletes. Lengthening the
// retention, or turning it off, needs no confirmation.
func TestRetentionDeletingManyWaitsForConfirmation(t *testing.T) {
	s, f, p, admin := hourlyRetention(t, map[string]string{"MGV_PRIVACY_CONFIRM_OVER": "3"})
	settings := "/api/v1/tenant/settings"
	now := time.Now().UTC()
	var old []int64
	for i := range 5 {
		old = append(old, p.create(fmt.Sprintf("ret-many-%d", i), f.Reps[0].ID, now.AddDate(0, 0, -40-i), 60_000, nil))
	}
	fresh := p.create("ret-many-new", f.Reps[0].ID, now.AddDate(0, 0, -20), 60_000, nil)

	for _, body := range []map[string]any{
		{"retention_days": 30},
		{"retention_days": 30, "confirm_deletions": 4},
	} {
		r := authCall(t, s, http.MethodPut, settings, admin, body).want(t, http.StatusConflict, "RETENTION_CONFIRMATION_REQUIRED")
		if r.Metadata["conversations_due"] != "5" || !strings.Contains(r.Msg, "confirm_deletions 5") {
			t.Fatalf("%v: metadata %v, message %q; want 5 conversations due", body, r.Metadata, r.Msg)
		}
	}
	authCall(t, s, http.MethodPut, settings, admin, map[string]any{"retention_days": 30, "confirm_deletions": -1}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	var got controller.TenantSettingsJSON
	authCall(t, s, http.MethodGet, settings, admin, nil).want(t, http.StatusOK, "").decode(t, &got)
	if got.RetentionDays != 0 {
		t.Fatalf("a refused change was made: %+v", got)
	}
	time.Sleep(time.Second) // five polls
	for _, id := range old {
		if conversationRows(t, f, id)["conversations"] != 1 {
			t.Fatalf("conversation %d deleted by a retention change that was refused", id)
		}
	}

	authCall(t, s, http.MethodPut, settings, admin, map[string]any{"retention_days": 30, "confirm_deletions": 5}).want(t, http.StatusOK, "")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left := int64(0)
		for _, id := range old {
			left += conversationRows(t, f, id)["conversations"]
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the confirmed conversations still there", left)
		}
	}
	if conversationRows(t, f, fresh)["conversations"] != 1 {
		t.Fatal("a conversation within the retention went")
	}
	want := map[string]bool{}
	for _, id := range old {
		want[fmt.Sprint(id)] = true
	}
	for deadline := time.Now().Add(10 * time.Second); len(want) > 0; time.Sleep(200 * time.Millisecond) {
		var page controller.AuditLogPageJSON
		authCall(t, s, http.MethodGet, "/api/v1/audit-logs?operation=retention.delete", admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		for _, r := range page.Records {
			if r.ActorKind != "system" || r.TargetType != "conversation" || r.Result != "ok" {
				t.Fatalf("retention.delete record: %+v", r)
			}
			delete(want, r.TargetID)
		}
		if len(want) > 0 && time.Now().After(deadline) {
			t.Fatalf("no retention.delete record of conversations %v", want)
		}
	}

	// Longer, shorter with few due, and off: nothing to confirm.
	for _, days := range []int{60, 25, 0} {
		authCall(t, s, http.MethodPut, settings, admin, map[string]any{"retention_days": days}).want(t, http.StatusOK, "")
	}
}

// On the embedded default a retention batch has the SQLite WAL truncated
// in the background, and the index rewritten: soon after an expired
// conversation is deleted no file of the data directory holds its title.
func TestExpiredConversationLeavesTheEmbeddedFiles(t *testing.T) {
	s, f, p, admin := retentionService(t, map[string]string{})
	title := fmt.Sprintf("expiringcall%d", time.Now().UnixNano())
	id := p.create("ret-wal", f.Reps[0].ID, time.Now().UTC().AddDate(0, 0, -40), 60_000,
		func(r *openv1.CreateConversationRequest) { r.Title = title })
	data := filepath.Dir(s.Env["MGV_DATABASE_DSN"])
	if len(filesHolding(t, data, title)) == 0 {
		t.Fatal("no file of the data directory holds the conversation's title: the check below would prove nothing")
	}
	authCall(t, s, http.MethodPut, "/api/v1/tenant/settings", admin, map[string]any{"retention_days": 30}).want(t, http.StatusOK, "")
	for deadline := time.Now().Add(20 * time.Second); conversationRows(t, f, id)["conversations"] != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("conversation %d, 40 days old, still there 20 s after retention went to 30 days", id)
		}
	}
	waitFilesLose(t, data, 30*time.Second, title)
}
