package elastic

import (
	"testing"
	"time"
)

// Elasticsearch refuses Go's duration strings ("1m0s", "1.5s"): the
// interval goes out in milliseconds, and a bulk load turns refreshes off.
func TestIndexBodyRefreshInterval(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		bulkLoad bool
		want     string
	}{
		{time.Second, false, "1000ms"},
		{time.Minute, false, "60000ms"},
		{1500 * time.Millisecond, false, "1500ms"},
		{time.Minute, true, "-1"},
	} {
		body := indexBody(Options{Shards: 1, RefreshInterval: c.interval}, ProfileStandard, c.bulkLoad)
		got := body["settings"].(map[string]any)["refresh_interval"]
		if got != c.want {
			t.Errorf("refresh_interval %s (bulk load %v) = %v, want %s", c.interval, c.bulkLoad, got, c.want)
		}
	}
}
