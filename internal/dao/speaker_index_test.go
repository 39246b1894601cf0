package dao_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// A person's outside speakers are those named, or keyed, one of their
// labels. The condition is an OR of the two columns: each needs its own
// key, or every read of it (a lookup, each batch an erasure deletes, each
// count it makes) scans every participant of the tenant.
func TestAPersonsOutsideSpeakersAreReadByKeyNotByScan(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		// 30,000 speakers of three tenants, 5,000 names and keys each.
		// (MariaDB stops a recursion at 1,000 rows: 150 × 200 of them.)
		i := "(x.i * 200 + y.i)"
		label := "'p' || " + i + " % 5000"
		if db.Name() == "mysql" {
			label = "CONCAT('p', " + i + " % 5000)"
		}
		if err := db.Exec("INSERT INTO participants (tenant_id, conversation_id, speaker_key, name, affiliation) " +
			"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199) " +
			"SELECT 1 + " + i + " % 3, 1 + " + i + ", " + label + ", " + label + ", 'external' FROM n AS x, n AS y WHERE x.i < 150").Error; err != nil {
			t.Fatal(err)
		}
		analyze, explain, column := "ANALYZE", "EXPLAIN QUERY PLAN ", "detail"
		if db.Name() == "mysql" {
			analyze, explain, column = "ANALYZE TABLE participants", "EXPLAIN ", "key"
		}
		if err := db.Exec(analyze).Error; err != nil {
			t.Fatal(err)
		}
		q, args := dao.NewPrivacy(db).ExternalMatch(1, []string{"p42", "138 0013 8000"}, int64(math.MaxInt64))
		for _, stmt := range []string{
			"SELECT COUNT(DISTINCT conversation_id) FROM participants WHERE " + q,
			"SELECT DISTINCT conversation_id FROM participants WHERE " + q + " ORDER BY conversation_id LIMIT 100",
		} {
			var plan []map[string]any
			if err := db.Raw(explain+stmt, args...).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, row := range plan {
				if v := row[column]; v != nil {
					keys = append(keys, fmt.Sprintf("%s", v))
				}
			}
			read := strings.Join(keys, "; ")
			if !strings.Contains(read, "idx_participants_name") || !strings.Contains(read, "idx_participants_speaker_key") {
				t.Errorf("%s\nreads %q; want both idx_participants_name and idx_participants_speaker_key", stmt, read)
			}
		}
	})
}
