package model

import (
	"testing"
	"time"
)

func TestTenantZoneNamesAZoneEveryEngineKnows(t *testing.T) {
	for name, want := range map[string]string{
		"Asia/Shanghai":           "Asia/Shanghai",
		"UTC":                     "UTC",
		"Etc/GMT-14":              "Etc/GMT-14",
		"posix/Asia/Shanghai":     "Asia/Shanghai",
		"right/Europe/Berlin":     "Europe/Berlin",
		"right/UTC":               "UTC",
		"":                        "UTC",
		"Local":                   "UTC",
		"Factory":                 "UTC",
		"posixrules":              "UTC",
		"localtime":               "UTC",
		"Mars/Olympus":            "UTC",
		"right/posix/UTC":         "UTC",
		"EST":                     "Etc/GMT+5",
		"MST":                     "Etc/GMT+7",
		"HST":                     "Etc/GMT+10",
		"ROC":                     "Asia/Taipei",
		"PRC":                     "PRC",
		"US/Eastern":              "US/Eastern",
		"Asia//Shanghai":          "UTC",
		"./Asia/Shanghai":         "UTC",
		"Asia/./Shanghai":         "UTC",
		"/usr/share/zoneinfo/UTC": "UTC",
	} {
		if got := TenantZone(name); got != want {
			t.Errorf("TenantZone(%q) = %q, want %q", name, got, want)
		}
	}
	if loc := TenantLocation("posix/Asia/Shanghai"); loc.String() != "Asia/Shanghai" {
		t.Errorf("TenantLocation(posix/Asia/Shanghai) = %s", loc)
	}
	if loc := TenantLocation("Factory"); loc != time.UTC {
		t.Errorf("TenantLocation(Factory) = %s", loc)
	}
}
