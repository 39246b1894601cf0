package conversation

import (
	"slices"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

func TestNormalizeConversationFilter(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := func(v int64) *int64 { return &v }
	many := make([]int64, 101)
	for i := range many {
		many[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name  string
		f     model.ConversationFilter
		field string
	}{
		{"empty", model.ConversationFilter{}, ""},
		{"everything", model.ConversationFilter{From: t0, To: t0.Add(time.Hour), OwnerIDs: []int64{3, 1}, DepartmentID: 2, DealID: 3,
			Direction: model.DirectionInbound, MinDurationMS: n(0), MaxDurationMS: n(0), TrackerID: 4}, ""},
		{"to equals from", model.ConversationFilter{From: t0, To: t0}, "to"},
		{"to before from", model.ConversationFilter{From: t0, To: t0.Add(-time.Millisecond)}, "to"},
		{"owner 0", model.ConversationFilter{OwnerIDs: []int64{0}}, "owner_ids"},
		{"101 owners", model.ConversationFilter{OwnerIDs: many}, "owner_ids"},
		{"negative department", model.ConversationFilter{DepartmentID: -1}, "department_id"},
		{"negative deal", model.ConversationFilter{DealID: -2}, "deal_id"},
		{"negative tracker", model.ConversationFilter{TrackerID: -3}, "tracker_id"},
		{"bad direction", model.ConversationFilter{Direction: "INBOUND"}, "direction"},
		{"negative min", model.ConversationFilter{MinDurationMS: n(-1)}, "min_duration_ms"},
		{"negative max", model.ConversationFilter{MaxDurationMS: n(-1)}, "max_duration_ms"},
		{"max below min", model.ConversationFilter{MinDurationMS: n(10), MaxDurationMS: n(9)}, "max_duration_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeFilter(tc.f)
			if tc.field == "" && err != nil {
				t.Fatal(err)
			}
			if tc.field != "" && (err == nil || errs.From(err).Metadata["field"] != tc.field || errs.ReasonOf(err) != errs.ReasonInvalidArgument) {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %s", err, tc.field)
			}
		})
	}
	f, _ := NormalizeFilter(model.ConversationFilter{OwnerIDs: []int64{5, 2, 5}, From: t0.Add(1500 * time.Microsecond)})
	if !slices.Equal(f.OwnerIDs, []int64{2, 5}) || !f.From.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("normalized: %+v", f)
	}
	// Equal filters share page tokens; different ones do not.
	g, _ := NormalizeFilter(model.ConversationFilter{OwnerIDs: []int64{2, 5}, From: t0.Add(time.Millisecond)})
	h, _ := NormalizeFilter(model.ConversationFilter{OwnerIDs: []int64{2}, From: t0.Add(time.Millisecond)})
	if filterFingerprint(f) != filterFingerprint(g) || filterFingerprint(f) == filterFingerprint(h) {
		t.Fatal("fingerprints")
	}
}
