//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// Tracker hits by day fall on the tenant's local days on either side of a
// midnight a quarter hour off UTC (Kathmandu, +05:45), of New York's
// midnights either side of its spring transition, and on UTC days for a
// zone name the service does not know; over HTTP and gRPC, on both stores.
func TestTrackerStatsByDayInTenantZone(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testTrackerStatsByDay(t, nil) })
	t.Run("mariadb", func(t *testing.T) { testTrackerStatsByDay(t, mysqlEnv(t)) })
}

func testTrackerStatsByDay(t *testing.T, env map[string]string) {
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	calls := []struct {
		begin string
		hits  int
	}{
		{"2026-03-01T18:14:59.999Z", 1}, // Kathmandu 03-01 23:59:59.999; New York 03-01
		{"2026-03-01T18:15:00Z", 2},     // Kathmandu 03-02 00:00
		{"2026-03-01T18:29:59.999Z", 1}, // the same quarter hour of UTC
		{"2026-03-09T03:59:59.999Z", 1}, // New York 03-08 23:59:59.999 EDT
		{"2026-03-09T04:00:00Z", 3},     // New York 03-09 00:00 EDT
	}
	for i, c := range calls {
		begin, err := time.Parse(time.RFC3339Nano, c.begin)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for range c.hits {
			lines = append(lines, "rep", "the price")
		}
		id := p.create(fmt.Sprintf("days-%d", i), f.Reps[0].ID, begin, 60_000, nil)
		if _, err := p.put(id, said(lines...), 10); err != nil {
			t.Fatal(err)
		}
	}
	admin := f.Token(t, f.Admin)
	tr := pricingTracker(t, s, admin)

	from, to := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	trackers := openv1.NewTrackerServiceClient(s.GRPC())
	appCtx := authBearer(t.Context(), f.AppToken(t))
	for _, c := range []struct {
		zone string
		want []string
	}{
		{"Asia/Kathmandu", []string{"2026-03-01 1/1", "2026-03-02 3/2", "2026-03-09 4/2"}},
		{"America/New_York", []string{"2026-03-01 4/3", "2026-03-08 1/1", "2026-03-09 3/1"}},
		{"Not/AZone", []string{"2026-03-01 4/3", "2026-03-09 4/2"}},
	} {
		if err := f.DB.Model(&model.Tenant{}).Where("id = ?", f.Tenant.ID).Update("timezone", c.zone).Error; err != nil {
			t.Fatal(err)
		}
		q := url.Values{"group_by": {"day"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
		var st controller.TrackerStatsJSON
		apiGet(t, s, fmt.Sprintf("/api/v1/trackers/%d/stats?%s", tr.ID, q.Encode()), admin).want(t, http.StatusOK, "").decode(t, &st)
		got := []string{}
		for _, b := range st.Buckets {
			got = append(got, fmt.Sprintf("%s %d/%d", b.Key, b.Hits, b.Conversations))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s over HTTP: got %q, want %q", c.zone, got, c.want)
		}
		res, err := trackers.GetTrackerStats(appCtx, &openv1.GetTrackerStatsRequest{TrackerId: tr.ID,
			GroupBy: openv1.TrackerStatsGroupBy_TRACKER_STATS_GROUP_BY_DAY, StartTime: timestamppb.New(from), EndTime: timestamppb.New(to)})
		if err != nil {
			t.Fatal(err)
		}
		got = []string{}
		for _, b := range res.Buckets {
			got = append(got, fmt.Sprintf("%s %d/%d", b.Key, b.Hits, b.Conversations))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s over gRPC: got %q, want %q", c.zone, got, c.want)
		}
	}
}
