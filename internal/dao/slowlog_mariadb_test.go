package dao_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/dao"
)

// MariaDB quotes the value it refuses in its error message: a slow
// statement that fails is logged with the error's number, not the
// argument it quotes.
func TestSlowQueryErrorsQuoteNoArgumentOnMariaDB(t *testing.T) {
	db := twoPools(t)[0]
	if err := db.Exec("CREATE TABLE people (id INT PRIMARY KEY AUTO_INCREMENT, seen DATETIME, name VARCHAR(40) CHARACTER SET latin1)").Error; err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	dao.LogSlowQueries(db, time.Nanosecond, zerolog.New(&out))
	const email, name = "li.lei@example.test", "李雷"
	if err := db.Exec("INSERT INTO people (seen) VALUES (?)", email).Error; err == nil || !strings.Contains(err.Error(), email) {
		t.Fatalf("insert of an email as a time: %v, want the error to quote it", err)
	}
	if err := db.Exec("INSERT INTO people (name) VALUES (?)", name).Error; err == nil {
		t.Fatal("insert of Chinese into latin1: no error")
	}
	logged := out.String()
	for _, want := range []string{`"error":"mysql error 1292 (22007)"`, `"error":"mysql error 1366 (22007)"`, `"sql":"INSERT INTO people (seen) VALUES (?)"`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %s:\n%s", want, logged)
		}
	}
	for _, arg := range []string{email, `\\xE6\\x9D\\x8E`} {
		if strings.Contains(logged, arg) {
			t.Errorf("the slow query log quotes an argument (%s):\n%s", arg, logged)
		}
	}
}
