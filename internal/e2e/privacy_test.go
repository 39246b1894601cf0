//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/polltest"
	"google.golang.org/protobuf/types/known/structpb"
)

// erasureOf reads an erasure job.
func erasureOf(t *testing.T, s *Service, token string, id int64) controller.ErasureJSON {
	t.Helper()
	var e controller.ErasureJSON
	authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/privacy/erasures/%d", id), token, nil).want(t, http.StatusOK, "").decode(t, &e)
	return e
}

// waitErasure polls a job until it is done.
func waitErasure(t *testing.T, s *Service, token string, id int64, timeout time.Duration) controller.ErasureJSON {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e := erasureOf(t, s, token, id)
		if e.Status == model.ErasureDone {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure %d not done within %s: %+v\n%s", id, timeout, e, s.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lookup posts a privacy lookup.
func lookup(t *testing.T, s *Service, token string, body map[string]any) controller.HoldingsJSON {
	t.Helper()
	var h controller.HoldingsJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/lookups", token, body).want(t, http.StatusOK, "").decode(t, &h)
	return h
}

// customerCalls ingests n calls of the fixture's reps with an outside
// speaker named name, who says words; it returns their ids.
func customerCalls(t *testing.T, p *partner, f *Fixture, name, words, tag string, n int) []int64 {
	t.Helper()
	begin := time.Date(2025, 5, 1, 2, 0, 0, 0, time.UTC)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = p.create(fmt.Sprintf("pii-%s-%d", tag, i), f.Reps[i%3].ID, begin.Add(time.Duration(i)*time.Hour), 60_000,
			func(r *openv1.CreateConversationRequest) {
				r.Title = "call with " + name
				r.Participants[1].Name = name
			})
		if _, err := p.put(ids[i], []*openv1.Sentence{sentence(0, "rep", "good morning"), sentence(1, "cust", words),
			sentence(2, "cust", "again "+words)}, 10); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// tablesHolding lists table.column places of the service's database
// whose text holds any of needles: every text column of every table, and
// every binary one (origin ids and speaker keys are VARBINARY, compared
// byte for byte).
func tablesHolding(t *testing.T, f *Fixture, needles ...string) []string {
	t.Helper()
	var cols []struct{ TableName, ColumnName string }
	err := f.DB.Raw("SELECT table_name AS table_name, column_name AS column_name FROM information_schema.columns " +
		"WHERE table_schema = DATABASE() AND data_type IN ('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'json', " +
		"'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob')").
		Scan(&cols).Error
	if err != nil || len(cols) < 20 {
		t.Fatalf("text columns: %d, %v", len(cols), err)
	}
	var out []string
	for _, c := range cols {
		for _, n := range needles {
			var hits int64
			q := fmt.Sprintf("SELECT COUNT(*) FROM `%s` WHERE `%s` LIKE ?", c.TableName, c.ColumnName)
			if err := f.DB.Raw(q, "%"+n+"%").Scan(&hits).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if hits > 0 {
				out = append(out, fmt.Sprintf("%s.%s has %q %d times", c.TableName, c.ColumnName, n, hits))
			}
		}
	}
	return out
}

// indexHolding lists the documents of the service's Elasticsearch alias
// whose source holds any of needles (the whole index is read: a test's
// alias is its own). It asks Elasticsearch itself, not the address the
// service is given, which may be cut off.
func indexHolding(t *testing.T, s *Service, needles ...string) []string {
	t.Helper()
	url := requireEnv(t, "MGV_TEST_ES_URL") + "/" + s.Env["MGV_SEARCH_INDEX"] + "/_search?size=10000"
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"query":{"match_all":{}},"track_total_hits":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v %.300s", url, resp.StatusCode, err, data)
	}
	var res struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Hits.Total.Value > len(res.Hits.Hits) {
		t.Fatalf("the index holds %d documents, more than the %d read: the look would miss some", res.Hits.Total.Value, len(res.Hits.Hits))
	}
	var out []string
	for _, h := range res.Hits.Hits {
		for _, n := range needles {
			if strings.Contains(string(h.Source), n) {
				out = append(out, fmt.Sprintf("document %s has %q", h.ID, n))
			}
		}
	}
	return out
}

func TestPrivacyLookupAndErasureOnMariaDBAndElasticsearch(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_PRIVACY_CONFIRM_OVER"] = "2"
	s := NewService(t, env)
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin, rep := f.Token(t, f.Admin), f.Token(t, f.Reps[0])
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	tag := fmt.Sprintf("%06d", rand.N(1_000_000))

	// An outside speaker, named by phone number as a call centre does.
	phone := "+861380013" + tag[:4]
	calls := customerCalls(t, p, f, phone, "my account number is acct"+tag, tag, 3)
	h := lookup(t, s, admin, map[string]any{"phone": "138 0013 " + tag[:4]})
	if h.User != nil || h.Conversations != 3 || h.ExternalConversations != 3 || h.SentencesSpoken != 6 || len(h.ConversationIDs) != 3 {
		t.Fatalf("lookup by phone: %+v", h)
	}
	// Admins only; exactly one identifier; another tenant sees nothing.
	authCall(t, s, http.MethodPost, "/api/v1/privacy/lookups", rep, map[string]any{"phone": phone}).want(t, http.StatusForbidden, "PERMISSION_DENIED")
	authCall(t, s, http.MethodPost, "/api/v1/privacy/lookups", admin, map[string]any{"phone": phone, "email": "a@b.c"}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPost, "/api/v1/privacy/lookups", admin, map[string]any{"phone": "not a phone"}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	// An erasure redacts its subject's address wherever free text writes
	// it: an address without a name or a domain would take every at sign.
	for _, bad := range []string{"@", "a@", "@example.com", "(at)", ".@.", "Jose <jose@example.com>"} {
		for _, path := range []string{"/api/v1/privacy/lookups", "/api/v1/privacy/erasures"} {
			if r := authCall(t, s, http.MethodPost, path, admin, map[string]any{"email": bad}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT"); r.Metadata["field"] != "email" || !strings.Contains(r.Msg, "not an email address") {
				t.Fatalf("%s with email %q: %s %v, want the error to name the email", path, bad, r.Msg, r.Metadata)
			}
		}
	}
	if h := lookup(t, s, other.Token(t, other.Admin), map[string]any{"phone": phone}); h.Conversations != 0 || h.User != nil {
		t.Fatalf("another tenant's lookup: %+v", h)
	}

	// A rep reads the number out in another call, titled and tagged
	// with it, and a deal is named by it: free text the erasure redacts.
	grouped := "138 0013 " + tag[:4]
	mention := p.create("pii-mention-"+tag, f.Reps[1].ID, time.Date(2025, 5, 3, 2, 0, 0, 0, time.UTC), 60_000,
		func(r *openv1.CreateConversationRequest) {
			r.Title = "callback 1380013" + tag[:4]
			asNumber, err := strconv.ParseFloat("1380013"+tag[:4], 64)
			if err != nil {
				t.Fatal(err)
			}
			data, err := structpb.NewStruct(map[string]any{"callback": "+86-138-0013-" + tag[:4], "callback_number": asNumber})
			if err != nil {
				t.Fatal(err)
			}
			r.CustomData = data
		})
	if _, err := p.put(mention, []*openv1.Sentence{sentence(0, "rep", "I will call you on "+grouped+" tomorrow, ref"+tag),
		sentence(1, "cust", "ok"), sentence(2, "rep", "or reach them on 138"), sentence(3, "rep", "0013-"+tag[:4]+" after five")}, 10); err != nil {
		t.Fatal(err)
	}
	dealAccount := "Acct " + grouped
	if _, err := p.deals.UpsertDeal(p.ctx, &openv1.UpsertDealRequest{OriginDealId: "pii-deal-" + tag, Name: "renewal " + tag, AccountName: dealAccount}); err != nil {
		t.Fatal(err)
	}
	waitSearch(t, s, admin, "ref"+tag, 1, 30*time.Second)
	if found := indexHolding(t, s, grouped); len(found) == 0 {
		t.Fatal("the index holds no mention of the number before the erasure: the check below would prove nothing")
	}
	mentions := []string{"1380013" + tag[:4], grouped, "138-0013-" + tag[:4]}

	// Three conversations is over confirm_over (2): the job waits for
	// the count.
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": phone}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasureAwaitingConfirmation || e.ConversationsTotal != 3 || e.InternalUser {
		t.Fatalf("erasure: %+v", e)
	}
	time.Sleep(1500 * time.Millisecond)
	if got := erasureOf(t, s, admin, e.ID); got.Status != model.ErasureAwaitingConfirmation || got.ConversationsDeleted != 0 {
		t.Fatalf("an unconfirmed erasure ran: %+v", got)
	}
	confirm := fmt.Sprintf("/api/v1/privacy/erasures/%d/confirm", e.ID)
	authCall(t, s, http.MethodPost, confirm, admin, map[string]any{"count": 2}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPost, confirm, other.Token(t, other.Admin), map[string]any{"count": 3}).want(t, http.StatusNotFound, "ERASURE_NOT_FOUND")
	authCall(t, s, http.MethodPost, confirm, admin, map[string]any{"count": 3}).want(t, http.StatusOK, "")
	done := waitErasure(t, s, admin, e.ID, 30*time.Second)
	if done.ConversationsDeleted != 3 || done.FinishedAt == nil || done.ConversationsRedacted != 1 || done.DealsRedacted != 1 {
		t.Fatalf("erasure done: %+v", done)
	}
	authCall(t, s, http.MethodPost, confirm, admin, map[string]any{"count": 3}).want(t, http.StatusConflict, "ERASURE_NOT_AWAITING_CONFIRMATION")
	for _, id := range calls {
		wantNoRows(t, f, id)
	}
	// The call that mentions the number stays, without it.
	if rows := conversationRows(t, f, mention); rows["conversations"] != 1 || rows["transcript_parts"] == 0 {
		t.Fatalf("the call that mentions the number did not stay: %v", rows)
	}
	if found := append(tablesHolding(t, f, mentions...), indexHolding(t, s, mentions...)...); len(found) > 0 {
		t.Errorf("the number is still written after its erasure: %s", strings.Join(found, "; "))
	}
	if found := indexHolding(t, s, "ref"+tag); len(found) != 1 {
		t.Errorf("the redacted call is not in the index once: %v", found)
	}
	var custom string
	if err := f.DB.Raw("SELECT custom_data FROM conversations WHERE id = ?", mention).Scan(&custom).Error; err != nil ||
		!json.Valid([]byte(custom)) || strings.Contains(custom, tag[:4]) {
		t.Errorf("custom data after the erasure: %s %v", custom, err)
	}
	if found := tablesHolding(t, f, "0013-"+tag[:4]); len(found) > 0 {
		t.Errorf("the number split across two sentences is still written: %s", strings.Join(found, "; "))
	}

	// An internal user: anonymised, their conversations stay.
	u := f.Reps[3]
	name, userPhone := "Erasable"+tag, "+861390013"+tag[:4]
	if err := f.DB.Model(&model.User{}).Where("id = ?", u.ID).Updates(map[string]any{"name": name, "phone": userPhone, "origin_user_id": "hr-" + tag}).Error; err != nil {
		t.Fatal(err)
	}
	userToken := f.Token(t, u)
	kept := p.create("pii-internal-"+tag, u.ID, time.Date(2025, 5, 2, 2, 0, 0, 0, time.UTC), 60_000, nil)
	if _, err := p.put(kept, []*openv1.Sentence{sentence(0, "rep", "our offer stands"), sentence(1, "cust", "thanks")}, 10); err != nil {
		t.Fatal(err)
	}
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", kept), userToken,
		map[string]any{"start_ms": 0, "text": "follow up: call me on " + userPhone + " about note" + tag}).want(t, http.StatusCreated, "")
	// Another user writes the user's address and number in a comment of
	// their own: it stays, without them.
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/comments", kept), admin,
		map[string]any{"start_ms": 0, "text": "ask " + strings.ToUpper(*u.Email) + " or 139-0013-" + tag[:4] + " ok" + tag}).want(t, http.StatusCreated, "")
	h = lookup(t, s, admin, map[string]any{"origin_user_id": "hr-" + tag})
	if h.User == nil || h.User.ID != u.ID || h.User.Name != name || h.Conversations != 1 || h.ExternalConversations != 0 ||
		h.CommentsAuthored != 1 || h.SentencesSpoken != 1 {
		t.Fatalf("lookup of a user: %+v %+v", h, h.User)
	}
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"email": strings.ToUpper(*u.Email)}).
		want(t, http.StatusAccepted, "").decode(t, &e)
	if !e.InternalUser || e.ConversationsTotal != 0 || e.Status != model.ErasurePending {
		t.Fatalf("erasure of a user: %+v", e)
	}
	if done := waitErasure(t, s, admin, e.ID, 30*time.Second); done.UsersAnonymised != 1 || done.ConversationsRedacted != 1 || done.DealsRedacted != 0 {
		t.Fatalf("erasure of a user done: %+v", done)
	}
	if rows := conversationRows(t, f, kept); rows["conversations"] != 1 || rows["transcript_parts"] == 0 || rows["comments"] != 2 {
		t.Fatalf("the user's conversation did not stay: %v", rows)
	}
	authCall(t, s, http.MethodGet, "/api/v1/me", userToken, nil).want(t, http.StatusUnauthorized, "")
	var detail struct {
		Participants []struct {
			UserID *int64 `json:"user_id"`
			Name   string `json:"name"`
		} `json:"participants"`
	}
	authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d", kept), admin, nil).want(t, http.StatusOK, "").decode(t, &detail)
	for _, pt := range detail.Participants {
		if pt.UserID != nil && *pt.UserID == u.ID && pt.Name != "" {
			t.Errorf("the erased user is still named %q", pt.Name)
		}
	}
	if found := tablesHolding(t, f, append(mentions, name, userPhone, *u.Email, "hr-"+tag, phone, "acct"+tag, "note"+tag, "1390013"+tag[:4], "139-0013-"+tag[:4])...); len(found) > 0 {
		t.Errorf("after erasure: %s", strings.Join(found, "; "))
	}
	var comments []string
	if err := f.DB.Raw("SELECT text FROM comments WHERE conversation_id = ? AND text <> ''", kept).Scan(&comments).Error; err != nil ||
		len(comments) != 1 || comments[0] != "ask [erased] or [erased] ok"+tag {
		t.Errorf("the other user's comment after the erasure: %q %v", comments, err)
	}
	if h := lookup(t, s, admin, map[string]any{"email": *u.Email}); h.User != nil || h.Conversations != 0 {
		t.Errorf("a lookup still finds the erased user: %+v", h)
	}
	authCall(t, s, http.MethodGet, "/api/v1/privacy/erasures/999999999", admin, nil).want(t, http.StatusNotFound, "ERASURE_NOT_FOUND")

	// person.erased for each job, and conversation.deleted for each
	// conversation the first one deleted.
	erased := eventsOf(t, s, admin, "person.erased")
	if len(erased) != 2 || erased[1].Data["user_id"] != float64(u.ID) || erased[0].Data["conversations_deleted"] != float64(3) {
		t.Errorf("person.erased events: %+v", erased)
	}
	if events := deletedEvents(t, s, admin); len(events) != 3 {
		t.Errorf("conversation.deleted events: %v", events)
	}

	// The trail names the jobs, never the person.
	want := map[string]string{"privacy.erasure.start": "erasure", "privacy.erasure.confirm": "erasure",
		"privacy.erasure.run": "erasure", "privacy.lookup": "", "conversation.delete": ""}
	deadline := time.Now().Add(20 * time.Second)
	for op, target := range want {
		for {
			var page controller.AuditLogPageJSON
			authCall(t, s, http.MethodGet, "/api/v1/audit-logs?operation="+op, admin, nil).want(t, http.StatusOK, "").decode(t, &page)
			if len(page.Records) > 0 || op == "conversation.delete" {
				for _, r := range page.Records {
					// A refused start has no job to name.
					if r.TargetType != target || (target == "erasure" && r.Result == "ok" && r.TargetID == "") {
						t.Errorf("%s: target %s %q", op, r.TargetType, r.TargetID)
					}
				}
				if op == "conversation.delete" && len(page.Records) > 0 {
					t.Errorf("an erasure's deletions are not requests: %+v", page.Records)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no audit record of %s", op)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if found := tablesHolding(t, f, append(mentions, name, userPhone, *u.Email, "hr-"+tag, phone, "acct"+tag, "note"+tag, "139-0013-"+tag[:4])...); len(found) > 0 {
		t.Errorf("after erasure, with the trail written: %s", strings.Join(found, "; "))
	}
}

// startErasing starts a service on env with a fixture, and returns its
// admin's token, a partner ingesting as its app, and a random tag for the
// names and words of the person a test erases.
func startErasing(t *testing.T, env map[string]string) (*Service, *Fixture, string, *partner, string) {
	t.Helper()
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	return s, f, f.Token(t, f.Admin), newPartner(t, s.GRPC(), f.AppToken(t)), fmt.Sprintf("%06d", rand.N(1_000_000))
}

// TestR12ErasureLeavesNoTrace erases an outside speaker from 80
// conversations, kills the service with SIGKILL in the middle, restarts
// it, and as soon as the job is done looks for the person's name, phone
// and words in every text column of every table and in every index
// document.
func TestR12ErasureLeavesNoTrace(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_PRIVACY_ERASURE_BATCH"] = "1"
	env["MGV_PRIVACY_ERASURE_LEASE"] = "2s"
	env["MGV_PRIVACY_CONFIRM_OVER"] = "10"
	s, f, admin, p, tag := startErasing(t, env)
	name, words := "客户Zhao"+tag, "secretproject"+tag
	const n = 80
	customerCalls(t, p, f, name, "we plan "+words+" next year", tag, n)
	waitSearch(t, s, admin, words, n, 60*time.Second)
	if found := indexHolding(t, s, name, words); len(found) == 0 {
		t.Fatal("the index holds nothing of the person before the erasure: the check below would prove nothing")
	}
	if h := lookup(t, s, admin, map[string]any{"name": name}); h.ExternalConversations != n {
		t.Fatalf("lookup by name: %+v", h)
	}
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasureAwaitingConfirmation {
		t.Fatalf("erasure of %d conversations over confirm_over: %+v", n, e)
	}
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/privacy/erasures/%d/confirm", e.ID), admin, map[string]any{"count": n}).want(t, http.StatusOK, "")
	deadline := time.Now().Add(30 * time.Second)
	for erasureOf(t, s, admin, e.ID).ConversationsDeleted < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the erasure made no progress")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	var cut model.Erasure
	if err := f.DB.First(&cut, e.ID).Error; err != nil {
		t.Fatal(err)
	}
	if cut.Status != model.ErasurePending || cut.ConversationsDeleted >= n {
		t.Fatalf("the kill did not interrupt the erasure: %+v", cut)
	}
	t.Logf("killed after %d of %d conversations", cut.ConversationsDeleted, n)
	restarted := time.Now()
	s.Start()
	done := waitErasure(t, s, admin, e.ID, 60*time.Second)
	t.Logf("the restarted service finished the erasure %s after it started", time.Since(restarted).Round(time.Millisecond))
	if done.ConversationsDeleted != n {
		t.Errorf("deleted %d of %d conversations", done.ConversationsDeleted, n)
	}
	if found := tablesHolding(t, f, name, words, "Zhao"+tag); len(found) > 0 {
		t.Errorf("after erasure: %s", strings.Join(found, "; "))
	}
	// Done means gone from the index too: no wait for it here.
	if found := indexHolding(t, s, name, words); len(found) > 0 {
		t.Errorf("done, but the index still holds the person: %d places, e.g. %s", len(found), found[0])
	}
	if h := lookup(t, s, admin, map[string]any{"name": name}); h.Conversations != 0 {
		t.Errorf("a lookup still finds the person: %+v", h)
	}
}

// TestErasureWaitsForAnUnreachableIndex: the service is cut off from
// Elasticsearch once the person's conversations are indexed. An erasure
// deletes them from the database at once, but stays pending, well past
// the time it waits for the indexers' kept transcripts, while the index
// cannot remove them (their documents are still there). Once the service
// reaches Elasticsearch again the job is done, and at that moment neither
// the index nor a search finds the person.
func TestErasureWaitsForAnUnreachableIndex(t *testing.T) {
	gate := newESGate(t)
	env := esEnv(t, mysqlEnv(t))
	env["MGV_SEARCH_URLS"] = gate.URL()
	// The job's own wait for the kept transcripts is 1.5 s; the outage
	// below lasts far longer.
	env["MGV_SEARCH_RECENT_TTL"] = "1s"
	env["MGV_SEARCH_MAX_BACKOFF"] = "2s"
	s, f, admin, p, tag := startErasing(t, env)
	name, words := "Guest"+tag, "quarterlyplan"+tag
	const n = 3
	calls := customerCalls(t, p, f, name, "we discussed "+words, tag, n)
	waitSearch(t, s, admin, words, n, 30*time.Second)

	gate.close()
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasurePending || e.ConversationsTotal != n {
		t.Fatalf("erasure: %+v", e)
	}
	deadline := time.Now().Add(20 * time.Second)
	for erasureOf(t, s, admin, e.ID).ConversationsDeleted < n {
		if time.Now().After(deadline) {
			t.Fatal("the erasure did not delete the conversations with Elasticsearch unreachable")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range calls {
		wantNoRows(t, f, id)
	}
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if got := erasureOf(t, s, admin, e.ID); got.Status != model.ErasurePending || got.FinishedAt != nil {
			t.Fatalf("the erasure ended while the index could not remove the conversations: %+v", got)
		}
	}
	if found := indexHolding(t, s, words); len(found) != n {
		t.Fatalf("the index holds %d documents of the person during the outage, want %d: the wait would prove nothing", len(found), n)
	}
	if jobs := pendingSearchJobs(t, f); jobs < n {
		t.Fatalf("%d search jobs in the outbox during the outage, want the %d removals", jobs, n)
	}

	gate.open()
	back := time.Now()
	done := waitErasure(t, s, admin, e.ID, 60*time.Second)
	t.Logf("done %s after Elasticsearch was reachable again", time.Since(back).Round(time.Millisecond))
	if done.ConversationsDeleted != n || done.FinishedAt == nil {
		t.Errorf("erasure done: %+v", done)
	}
	if found := indexHolding(t, s, name, words); len(found) > 0 {
		t.Errorf("done, but the index still holds the person: %s", strings.Join(found, "; "))
	}
	var pg searchPage
	searchAs(t, s, admin, map[string]any{"query": words}).want(t, http.StatusOK, "").decode(t, &pg)
	if pg.Total != 0 {
		t.Errorf("done, but a search finds the person's words in %d conversations", pg.Total)
	}
}

// TestErasureDeletesWhatWasConfirmedOnMariaDBAndElasticsearch: an erasure
// over confirm_over waits for confirmation while more conversations with
// the person are ingested. Confirmed for the count it stated, it deletes
// exactly those conversations and leaves the later ones, which are not
// its own; a second request erases them.
func TestErasureDeletesWhatWasConfirmedOnMariaDBAndElasticsearch(t *testing.T) {
	env := esEnv(t, mysqlEnv(t))
	env["MGV_PRIVACY_CONFIRM_OVER"] = "3"
	env["MGV_PRIVACY_ERASURE_BATCH"] = "2"
	s, f, admin, p, tag := startErasing(t, env)
	name := "Guest" + tag
	first := customerCalls(t, p, f, name, "order "+tag, tag, 5)
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasureAwaitingConfirmation || e.ConversationsTotal != 5 || e.ConversationsUpTo == nil || *e.ConversationsUpTo != first[4] {
		t.Fatalf("erasure: %+v (up to %v), want awaiting confirmation of 5 up to %d", e, e.ConversationsUpTo, first[4])
	}

	later := customerCalls(t, p, f, name, "order "+tag, tag+"-later", 3)
	if h := lookup(t, s, admin, map[string]any{"name": name}); h.ExternalConversations != 8 {
		t.Fatalf("lookup after the later calls: %+v", h)
	}
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/privacy/erasures/%d/confirm", e.ID), admin, map[string]any{"count": 5}).want(t, http.StatusOK, "")
	if done := waitErasure(t, s, admin, e.ID, 60*time.Second); done.ConversationsDeleted != 5 || done.ConversationsTotal != 5 {
		t.Fatalf("erasure done: %+v, want 5 of 5 deleted", done)
	}
	for _, id := range first {
		wantNoRows(t, f, id)
	}
	for _, id := range later {
		if rows := conversationRows(t, f, id); rows["conversations"] != 1 || rows["participants"] == 0 || rows["transcript_parts"] == 0 {
			t.Errorf("conversation %d, ingested after the request, was touched: %v", id, rows)
		}
	}

	// A second request erases the later ones: 3, not over confirm_over.
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"name": name}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasurePending || e.ConversationsTotal != 3 || *e.ConversationsUpTo != later[2] {
		t.Fatalf("second erasure: %+v (up to %d), want pending, 3 up to %d", e, *e.ConversationsUpTo, later[2])
	}
	if done := waitErasure(t, s, admin, e.ID, 60*time.Second); done.ConversationsDeleted != 3 {
		t.Fatalf("second erasure done: %+v", done)
	}
	for _, id := range later {
		wantNoRows(t, f, id)
	}
	if h := lookup(t, s, admin, map[string]any{"name": name}); h.Conversations != 0 {
		t.Errorf("a lookup still finds the person: %+v", h)
	}
}

// TestErasureFindsEveryWayTheIdentifierWasWritten: partners name outside
// speakers by phone or email as their systems write them. A lookup and an
// erasure by phone find every spelling of the same number, by email every
// case of the same address, and nothing else: not another number, and not
// an address MariaDB's collation deems equal (accents).
func TestErasureFindsEveryWayTheIdentifierWasWritten(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	tag := fmt.Sprintf("%06d", rand.N(1_000_000))
	d := tag[:4]
	calls := func(names ...string) (ids []int64) {
		for i, name := range names {
			ids = append(ids, customerCalls(t, p, f, name, "hello", fmt.Sprintf("%s-%d-%d", tag, len(name), i), 1)...)
		}
		return ids
	}
	// A label with other words around the identifier is the person too.
	phoneCalls := calls("138 0013 "+d, "+86 138-0013-"+d, "1380013"+d, "+861380013"+d, "00861380013"+d, "张先生 138 0013 "+d+" 回访")
	address := "zhang.san." + tag + "@example.com"
	emailCalls := calls(" Zhang.San."+tag+"@Example.COM ", address, "Zhang San <"+address+">")
	others := calls("+861380014"+d, "zhang.sän."+tag+"@example.com", "订单 1380013"+d+"1", "Li <x"+address+">")
	// A call centre keys the caller by their number and names them only
	// "客户": the key is their label too.
	keyed := func(key string) int64 {
		id := p.create("pii-keyed-"+tag+"-"+key, f.Reps[0].ID, time.Date(2025, 5, 2, 2, 0, 0, 0, time.UTC), 60_000, func(r *openv1.CreateConversationRequest) {
			r.Participants[1].SpeakerKey, r.Participants[1].Name = key, "客户"
		})
		if _, err := p.put(id, []*openv1.Sentence{sentence(0, "rep", "hello"), sentence(1, key, "my number is the one you called")}, 10); err != nil {
			t.Fatal(err)
		}
		return id
	}
	phoneCalls = append(phoneCalls, keyed("+86 138 0013 "+d))
	others = append(others, keyed("+86 138 0014 "+d))

	if h := lookup(t, s, admin, map[string]any{"phone": "+8613800 13" + d}); h.ExternalConversations != int64(len(phoneCalls)) {
		t.Fatalf("lookup by phone found %d conversations, want the %d spellings'", h.ExternalConversations, len(phoneCalls))
	}
	if h := lookup(t, s, admin, map[string]any{"email": strings.ToUpper(address)}); h.ExternalConversations != int64(len(emailCalls)) {
		t.Fatalf("lookup by email found %d conversations, want %d", h.ExternalConversations, len(emailCalls))
	}
	for _, c := range []struct {
		subject map[string]any
		calls   []int64
	}{{map[string]any{"phone": "138-0013-" + d}, phoneCalls}, {map[string]any{"email": address}, emailCalls}} {
		var e controller.ErasureJSON
		authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, c.subject).want(t, http.StatusAccepted, "").decode(t, &e)
		if done := waitErasure(t, s, admin, e.ID, 30*time.Second); done.ConversationsDeleted != int64(len(c.calls)) {
			t.Fatalf("erasure of %v: %+v, want %d conversations deleted", c.subject, done, len(c.calls))
		}
		for _, id := range c.calls {
			wantNoRows(t, f, id)
		}
	}
	for _, id := range others {
		var n int64
		if err := f.DB.Model(&model.Conversation{}).Where("id = ?", id).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("conversation %d of someone else: %d rows, %v; want it kept", id, n, err)
		}
	}
}

// A user whose phone was stored before E.164 normalisation still signs in
// with it, so a lookup and an erasure by that number, however written,
// find them and the erasure clears it; and a user is found by their email
// byte for byte: MariaDB's collation would take an erasure of
// jose…@example.com for josé…@example.com and anonymise that other person.
func TestErasureFindsAUserByAPhoneStoredBeforeE164(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	tag := fmt.Sprintf("%04d", rand.N(10_000))
	legacy, other := f.Reps[3], f.Reps[2]
	phone := "1380013" + tag
	if err := f.DB.Model(&model.User{}).Where("id = ?", legacy.ID).Update("phone", phone).Error; err != nil {
		t.Fatal(err)
	}
	accented := "josé." + tag + "@example.com"
	if err := f.DB.Model(&model.User{}).Where("id = ?", other.ID).Update("email", accented).Error; err != nil {
		t.Fatal(err)
	}

	if h := lookup(t, s, admin, map[string]any{"phone": "+86 138 0013 " + tag}); h.User == nil || h.User.ID != legacy.ID {
		t.Fatalf("lookup by phone found user %+v, want user %d, whose phone is stored as %s", h.User, legacy.ID, phone)
	}
	if h := lookup(t, s, admin, map[string]any{"email": "jose." + tag + "@example.com"}); h.User != nil {
		t.Fatalf("lookup of jose.%s@example.com found user %d (%v), someone else", tag, h.User.ID, h.User.Email)
	}

	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"email": "jose." + tag + "@example.com"}).
		want(t, http.StatusAccepted, "").decode(t, &e)
	if e.InternalUser {
		t.Fatalf("erasure of jose.%s@example.com: %+v, would anonymise user %d", tag, e, other.ID)
	}
	waitErasure(t, s, admin, e.ID, 30*time.Second)
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": "138-0013-" + tag}).
		want(t, http.StatusAccepted, "").decode(t, &e)
	if !e.InternalUser {
		t.Fatalf("erasure by phone: %+v, want it to anonymise user %d", e, legacy.ID)
	}
	waitErasure(t, s, admin, e.ID, 30*time.Second)
	if left := tablesHolding(t, f, phone); len(left) > 0 {
		t.Fatalf("after the erasure: %v", left)
	}
	var kept model.User
	if err := f.DB.Where("id = ?", other.ID).Take(&kept).Error; err != nil || kept.Email == nil || *kept.Email != accented || kept.Status != model.UserActive {
		t.Fatalf("user %d, someone else: %+v, %v; want them untouched", other.ID, kept, err)
	}
}

// A lookup and an erasure take every origin id a user may have, 128
// characters of up to four bytes each, and find that user byte for byte
// on MariaDB; a subject holding a control character names no one and is
// refused, naming its field, rather than kept in the erasure.
func TestPrivacySubjectsAreOriginIDsInCharactersOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	org := openv1.NewOrgServiceClient(s.GRPC())
	ctx := authBearer(t.Context(), f.AppToken(t))
	origin := strings.Repeat("😀", 127) + "u"
	u, err := org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: origin, Name: "Wide Id", Email: "wide-id." + f.App.AppKey + "@test.mgv"})
	if err != nil || u.User.OriginUserId != origin {
		t.Fatalf("a user with a 128-character origin id: %v, %v", u, err)
	}
	if h := lookup(t, s, admin, map[string]any{"origin_user_id": origin}); h.User == nil || h.User.ID != u.User.Id {
		t.Fatalf("a lookup by the user's origin id found %+v, want user %d", h.User, u.User.Id)
	}
	for _, c := range []struct {
		field string
		value string
	}{
		{"origin_user_id", origin + "😀"},
		{"origin_user_id", "hr\x007"},
		{"email", "a\x1b[2J@example.com"},
		{"name", "Zhang\u009bSan"},
	} {
		for _, path := range []string{"/api/v1/privacy/lookups", "/api/v1/privacy/erasures"} {
			r := authCall(t, s, http.MethodPost, path, admin, map[string]any{c.field: c.value}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
			if r.Metadata["field"] != c.field {
				t.Errorf("%s %q: the error names %q, want %s", path, c.value, r.Metadata["field"], c.field)
			}
		}
	}
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"origin_user_id": origin}).
		want(t, http.StatusAccepted, "").decode(t, &e)
	if done := waitErasure(t, s, admin, e.ID, 30*time.Second); done.UsersAnonymised != 1 {
		t.Fatalf("the erasure by the origin id: %+v, want the user anonymised", done)
	}
}

// On the real binary, an erasure nobody confirms within
// privacy.confirm_within ends failed and keeps no identifier.
func TestErasureNotConfirmedInTimeEnds(t *testing.T) {
	s, f, admin, p, tag := startErasing(t, map[string]string{"MGV_PRIVACY_CONFIRM_WITHIN": "1m", "MGV_PRIVACY_CONFIRM_OVER": "1"})
	phone := "+861380014" + tag[:4]
	customerCalls(t, p, f, phone, "words "+tag, tag, 2)
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": phone}).want(t, http.StatusAccepted, "").decode(t, &e)
	if e.Status != model.ErasureAwaitingConfirmation {
		t.Fatalf("erasure: %+v", e)
	}
	if err := f.DB.Exec("UPDATE privacy_erasures SET updated_at = ? WHERE id = ?", time.Now().UTC().Add(-2*time.Minute), e.ID).Error; err != nil {
		t.Fatal(err)
	}
	var got controller.ErasureJSON
	polltest.Until(t, 20*time.Second, 100*time.Millisecond, "the end of the unconfirmed job", func() bool {
		got = erasureOf(t, s, admin, e.ID)
		return got.Status == model.ErasureFailed
	})
	if !strings.Contains(got.LastError, "not confirmed within 1m0s") || got.ConversationsDeleted != 0 {
		t.Fatalf("the ended job: %+v", got)
	}
	var subject string
	if err := f.DB.Raw("SELECT subject FROM privacy_erasures WHERE id = ?", e.ID).Scan(&subject).Error; err != nil || subject != "" {
		t.Fatalf("the ended job keeps its subject %q (%v)", subject, err)
	}
}

// A call centre's call ids often hold the caller's number, and partner
// events carry them. After an erasure by that number it is in no call id
// (of a conversation kept, where a rep read it out, whose id is redacted)
// and in no event: not the conversation.created of a call kept or of one
// deleted, not the conversation.deleted the erasure wrote, not the answer
// of GET /api/v1/events, from which webhooks deliver and redeliver.
func TestErasureLeavesTheNumberInNoCallIDAndNoEventOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	national := fmt.Sprintf("139%08d", rand.N(100_000_000))
	phone := "+86" + national
	kept := p.create("pbx-call-86"+national, f.Reps[0].ID, time.Now().Add(-time.Hour), 60_000, func(r *openv1.CreateConversationRequest) {
		r.Title = "callback to " + phone
	})
	if _, err := p.put(kept, []*openv1.Sentence{sentence(0, "rep", "I will call you on "+phone), sentence(1, "cust", "ok fine thanks")}, 10); err != nil {
		t.Fatal(err)
	}
	theirs := customerCalls(t, p, f, phone, "hello", "in-"+national, 2)
	var e controller.ErasureJSON
	authCall(t, s, http.MethodPost, "/api/v1/privacy/erasures", admin, map[string]any{"phone": phone}).want(t, http.StatusAccepted, "").decode(t, &e)
	if done := waitErasure(t, s, admin, e.ID, 60*time.Second); done.ConversationsDeleted != int64(len(theirs)) || done.ConversationsRedacted != 1 {
		t.Fatalf("erasure: %+v; want their %d calls deleted and the rep's one redacted", done, len(theirs))
	}
	if left := tablesHolding(t, f, national); len(left) > 0 {
		t.Fatalf("after the erasure the number is in %v", left)
	}
	var c model.Conversation
	if err := f.DB.First(&c, kept).Error; err != nil || c.OriginConversationID != "pbx-call-[erased]" || c.Title != "callback to [erased]" {
		t.Fatalf("the call kept: origin id %q, title %q (%v)", c.OriginConversationID, c.Title, err)
	}
	r := authCall(t, s, http.MethodGet, "/api/v1/events?cursor=0", admin, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(r.Data), national) || !strings.Contains(string(r.Data), "conversation.deleted") || !strings.Contains(string(r.Data), "pbx-call-[erased]") {
		t.Fatalf("GET /api/v1/events after the erasure: %s", r.Data)
	}
}
