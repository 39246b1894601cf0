//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/logic/audit"
)

// auditRows reads the stored records of the tenants, in chain order.
func auditRows(t *testing.T, db *gorm.DB, tenants ...int64) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for _, tenant := range tenants {
		rows, err := dao.NewAuditLogs(db, testChainSealer, zerolog.Nop()).Entries(t.Context(), tenant, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}

// findAudit returns the records of one operation (and result, when set).
func findAudit(rows []audit.Entry, op, result string) []audit.Entry {
	var out []audit.Entry
	for _, r := range rows {
		if r.Operation == op && (result == "" || r.Result == result) {
			out = append(out, r)
		}
	}
	return out
}

// auditVerify runs `mgvcore audit verify` and returns its output and
// whether it passed.
func auditVerify(t *testing.T, s *Service, args ...string) (string, bool) {
	t.Helper()
	out, err := s.Command(append([]string{"audit", "verify"}, args...)...).CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatal(err)
	}
	return string(out), err == nil
}

// TestR11Audit (QUALITY R11): every operation class leaves its record, on
// both transports, on MariaDB; records are queued and written by a clean
// stop and by the old process of a USR2 upgrade (the flush interval is an
// hour here, so nothing else writes them); `audit verify` passes, then
// finds an edited, a deleted and a reordered record, each named.
func TestR11Audit(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_AUDIT_FLUSH_INTERVAL"] = "1h"
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)

	// Sign-ins: one that works, one with a wrong password, one with an
	// unknown account.
	login := authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": *f.Admin.Email, "password": f.Password}).want(t, 200, "")
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(login.Data, &pair); err != nil || pair.AccessToken == "" {
		t.Fatalf("login: %s %v", login.Data, err)
	}
	authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": *f.Reps[0].Email, "password": "wrong " + f.Password})
	authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": "nobody-" + *f.Reps[0].Email, "password": "wrong"})
	// Throttled: wrong passwords for one account until the answer is 429.
	throttled := false
	for range 8 {
		r := authCall(t, s, "POST", "/api/v1/auth/login", "", map[string]string{"account": *f.Reps[1].Email, "password": "wrong"})
		if throttled = r.Status == 429; throttled {
			break
		}
	}
	if !throttled {
		t.Fatal("sign-ins were not throttled")
	}
	// An HTTP write, refused writes, a gRPC write, a transcript read, a
	// search.
	created := authCall(t, s, "POST", "/api/v1/trackers", admin, map[string]any{"name": "Budget", "keywords": []string{"预算"}, "affiliation": "anyone"}).want(t, 201, "")
	var tr struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(created.Data, &tr); err != nil || tr.ID == 0 {
		t.Fatalf("tracker: %s", created.Data)
	}
	authCall(t, s, "POST", "/api/v1/trackers", f.Token(t, f.Reps[0]), map[string]any{"name": "x", "keywords": []string{"x"}}).want(t, 403, "PERMISSION_DENIED")
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	conv := p.create("audit-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60000, nil)
	if _, err := p.put(conv, []*openv1.Sentence{{Seq: 0, SpeakerKey: "rep", StartMs: 0, EndMs: 1000, Text: "我们今年的预算有限"}}, 10); err != nil {
		t.Fatal(err)
	}
	apiGet(t, s, fmt.Sprintf("/api/v1/conversations/%d/transcript", conv), admin).want(t, 200, "")
	authCall(t, s, "POST", "/api/v1/search", admin, map[string]any{"query": "预算"})

	// Nothing is written yet: the records wait for their batch.
	if n := len(auditRows(t, f.DB, f.Tenant.ID)); n != 0 {
		t.Fatalf("%d records written before any flush; the flush interval is an hour", n)
	}

	// USR2: the old process writes what it took before it exits.
	old := s.Signal(syscall.SIGUSR2)
	waitNewPID(t, s, old, 15*time.Second)
	if !WaitGone(old, 30*time.Second) {
		t.Fatal("the old process did not exit")
	}
	rows := auditRows(t, f.DB, 0, f.Tenant.ID)
	for _, r := range rows {
		t.Logf("audit %d/%d %s %s:%d %s %s:%s %s req=%s", r.TenantID, r.Seq, r.Time.Format(time.RFC3339Nano), r.ActorKind, r.ActorID, r.Operation, r.TargetType, r.TargetID, r.Result, r.RequestID)
	}
	id := func(v int64) string { return fmt.Sprint(v) }
	checks := []struct {
		what, op, result     string
		tenant               int64
		actorKind            string
		actorID              int64
		targetType, targetID string
	}{
		{"sign-in", "auth.login", "ok", f.Tenant.ID, "user", f.Admin.ID, "user", id(f.Admin.ID)},
		{"failed sign-in", "auth.login", "UNAUTHENTICATED", f.Tenant.ID, "user", f.Reps[0].ID, "user", id(f.Reps[0].ID)},
		{"sign-in with an unknown account", "auth.login", "UNAUTHENTICATED", 0, "anonymous", 0, "user", ""},
		{"throttled sign-in", "auth.login", "RATE_LIMITED", f.Tenant.ID, "user", f.Reps[1].ID, "user", id(f.Reps[1].ID)},
		{"HTTP write", "tracker.create", "ok", f.Tenant.ID, "user", f.Admin.ID, "tracker", id(tr.ID)},
		{"refused HTTP write", "tracker.create", "PERMISSION_DENIED", f.Tenant.ID, "user", f.Reps[0].ID, "tracker", ""},
		{"gRPC write", "conversation.create", "ok", f.Tenant.ID, "app", f.App.ID, "conversation", id(conv)},
		{"gRPC stream write", "transcript.put", "ok", f.Tenant.ID, "app", f.App.ID, "conversation", id(conv)},
		{"transcript read", "transcript.read", "ok", f.Tenant.ID, "user", f.Admin.ID, "conversation", id(conv)},
		{"search", "search", "ok", f.Tenant.ID, "user", f.Admin.ID, "", ""},
	}
	reqID := regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)
	for _, c := range checks {
		var match *audit.Entry
		for _, r := range findAudit(rows, c.op, c.result) {
			if r.TenantID == c.tenant && r.ActorKind == c.actorKind && r.ActorID == c.actorID && r.TargetType == c.targetType && r.TargetID == c.targetID {
				match = &r
				break
			}
		}
		switch {
		case match == nil:
			t.Errorf("%s: no record %s %s by %s %d on %s %q in tenant %d", c.what, c.op, c.result, c.actorKind, c.actorID, c.targetType, c.targetID, c.tenant)
		case match.ClientAddr != "127.0.0.1":
			t.Errorf("%s: client address %q", c.what, match.ClientAddr)
		case !reqID.MatchString(match.RequestID):
			t.Errorf("%s: request id %q", c.what, match.RequestID)
		case time.Since(match.Time) > 10*time.Minute || time.Until(match.Time) > time.Minute:
			t.Errorf("%s: time %v", c.what, match.Time)
		}
	}
	// No secret, token or typed account reaches the trail.
	for _, r := range rows {
		line := fmt.Sprintf("%+v", r)
		for _, secret := range []string{f.Password, f.AppSecret, pair.AccessToken[:20], "eyJ", "nobody-", *f.Admin.Email} {
			if strings.Contains(line, secret) {
				t.Fatalf("an audit record holds %.8q…: %s", secret, line)
			}
		}
	}

	// The new process serves the trail to admins: filtered, newest first.
	list := apiGet(t, s, "/api/v1/audit-logs?"+url.Values{"operation": {"auth.login"}, "page_size": {"1"}}.Encode(), admin).want(t, 200, "")
	var page controller.AuditLogPageJSON
	if err := json.Unmarshal(list.Data, &page); err != nil {
		t.Fatal(err)
	}
	if page.Total < 3 || len(page.Records) != 1 || page.NextPageToken == "" || page.Records[0].Operation != "auth.login" {
		t.Fatalf("audit-logs: %+v", page)
	}
	apiGet(t, s, "/api/v1/audit-logs", f.Token(t, f.Manager)).want(t, 403, "PERMISSION_DENIED")

	// A clean stop writes the records still queued.
	authCall(t, s, "PUT", fmt.Sprintf("/api/v1/trackers/%d", tr.ID), admin, map[string]any{"name": "Budget 2", "keywords": []string{"预算"}, "affiliation": "anyone"}).want(t, 200, "")
	pid := s.Signal(syscall.SIGTERM)
	if !WaitGone(pid, 30*time.Second) {
		t.Fatal("the service did not stop")
	}
	rows = auditRows(t, f.DB, f.Tenant.ID)
	if len(findAudit(rows, "tracker.update", "ok")) != 1 || len(findAudit(rows, "audit.read", "")) != 2 {
		t.Fatalf("records of the last process lost at a clean stop: %d records", len(rows))
	}

	tenant := id(f.Tenant.ID)
	if out, ok := auditVerify(t, s, "--tenant", tenant); !ok || !strings.Contains(out, "ok: 1 chains") {
		t.Fatalf("verify of an intact chain:\n%s", out)
	}
	if out, ok := auditVerify(t, s); !ok {
		t.Fatalf("verify of every chain:\n%s", out)
	}

	// Each tampering is found and names the first bad record; the row is
	// put back after each, and the chain verifies again.
	target := rows[3]
	exec := func(sql string, args ...any) {
		t.Helper()
		if err := f.DB.Exec(sql, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	tampers := []struct {
		name       string
		tamper     func()
		restore    func()
		wantRecord int64
	}{
		{"edited", func() {
			exec("UPDATE audit_logs SET result = CASE WHEN result = 'ok' THEN 'PERMISSION_DENIED' ELSE 'ok' END WHERE id = ?", rows[4].ID)
		},
			func() { exec("UPDATE audit_logs SET result = ? WHERE id = ?", rows[4].Result, rows[4].ID) }, rows[4].ID},
		{"edited actor", func() { exec("UPDATE audit_logs SET actor_id = actor_id + 1 WHERE id = ?", target.ID) },
			func() { exec("UPDATE audit_logs SET actor_id = ? WHERE id = ?", target.ActorID, target.ID) }, target.ID},
		{"deleted", func() { exec("DELETE FROM audit_logs WHERE id = ?", target.ID) },
			func() { exec("INSERT INTO audit_logs SELECT * FROM audit_logs_saved") }, rows[4].ID},
		{"reordered", func() {
			exec("UPDATE audit_logs SET seq = -seq WHERE id IN (?, ?)", rows[2].ID, rows[3].ID)
			exec("UPDATE audit_logs SET seq = ? WHERE id = ?", rows[3].Seq, rows[2].ID)
			exec("UPDATE audit_logs SET seq = ? WHERE id = ?", rows[2].Seq, rows[3].ID)
		}, func() {
			exec("UPDATE audit_logs SET seq = -seq WHERE id IN (?, ?)", rows[2].ID, rows[3].ID)
			exec("UPDATE audit_logs SET seq = ? WHERE id = ?", rows[2].Seq, rows[2].ID)
			exec("UPDATE audit_logs SET seq = ? WHERE id = ?", rows[3].Seq, rows[3].ID)
		}, rows[3].ID},
		{"last deleted", func() { exec("DELETE FROM audit_logs WHERE id = ?", rows[len(rows)-1].ID) },
			func() { exec("INSERT INTO audit_logs SELECT * FROM audit_logs_saved") }, 0},
	}
	exec("CREATE TABLE audit_logs_saved AS SELECT * FROM audit_logs WHERE 1 = 0")
	for _, tc := range tampers {
		exec("DELETE FROM audit_logs_saved")
		exec("INSERT INTO audit_logs_saved SELECT * FROM audit_logs WHERE id IN (?, ?)", target.ID, rows[len(rows)-1].ID)
		if tc.name == "last deleted" {
			exec("DELETE FROM audit_logs_saved WHERE id <> ?", rows[len(rows)-1].ID)
		} else {
			exec("DELETE FROM audit_logs_saved WHERE id <> ?", target.ID)
		}
		tc.tamper()
		out, ok := auditVerify(t, s, "--tenant", tenant)
		want := fmt.Sprintf("audit record id %d ", tc.wantRecord)
		if tc.wantRecord == 0 {
			want = "records at the end were removed"
		}
		if ok || !strings.Contains(out, want) {
			t.Errorf("%s: verify passed=%v, want it to name %q:\n%s", tc.name, ok, want, out)
		}
		t.Logf("%s: %s", tc.name, strings.TrimSpace(out))
		tc.restore()
		if out, ok := auditVerify(t, s, "--tenant", tenant); !ok {
			t.Fatalf("after restoring from %s:\n%s", tc.name, out)
		}
	}
}

// A write's record names what it was done to: the app an admin created,
// the user a partner upserted (by id: a role given over gRPC is a change
// of who may do what), the subscription an app created and the one it
// asked to redeliver, also when the redelivery is refused.
func TestAuditNamesWhatAWriteCreated(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	appTok := f.AppToken(t)

	var app controller.AppSecretJSON
	authCall(t, s, "POST", "/api/v1/apps", admin, map[string]any{"name": "crm sync", "scopes": []string{"ingest"}}).want(t, 201, "").decode(t, &app)
	org := openv1.NewOrgServiceClient(s.GRPC())
	u, err := org.UpsertUser(authBearer(t.Context(), appTok), &openv1.UpsertUserRequest{
		OriginUserId: "crm-audit-1", Name: "Partner Manager", Role: openv1.Role_ROLE_MANAGER})
	if err != nil {
		t.Fatal(err)
	}
	ev, ctx := eventsClient(t, s, appTok)
	rcv := newReceiver(t)
	sub, err := ev.CreateSubscription(ctx, &openv1.CreateSubscriptionRequest{Url: rcv.srv.URL + "/hook", EventTypes: []string{"conversation.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Redeliver(ctx, &openv1.RedeliverRequest{SubscriptionId: sub.Subscription.Id,
		Target: &openv1.RedeliverRequest_EventId{EventId: 999_999_999}}); err == nil {
		t.Fatal("a redelivery of an event that does not exist was accepted")
	}

	id := func(v int64) string { return fmt.Sprint(v) }
	want := []struct{ op, targetType, targetID string }{
		{"app.create", "app", id(app.ID)},
		{"user.upsert", "user", id(u.User.Id)},
		{"webhook.create", "webhook", id(sub.Subscription.Id)},
		{"webhook.redeliver", "webhook", id(sub.Subscription.Id)},
	}
	var rows []audit.Entry
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows = auditRows(t, f.DB, f.Tenant.ID)
		missing := 0
		for _, w := range want {
			if len(findAudit(rows, w.op, "")) == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range want {
		got := findAudit(rows, w.op, "")
		if len(got) != 1 || got[0].TargetType != w.targetType || got[0].TargetID != w.targetID {
			t.Errorf("%s: records %+v, want one on %s %s", w.op, got, w.targetType, w.targetID)
		}
	}
}

// A target id a caller writes into a path cannot garble the trail: its
// line break, terminal escape and bidirectional override reach the record
// as escapes, whatever reads it (the API, a database client, a log).
func TestAuditEscapesHiddenCharactersOfATarget(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	authCall(t, s, "DELETE", "/api/v1/comments/1%0Aforged%1B%5B31m%E2%80%AE%00", admin, nil).want(t, 400, "INVALID_ARGUMENT")
	want := `1\nforged\x1b[31m\u202e\x00`
	var page controller.AuditLogPageJSON
	deadline := time.Now().Add(10 * time.Second)
	for len(page.Records) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		res := apiGet(t, s, "/api/v1/audit-logs?operation=comment.delete", admin).want(t, 200, "")
		if err := json.Unmarshal(res.Data, &page); err != nil {
			t.Fatal(err)
		}
	}
	if len(page.Records) != 1 || page.Records[0].TargetID != want {
		t.Fatalf("records %+v, want one on comment %q", page.Records, want)
	}
	for _, r := range auditRows(t, f.DB, f.Tenant.ID) {
		if strings.ContainsFunc(r.TargetID, func(c rune) bool { return c < ' ' || c == 0x7f || c == '\u202e' }) {
			t.Fatalf("stored record %d holds a hidden character: %q", r.ID, r.TargetID)
		}
	}
}

// TestAuditRecordsCallsWithARevokedToken: on MariaDB, a delete sent with
// a genuine token that was revoked, an app's after the app was disabled
// (gRPC) and a user's after they signed out (HTTP), is refused and leaves
// its record, charged to the token's app or user, with TOKEN_REVOKED; the
// conversation stays.
func TestAuditRecordsCallsWithARevokedToken(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	conv := p.create("revoked-token-1", f.Reps[0].ID, time.Now().Add(-time.Hour), 60000, nil)

	authCall(t, s, "POST", fmt.Sprintf("/api/v1/apps/%d/disable", f.App.ID), admin, nil).want(t, 200, "")
	_, err := p.conv.DeleteConversation(p.ctx, &openv1.DeleteConversationRequest{ConversationId: conv})
	if _, reason := authGRPCReason(err); reason != "TOKEN_REVOKED" {
		t.Fatalf("delete with the disabled app's token: %v (%s), want TOKEN_REVOKED", err, reason)
	}
	authCall(t, s, "POST", "/api/v1/auth/logout", admin, nil).want(t, 200, "")
	authCall(t, s, "DELETE", fmt.Sprintf("/api/v1/conversations/%d", conv), admin, nil).want(t, 401, "TOKEN_REVOKED")
	if !WaitGone(s.Signal(syscall.SIGTERM), 30*time.Second) {
		t.Fatal("the service did not stop")
	}

	refused := findAudit(auditRows(t, f.DB, f.Tenant.ID), "conversation.delete", "TOKEN_REVOKED")
	target := fmt.Sprint(conv)
	for _, want := range []struct {
		kind string
		id   int64
	}{{audit.ActorApp, f.App.ID}, {audit.ActorUser, f.Admin.ID}} {
		n := 0
		for _, r := range refused {
			if r.ActorKind == want.kind && r.ActorID == want.id && r.TargetType == "conversation" && r.TargetID == target {
				n++
			}
		}
		if n != 1 {
			t.Errorf("refused deletes by %s %d: %d records, want 1 (all refused: %+v)", want.kind, want.id, n, refused)
		}
	}
	var left int64
	if err := f.DB.Raw("SELECT COUNT(*) FROM conversations WHERE id = ?", conv).Scan(&left).Error; err != nil || left != 1 {
		t.Fatalf("the conversation: %d rows, %v", left, err)
	}
}
