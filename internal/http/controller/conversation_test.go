package controller

import (
	"net/url"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

func TestConversationFilterFromQuery(t *testing.T) {
	q, _ := url.ParseQuery("from=2026-03-01T08:00:00%2B08:00&to=1772409600000&owner_id=3&owner_id=4,5&department_id=6" +
		"&deal_id=7&direction=inbound&min_duration_ms=0&tracker_id=9&unknown=ignored")
	f, err := ConversationFilterFromQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if !f.From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !f.To.Equal(time.UnixMilli(1772409600000)) ||
		len(f.OwnerIDs) != 3 || f.OwnerIDs[2] != 5 || f.DepartmentID != 6 || f.DealID != 7 || f.Direction != "inbound" ||
		f.MinDurationMS == nil || *f.MinDurationMS != 0 || f.MaxDurationMS != nil || f.TrackerID != 9 {
		t.Fatalf("parsed %+v", f)
	}
	for raw, field := range map[string]string{
		"from=yesterday":      "from",
		"to=2026-03-01":       "to",
		"owner_id=1,,2":       "owner_id",
		"department_id=1e3":   "department_id",
		"deal_id=-":           "deal_id",
		"min_duration_ms=1.5": "min_duration_ms",
		"max_duration_ms=x":   "max_duration_ms",
		"tracker_id=%20":      "tracker_id",
	} {
		q, _ := url.ParseQuery(raw)
		if _, err := ConversationFilterFromQuery(q); err == nil || errs.From(err).Metadata["field"] != field {
			t.Errorf("%s: %v, want an error naming %s", raw, err, field)
		}
	}
}
