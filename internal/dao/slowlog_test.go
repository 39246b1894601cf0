package dao

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"
)

func slowLogDB(t *testing.T) *gorm.DB {
	t.Helper()
	return openSQLite(t, filepath.Join(t.TempDir(), "mgvcore.db"), 2, "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT)")
}

// database.slow_query logs the statements that take at least its value,
// quoting them with their placeholders: the arguments (an email here) stay
// out of the log.
func TestSlowQueriesAreLoggedWithoutTheirArguments(t *testing.T) {
	db := slowLogDB(t)
	var out bytes.Buffer
	LogSlowQueries(db, time.Nanosecond, zerolog.New(&out))
	const email = "li.lei@example.test"
	if err := db.Exec("INSERT INTO people (email) VALUES (?)", email).Error; err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Table("people").Where("email = ?", email).Count(&n).Error; err != nil || n != 1 {
		t.Fatalf("count %d, %v", n, err)
	}
	logged := out.String()
	if strings.Count(logged, `"message":"slow query"`) != 2 {
		t.Fatalf("want two slow query lines, got:\n%s", logged)
	}
	for _, want := range []string{`"sql":"INSERT INTO people (email) VALUES (?)"`, `email = ?`, `"rows":1`, `"took_ms":`, `"slow_query_ms":`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %s:\n%s", want, logged)
		}
	}
	if strings.Contains(logged, email) {
		t.Errorf("the slow query log quotes an argument:\n%s", logged)
	}
}

func TestSlowQueryLogQuietUnderItsThresholdAndWhenOff(t *testing.T) {
	for _, threshold := range []time.Duration{time.Hour, 0} {
		db := slowLogDB(t)
		var out bytes.Buffer
		LogSlowQueries(db, threshold, zerolog.New(&out))
		if err := db.Exec("INSERT INTO people (email) VALUES (?)", "a@example.test").Error; err != nil {
			t.Fatal(err)
		}
		if out.Len() > 0 {
			t.Errorf("slow_query %s: logged %s", threshold, out.String())
		}
	}
}

// A database that slows down makes every statement slow: the log takes at
// most slowLinesPerSecond lines a second of them.
func TestSlowQueryLogIsBounded(t *testing.T) {
	db := slowLogDB(t)
	var out bytes.Buffer
	LogSlowQueries(db, time.Nanosecond, zerolog.New(&out))
	began := time.Now()
	for range 5 * slowLinesPerSecond {
		if err := db.Exec("INSERT INTO people (email) VALUES (?)", "a@example.test").Error; err != nil {
			t.Fatal(err)
		}
	}
	limit := slowLinesPerSecond * (1 + int(time.Since(began)/time.Second))
	if n := strings.Count(out.String(), `"message":"slow query"`); n == 0 || n > limit {
		t.Errorf("%d slow query lines, want 1..%d", n, limit)
	}
}
