package model

import (
	"strings"
	"time"
)

// TenantZone is the name of the zone a tenant's days are counted in, as
// every engine and the statistics name it: name itself when it is an IANA
// zone name, the zone of the same name for a copy of the zone database's
// posix/ or right/ trees (which Go loads from the system and Elasticsearch
// does not know), and "UTC" for "", "Local", the database's own files
// (Factory, posixrules, localtime) or a name that loads nowhere.
func TenantZone(name string) string {
	for _, tree := range []string{"posix/", "right/"} {
		name = strings.TrimPrefix(name, tree)
	}
	switch name {
	case "", "Local", "Factory", "posixrules", "localtime":
		return "UTC"
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "UTC"
	}
	return name
}

// TenantLocation is the tenant's zone (TenantZone) loaded.
func TenantLocation(name string) *time.Location {
	loc, err := time.LoadLocation(TenantZone(name))
	if err != nil {
		return time.UTC
	}
	return loc
}
