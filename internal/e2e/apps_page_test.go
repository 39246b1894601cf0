//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// The admins' app list is paged by page_size and page_token, and a
// tenant's apps are capped, on the real binary and MariaDB: 20 creates
// racing at the cap never pass it, disabled apps count, deleted ones do
// not, and paging walks every app exactly once, each page giving the
// tenant's apps as its total.
func TestAppsPagedAndCappedOnMariaDB(t *testing.T) {
	const limit = 12
	env := mysqlEnv(t)
	env["MGV_APPS_MAX_PER_TENANT"] = fmt.Sprint(limit)
	s := NewService(t, env)
	f := NewFixture(t, s)
	other := NewFixture(t, s)
	s.Start()
	admin := authLogin(t, s, *f.Admin.Email, f.Password).AccessToken
	stored := func() int64 {
		t.Helper()
		var n int64
		if err := f.DB.Model(&model.App{}).Where("tenant_id = ?", f.Tenant.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 20 creates at once from below the cap: exactly the free places are
	// taken, every other answer is 409 APP_QUOTA_EXCEEDED.
	race := func(round string) (created []int64, refused int) {
		t.Helper()
		before := stored()
		answers := raceCreates(t, s, admin, round, 20)
		for _, a := range answers {
			switch {
			case a.Status == http.StatusCreated:
				var app controller.AppSecretJSON
				a.decode(t, &app)
				created = append(created, app.ID)
			case a.Status == http.StatusConflict && a.Reason == "APP_QUOTA_EXCEEDED" && a.Metadata["max_apps"] == fmt.Sprint(limit):
				refused++
			default:
				t.Fatalf("%s: a racing create answered %d %s (%s)", round, a.Status, a.Reason, a.Msg)
			}
		}
		if n := stored(); n != limit || int64(len(created)) != limit-before {
			t.Fatalf("%s: from %d apps, %d created and %d refused: the tenant has %d, cap %d", round, before, len(created), refused, n, limit)
		}
		t.Logf("%s: from %d apps, %d created, %d refused", round, before, len(created), refused)
		return created, refused
	}
	first, _ := race("from one app")

	// Disabled apps count; deleted ones free their place.
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", first[0]), admin, nil).want(t, http.StatusOK, "")
	r := authCall(t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "One more", "scopes": []string{"read"}}).
		want(t, http.StatusConflict, "APP_QUOTA_EXCEEDED")
	if r.Code != 40941 {
		t.Fatalf("quota code %d", r.Code)
	}
	for _, id := range first[:3] {
		authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/apps/%d", id), admin, nil).want(t, http.StatusOK, "")
	}
	race("after three deletes")
	// The other tenant's cap is its own.
	authCall(t, s, http.MethodPost, "/api/v1/apps", other.Token(t, other.Admin), map[string]any{"name": "Mine", "scopes": []string{"read"}}).
		want(t, http.StatusCreated, "")

	// Paging walks the tenant's apps by id, each once, while an app behind
	// the cursor is deleted and one is created ahead of it.
	var want []int64
	if err := f.DB.Model(&model.App{}).Where("tenant_id = ?", f.Tenant.ID).Order("id").Pluck("id", &want).Error; err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var walked []int64
	token, pages := "", 0
	for {
		q := url.Values{"page_size": {"5"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var page controller.AppListJSON
		authCall(t, s, http.MethodGet, "/api/v1/apps?"+q.Encode(), admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		pages++
		if len(page.Apps) > 5 {
			t.Fatalf("page %d has %d apps", pages, len(page.Apps))
		}
		// The tenant is at the cap; a delete and a create between pages
		// leave it there.
		if page.Total != limit {
			t.Fatalf("page %d: total %d, want %d", pages, page.Total, limit)
		}
		for _, a := range page.Apps {
			if seen[a.ID] {
				t.Fatalf("app %d shown twice", a.ID)
			}
			seen[a.ID] = true
			walked = append(walked, a.ID)
		}
		if pages == 1 {
			authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/apps/%d", page.Apps[0].ID), admin, nil).want(t, http.StatusOK, "")
			var late controller.AppSecretJSON
			authCall(t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "Late", "scopes": []string{"read"}}).
				want(t, http.StatusCreated, "").decode(t, &late)
			want = append(want, late.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(walked) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("walked %v in %d pages, want %v", walked, pages, want)
	}
	// The default page holds them all (fewer than 20); another tenant's
	// admin with this tenant's token sees only its own.
	var all controller.AppListJSON
	authCall(t, s, http.MethodGet, "/api/v1/apps", admin, nil).want(t, http.StatusOK, "").decode(t, &all)
	if len(all.Apps) != limit || all.NextPageToken != "" || all.Total != limit {
		t.Fatalf("default page: %d apps, total %d, token %q", len(all.Apps), all.Total, all.NextPageToken)
	}
	var theirs controller.AppListJSON
	authCall(t, s, http.MethodGet, "/api/v1/apps?page_size=1&page_token="+url.QueryEscape(token), other.Token(t, other.Admin), nil).
		want(t, http.StatusOK, "").decode(t, &theirs)
	for _, a := range theirs.Apps {
		if seen[a.ID] {
			t.Fatalf("the other tenant lists app %d", a.ID)
		}
	}
	// Its fixture's app and "Mine".
	if theirs.Total != 2 {
		t.Fatalf("the other tenant's total %d, want 2", theirs.Total)
	}
	// After a delete the total drops on every page size.
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/apps/%d", walked[len(walked)-1]), admin, nil).want(t, http.StatusOK, "")
	for _, size := range []string{"1", "5", "100"} {
		var page controller.AppListJSON
		authCall(t, s, http.MethodGet, "/api/v1/apps?page_size="+size, admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		if page.Total != limit-1 {
			t.Fatalf("page_size %s after a delete: total %d, want %d", size, page.Total, limit-1)
		}
	}

	// Bad page parameters answer 400 naming the field.
	for query, field := range map[string]string{
		"page_size=abc": "page_size", "page_size=-1": "page_size", "page_size=101": "page_size",
		"page_size=99999999999999999999": "page_size", "page_token=%25%25": "page_token", "page_token=e30x": "page_token",
		"page_token=" + url.QueryEscape("eyJhIjoiMSJ9"): "page_token",
	} {
		r := authCall(t, s, http.MethodGet, "/api/v1/apps?"+query, admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != field {
			t.Fatalf("%s: field %q (%s), want %q", query, r.Metadata["field"], r.Msg, field)
		}
	}
}

// raceCreates sends n app creates at once, released together, and returns
// their answers.
func raceCreates(t *testing.T, s *Service, token, round string, n int) []authResult {
	t.Helper()
	start := make(chan struct{})
	answers := make([]authResult, n)
	fails := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("%s %d", round, i), "scopes": []string{"read"}})
			req, err := http.NewRequest(http.MethodPost, s.URL("/api/v1/apps"), bytes.NewReader(body))
			if err != nil {
				fails[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fails[i] = err
				return
			}
			defer func() { _ = resp.Body.Close() }()
			answers[i].Status = resp.StatusCode
			fails[i] = json.NewDecoder(resp.Body).Decode(&answers[i])
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range fails {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	return answers
}
