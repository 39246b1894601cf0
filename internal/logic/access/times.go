package access

import (
	"time"

	"github.com/megaview/mgvcore/internal/errs"
)

// maxRangeDays bounds the time range of a statistic.
const maxRangeDays = 366

// Query times must fit the database's DATETIME (years 1000 to 9999); a
// year past that would otherwise reach the driver and fail as an outage.
const (
	minQueryYear = 1000
	maxQueryYear = 9999
)

// CheckQueryTime refuses a time filter outside what the database can
// compare; the zero time means absent and passes.
func CheckQueryTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < minQueryYear || y > maxQueryYear {
		return errs.InvalidArgument(field, "must be a time between the years %d and %d (got year %d)", minQueryYear, maxQueryYear, y)
	}
	return nil
}

// CheckGivenTime refuses a time a caller sent that is outside what the
// database can compare, the zero time included: a transport that reads
// year 1 (0001-01-01T00:00:00Z, -62135596800000 ms) into the zero time
// would otherwise take it for a time left out.
func CheckGivenTime(field string, t time.Time) error {
	if t.IsZero() {
		return errs.InvalidArgument(field, "must be a time between the years %d and %d (got year 1)", minQueryYear, maxQueryYear)
	}
	return CheckQueryTime(field, t)
}

// CheckRange validates the [from, to) range of a statistic, named by the
// fields "from" and "to".
func CheckRange(from, to time.Time) error {
	const fromField, toField = "from", "to"
	if err := CheckQueryTime(fromField, from); err != nil {
		return err
	}
	if err := CheckQueryTime(toField, to); err != nil {
		return err
	}
	switch {
	case from.IsZero():
		return errs.InvalidArgument(fromField, "is required")
	case to.IsZero():
		return errs.InvalidArgument(toField, "is required")
	case !to.After(from):
		return errs.InvalidArgument(toField, "must be later than the start of the range")
	case to.Sub(from) > maxRangeDays*24*time.Hour:
		return errs.InvalidArgument(toField, "must be at most %d days after the start of the range", maxRangeDays)
	}
	return nil
}
