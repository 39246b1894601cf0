package model

import (
	"path"
	"strings"
	"time"
)

// TenantZone is the name of the zone a tenant's days are counted in, as
// every engine and the statistics name it: name itself when it is an IANA
// zone name as written in the zone database; the zone of the same name for
// a copy of the database's posix/ or right/ trees (which Go loads from the
// system and Elasticsearch does not know); the zone Java names for the
// few the database keeps that Java leaves out (javaless); and "UTC" for
// "", "Local", the database's own files (Factory, posixrules, localtime),
// a path that is not clean (Asia//Shanghai, ./UTC) or a name that loads
// nowhere.
func TenantZone(name string) string {
	for {
		trimmed := strings.TrimPrefix(strings.TrimPrefix(name, "posix/"), "right/")
		if trimmed == name {
			break
		}
		name = trimmed
	}
	if java, ok := javaless[name]; ok {
		return java
	}
	switch name {
	case "", "Local", "Factory", "posixrules", "localtime":
		return "UTC"
	}
	if path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") {
		return "UTC"
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "UTC"
	}
	return name
}

// javaless are the names of the zone database that Java's leaves out,
// with the zone Java knows them as (the three fixed offsets of
// java.time.ZoneId.SHORT_IDS, and Taiwan's).
var javaless = map[string]string{
	"EST": "Etc/GMT+5",
	"MST": "Etc/GMT+7",
	"HST": "Etc/GMT+10",
	"ROC": "Asia/Taipei",
}

// TenantLocation is the tenant's zone (TenantZone) loaded.
func TenantLocation(name string) *time.Location {
	loc, err := time.LoadLocation(TenantZone(name))
	if err != nil {
		return time.UTC
	}
	return loc
}
