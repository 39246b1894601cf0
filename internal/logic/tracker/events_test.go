package tracker

import (
	"context"
	"fmt"
	"testing"

	"github.com/megaview/mgvcore/internal/logic/events"
	"github.com/megaview/mgvcore/internal/model"
)

type appended struct{ evs []events.Event }

func (a *appended) Append(_ context.Context, evs ...events.Event) error {
	a.evs = append(a.evs, evs...)
	return nil
}

func (a *appended) String() string {
	out := ""
	for _, e := range a.evs {
		out += fmt.Sprintf("%v/%v=%v ", e.Data["conversation_id"], e.Data["tracker_id"], e.Data["hit_count"])
	}
	return out
}

// Re-application reports each conversation whose count of the tracker
// moved, 0 when its hits are gone, and nothing for unchanged counts.
func TestAppendMatchedReportsChangedCounts(t *testing.T) {
	for _, c := range []struct {
		before, after map[int64]int
		want          string
	}{
		{nil, nil, ""},
		{map[int64]int{1: 2, 2: 1}, map[int64]int{1: 2, 2: 1}, ""},
		{map[int64]int{1: 2}, map[int64]int{1: 3, 5: 1}, "1/9=3 5/9=1 "},
		{map[int64]int{4: 2, 3: 1}, map[int64]int{}, "3/9=0 4/9=0 "},
		{nil, map[int64]int{7: 1, 6: 4}, "6/9=4 7/9=1 "},
	} {
		a := &appended{}
		if err := AppendMatched(a)(context.Background(), 1, 9, c.before, c.after); err != nil {
			t.Fatal(err)
		}
		if got := a.String(); got != c.want {
			t.Errorf("%v → %v: %q, want %q", c.before, c.after, got, c.want)
		}
	}
}

// A new transcript reports each tracker that hits it, by tracker id.
func TestTranscriptMatchedCountsPerTracker(t *testing.T) {
	hits := []model.TrackerHit{{TrackerID: 8}, {TrackerID: 3}, {TrackerID: 8}}
	a := &appended{evs: transcriptMatched(1, 42, hits)}
	if got, want := a.String(), "42/3=1 42/8=2 "; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if evs := transcriptMatched(1, 42, nil); len(evs) != 0 {
		t.Errorf("no hits: %v", evs)
	}
}
