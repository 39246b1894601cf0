package access

import (
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

func TestCheckRange(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		from, to time.Time
		field    string
	}{
		{t0, t0.Add(time.Hour), ""},
		{t0, t0.Add(366 * 24 * time.Hour), ""},
		{time.Time{}, t0, "from"},
		{t0, time.Time{}, "to"},
		{t0, t0, "to"},
		{t0, t0.Add(-time.Hour), "to"},
		{t0, t0.Add(366*24*time.Hour + time.Millisecond), "to"},
	}
	for _, tc := range tests {
		err := CheckRange(tc.from, tc.to)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%v..%v: %v", tc.from, tc.to, err)
			}
			continue
		}
		if e := errs.From(err); e == nil || e.Metadata["field"] != tc.field {
			t.Errorf("%v..%v: want an error on %s, got %v", tc.from, tc.to, tc.field, err)
		}
	}
}

func TestCheckQueryTime(t *testing.T) {
	cases := []struct {
		t  time.Time
		ok bool
	}{
		{time.Time{}, true},
		{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), true},
		{time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), true},
		{time.UnixMilli(924724093046526), false}, // year 31273, found by schemathesis
		{time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	for _, tc := range cases {
		err := CheckQueryTime("from", tc.t)
		if (err == nil) != tc.ok {
			t.Errorf("CheckQueryTime(%v) = %v, want ok=%v", tc.t, err, tc.ok)
		}
		if err != nil && errs.From(err).Status != 400 {
			t.Errorf("CheckQueryTime(%v) status %d, want 400", tc.t, errs.From(err).Status)
		}
	}
}
