//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// A tenant's trackers are capped by trackers.max_per_tenant on two
// instances sharing MariaDB: creates racing on both for the last places
// never pass the cap, the refusal is 409 TRACKER_QUOTA_EXCEEDED naming it,
// a delete frees a place, and another tenant's cap is its own.
func TestTrackerQuotaAcrossTwoInstancesOnMariaDB(t *testing.T) {
	const limit = 6
	env := mysqlEnv(t)
	env["MGV_TRACKERS_MAX_PER_TENANT"] = fmt.Sprint(limit)
	one, two := NewService(t, env), NewService(t, env)
	f, other := NewFixture(t, one), NewFixture(t, one)
	for _, s := range []*Service{one, two} {
		s.Start()
	}
	admin := f.Token(t, f.Admin)
	body := func(name string) map[string]any { return map[string]any{"name": name, "keywords": []string{"price"}} }
	live := func() int64 {
		t.Helper()
		var n int64
		if err := f.DB.Model(&model.Tracker{}).Where("tenant_id = ? AND deleted_at IS NULL", f.Tenant.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	var first int64
	for i := range limit - 3 {
		var tr struct{ ID int64 }
		authCall(t, one, http.MethodPost, "/api/v1/trackers", admin, body(fmt.Sprint("t", i))).want(t, http.StatusCreated, "").decode(t, &tr)
		if i == 0 {
			first = tr.ID
		}
	}

	// 16 creates at once, half on each instance, for the last 3 places.
	answers := make([]authResult, 16)
	fails := make([]error, len(answers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i], fails[i] = tryCall([]*Service{one, two}[i%2], http.MethodPost, "/api/v1/trackers", admin, body(fmt.Sprint("race ", i)))
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, a := range answers {
		switch {
		case fails[i] != nil:
			t.Fatal(fails[i])
		case a.Status == http.StatusCreated:
			created++
		case a.Status == http.StatusConflict && a.Reason == "TRACKER_QUOTA_EXCEEDED" && a.Code == 40943 && a.Metadata["max_trackers"] == fmt.Sprint(limit):
		default:
			t.Fatalf("a racing create answered %d %s (%s)", a.Status, a.Reason, a.Msg)
		}
	}
	if n := live(); created != 3 || n != limit {
		t.Fatalf("%d racing creates won, the tenant has %d trackers; want 3 and %d", created, n, limit)
	}

	// A delete frees a place; another tenant has places of its own.
	authCall(t, two, http.MethodPost, "/api/v1/trackers", admin, body("over")).want(t, http.StatusConflict, "TRACKER_QUOTA_EXCEEDED")
	authCall(t, two, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", first), admin, nil).want(t, http.StatusOK, "")
	authCall(t, one, http.MethodPost, "/api/v1/trackers", admin, body("after delete")).want(t, http.StatusCreated, "")
	authCall(t, one, http.MethodPost, "/api/v1/trackers", other.Token(t, other.Admin), body("mine")).want(t, http.StatusCreated, "")
}

// One tenant's burst of tracker changes does not hold up another's: on
// the real binary and MariaDB, a tracker the second tenant creates after
// the first tenant queued 60 is applied while most of those still wait.
func TestTrackerJobsFairAcrossTenantsOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	busy, quiet := NewFixture(t, s), NewFixture(t, s)
	s.Start()
	busyAdmin, quietAdmin := busy.Token(t, busy.Admin), quiet.Token(t, quiet.Admin)
	pending := func(tenant int64) int64 {
		t.Helper()
		var n int64
		if err := busy.DB.Model(&model.OutboxJob{}).Where("kind = ? AND tenant_id = ?", model.OutboxTrackerApply, tenant).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	const burst = 60
	for i := range burst {
		authCall(t, s, http.MethodPost, "/api/v1/trackers", busyAdmin, map[string]any{"name": fmt.Sprint("burst ", i), "keywords": []string{"price"}}).
			want(t, http.StatusCreated, "")
	}
	var tr struct{ ID int64 }
	authCall(t, s, http.MethodPost, "/api/v1/trackers", quietAdmin, map[string]any{"name": "mine", "keywords": []string{"budget"}}).
		want(t, http.StatusCreated, "").decode(t, &tr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := listTrackers(t, s, quietAdmin)
		if len(list) != 1 || list[0].ID != tr.ID {
			t.Fatalf("the quiet tenant's trackers: %+v", list)
		}
		if !list[0].Applying {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quiet tenant's tracker still applying; the busy tenant has %d jobs pending", pending(busy.Tenant.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Jobs run one paced batch each (10 a second), so most of the burst
	// still waits: the quiet tenant's job went ahead of them.
	n := pending(busy.Tenant.ID)
	t.Logf("the busy tenant had %d of %d jobs pending when the quiet one's was done", n, burst)
	if n < burst/4 {
		t.Fatalf("the quiet tenant's tracker was applied after all but %d of the busy tenant's %d jobs", n, burst)
	}
}

// GET /api/v1/trackers and TrackerService.ListTrackers page by id with
// page_size and page_token on the real binary and MariaDB; without either
// they answer every tracker at once, past the default page of 20, as
// before the list was paged. Every page, and the whole list, gives the
// tenant's live trackers as its total.
func TestTrackersPagedOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	var ids []int64
	for i := range 25 {
		var tr struct{ ID int64 }
		authCall(t, s, http.MethodPost, "/api/v1/trackers", admin, map[string]any{"name": fmt.Sprint("t", i), "keywords": []string{"price"}}).
			want(t, http.StatusCreated, "").decode(t, &tr)
		ids = append(ids, tr.ID)
	}
	if all := listTrackers(t, s, admin); len(all) != len(ids) || all[0].ID != ids[0] || all[24].ID != ids[24] {
		t.Fatalf("the whole list has %d trackers, want %d", len(all), len(ids))
	}

	// HTTP: pages of 10 walk every tracker once, in id order.
	var walked []int64
	token := ""
	for range 5 {
		var page controller.TrackerListJSON
		authCall(t, s, http.MethodGet, "/api/v1/trackers?page_size=10&page_token="+url.QueryEscape(token), admin, nil).
			want(t, http.StatusOK, "").decode(t, &page)
		if len(page.Trackers) > 10 {
			t.Fatalf("a page of %d", len(page.Trackers))
		}
		if page.Total != int64(len(ids)) {
			t.Fatalf("HTTP page total %d, want %d", page.Total, len(ids))
		}
		for _, tr := range page.Trackers {
			walked = append(walked, tr.ID)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if !slices.Equal(walked, ids) || token != "" {
		t.Fatalf("HTTP pages walked %v, want %v", walked, ids)
	}
	for q, field := range map[string]string{"page_size=0&page_token=x": "page_token", "page_size=101": "page_size", "page_size=ten": "page_size"} {
		r := authCall(t, s, http.MethodGet, "/api/v1/trackers?"+q, admin, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != field {
			t.Errorf("%s: the error names %q, want %s", q, r.Metadata["field"], field)
		}
	}

	// gRPC: the same pages.
	client := openv1.NewTrackerServiceClient(s.GRPC())
	ctx := authBearer(t.Context(), f.AppToken(t))
	whole, err := client.ListTrackers(ctx, &openv1.ListTrackersRequest{})
	if err != nil || len(whole.Trackers) != len(ids) || whole.NextPageToken != "" || whole.Total != int64(len(ids)) {
		t.Fatalf("gRPC whole list: %d trackers, total %d, %v", len(whole.GetTrackers()), whole.GetTotal(), err)
	}
	walked = walked[:0]
	req := &openv1.ListTrackersRequest{PageSize: 7}
	for range 5 {
		page, err := client.ListTrackers(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != int64(len(ids)) {
			t.Fatalf("gRPC page total %d, want %d", page.Total, len(ids))
		}
		for _, tr := range page.Trackers {
			walked = append(walked, tr.Id)
		}
		if req.PageToken = page.NextPageToken; req.PageToken == "" {
			break
		}
	}
	if !slices.Equal(walked, ids) || req.PageToken != "" {
		t.Fatalf("gRPC pages walked %v, want %v", walked, ids)
	}
	if _, err := client.ListTrackers(ctx, &openv1.ListTrackersRequest{PageSize: 101}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("page_size 101 over gRPC: %v", err)
	}

	// A deleted tracker leaves the total; another tenant counts its own.
	authCall(t, s, http.MethodDelete, fmt.Sprintf("/api/v1/trackers/%d", ids[3]), admin, nil).want(t, http.StatusOK, "")
	for _, q := range []string{"", "?page_size=1", "?page_size=100"} {
		var page controller.TrackerListJSON
		authCall(t, s, http.MethodGet, "/api/v1/trackers"+q, admin, nil).want(t, http.StatusOK, "").decode(t, &page)
		if page.Total != int64(len(ids)-1) {
			t.Errorf("HTTP %q after a delete: total %d, want %d", q, page.Total, len(ids)-1)
		}
	}
	if page, err := client.ListTrackers(ctx, &openv1.ListTrackersRequest{PageSize: 3}); err != nil || page.Total != int64(len(ids)-1) {
		t.Errorf("gRPC after a delete: total %d, %v; want %d", page.GetTotal(), err, len(ids)-1)
	}
	other := NewFixture(t, s)
	var theirs controller.TrackerListJSON
	authCall(t, s, http.MethodGet, "/api/v1/trackers?page_size=5", other.Token(t, other.Admin), nil).want(t, http.StatusOK, "").decode(t, &theirs)
	if theirs.Total != 0 || len(theirs.Trackers) != 0 {
		t.Errorf("another tenant: %d trackers, total %d", len(theirs.Trackers), theirs.Total)
	}
	if page, err := client.ListTrackers(authBearer(t.Context(), other.AppToken(t)), &openv1.ListTrackersRequest{}); err != nil || page.Total != 0 {
		t.Errorf("another tenant over gRPC: total %d, %v", page.GetTotal(), err)
	}
}
