package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// A tenant's zone is a name every engine knows: Go loads more names than
// Elasticsearch does, and a tenant created with one of those got a 500 on
// every search once Elasticsearch refused its zone.
func TestATenantZoneMustBeAnIANAName(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	for zone, want := range map[string]string{
		"posix/Asia/Shanghai":    `"posix/Asia/Shanghai" is not an IANA time zone name (Asia/Shanghai is)`,
		"Factory":                `"Factory" is not an IANA time zone name`,
		"localtime":              `"localtime" is not an IANA time zone name`,
		"Mars/Olympus":           `"Mars/Olympus" is not an IANA time zone name`,
		strings.Repeat("x", 300): `"` + strings.Repeat("x", 64) + `"… is not an IANA time zone name`,
	} {
		_, err := w.provision.CreateTenant(ctx, identity.NewTenant{Name: "Zone", Timezone: zone})
		if e := errs.From(err); e == nil || e.Field() != "timezone" || !strings.Contains(e.Message, want) {
			t.Errorf("zone %.20q: %v; want 400 naming timezone: %s", zone, err, want)
		}
	}
	for _, zone := range []string{"Asia/Shanghai", "Etc/GMT-14", "UTC", "Europe/Berlin"} {
		if _, err := w.provision.CreateTenant(ctx, identity.NewTenant{Name: "Zone " + zone, Timezone: zone}); err != nil {
			t.Errorf("zone %s: %v", zone, err)
		}
	}
}
