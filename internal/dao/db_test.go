package dao

import (
	"strings"
	"testing"
)

func TestMySQLDSNInterpolatesUnlessToldAndCountsMatchedRows(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool // interpolateParams=true in the result
		same     bool // returned unchanged
	}{
		{"plain", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?charset=utf8mb4&parseTime=true&loc=UTC", true, false},
		{"explicitly off", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?interpolateParams=false", false, false},
		{"explicitly on", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?interpolateParams=true", true, false},
		{"unsafe collation", "mgv:mgv@tcp(127.0.0.1:3306)/mgv?collation=gbk_chinese_ci", false, false},
		{"does not parse", "mgv:mgv@tcp(127.0.0.1:3306", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mysqlDSN(tc.in)
			if on := strings.Contains(got, "interpolateParams=true"); on != tc.want {
				t.Errorf("mysqlDSN(%q) = %q: interpolation %v, want %v", tc.in, got, on, tc.want)
			}
			if (got == tc.in) != tc.same {
				t.Errorf("mysqlDSN(%q) = %q: unchanged %v, want %v", tc.in, got, got == tc.in, tc.same)
			}
			if !tc.same && (!strings.Contains(got, "clientFoundRows=true") || strings.Contains(tc.in, "parseTime") && !strings.Contains(got, "parseTime=true")) {
				t.Errorf("mysqlDSN(%q) = %q: want clientFoundRows=true and every parameter kept", tc.in, got)
			}
		})
	}
}
