package identity_test

import (
	"fmt"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// Pages walk the tenant's apps by id, each once, whatever is created or
// deleted between them; bad page parameters name their field.
func TestAppsArePaged(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin := w.apps(), w.user(w.admin)
	for i := range 5 {
		if _, err := apps.Create(admin, identity.CreateAppRequest{Name: fmt.Sprintf("App %d", i), Scopes: []string{"read"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Two from provisioning and five: pages of 3, 3 and 1.
	var seen []int64
	var sizes []int
	req := identity.ListAppsRequest{PageSize: 3}
	for {
		page, err := apps.List(admin, req)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Apps))
		for _, a := range page.Apps {
			if a.TenantID != w.tenant.ID {
				t.Fatalf("another tenant's app %+v", a)
			}
			if len(seen) > 0 && a.ID <= seen[len(seen)-1] {
				t.Fatalf("app %d after %d", a.ID, seen[len(seen)-1])
			}
			seen = append(seen, a.ID)
		}
		if len(seen) == 3 {
			// A deletion behind the cursor does not shift the next page.
			if err := apps.Delete(admin, seen[0]); err != nil {
				t.Fatal(err)
			}
		}
		if page.NextPageToken == "" {
			break
		}
		req.PageToken = page.NextPageToken
	}
	if fmt.Sprint(sizes) != "[3 3 1]" || len(seen) != 7 {
		t.Fatalf("pages %v, %d apps", sizes, len(seen))
	}
	if all, err := apps.List(admin, identity.ListAppsRequest{}); err != nil || len(all.Apps) != 6 || all.NextPageToken != "" {
		t.Fatalf("the default page: %d apps, token %q, %v", len(all.Apps), all.NextPageToken, err)
	}

	for _, c := range []struct {
		req   identity.ListAppsRequest
		field string
	}{
		{identity.ListAppsRequest{PageSize: -1}, "page_size"},
		{identity.ListAppsRequest{PageSize: 101}, "page_size"},
		{identity.ListAppsRequest{PageToken: "not a token"}, "page_token"},
		{identity.ListAppsRequest{PageToken: access.EncodePageToken(map[string]any{"a": "x"})}, "page_token"},
		{identity.ListAppsRequest{PageToken: access.EncodePageToken(map[string]any{"a": -5})}, "page_token"},
	} {
		_, err := apps.List(admin, c.req)
		wantOrgErr(t, err, "INVALID_ARGUMENT", c.field)
	}
	// Another tenant's token shows that tenant's apps only.
	page, err := apps.List(admin, identity.ListAppsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if other, err := apps.List(w.user(w.otherAdmin), identity.ListAppsRequest{PageToken: page.NextPageToken}); err != nil || len(other.Apps) != 0 {
		t.Fatalf("the other tenant with this tenant's token: %+v %v", other, err)
	}
}

// At the cap a create is refused with APP_QUOTA_EXCEEDED; disabled apps
// count, deleted ones do not, and other tenants have their own cap.
func TestAppsAreCappedPerTenant(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin := w.appsCapped(3), w.user(w.admin)
	create := func(name string) error {
		_, err := apps.Create(admin, identity.CreateAppRequest{Name: name, Scopes: []string{"read"}})
		return err
	}
	// Provisioning gave the tenant two apps.
	if err := create("Third"); err != nil {
		t.Fatal(err)
	}
	err := create("Fourth")
	wantOrgErr(t, err, errs.ReasonAppQuotaExceeded, "")
	if e := errs.From(err); e.Status != 409 || e.Metadata["max_apps"] != "3" {
		t.Fatalf("at the cap: %d %v", e.Status, e.Metadata)
	}
	if _, err := apps.Disable(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	wantOrgErr(t, create("Fourth"), errs.ReasonAppQuotaExceeded, "")
	if err := apps.Delete(admin, w.app.ID); err != nil {
		t.Fatal(err)
	}
	if err := create("Fourth"); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	wantOrgErr(t, create("Fifth"), errs.ReasonAppQuotaExceeded, "")
	// The other tenant's apps are its own business.
	if _, err := apps.Create(w.user(w.otherAdmin), identity.CreateAppRequest{Name: "Fourth", Scopes: []string{"read"}}); err != nil {
		t.Fatalf("the other tenant: %v", err)
	}
	// A refused name is still a name conflict below the cap, not a quota.
	if err := apps.Delete(admin, w.readOnlyApp.ID); err != nil {
		t.Fatal(err)
	}
	wantOrgErr(t, create("Fourth"), "ALREADY_EXISTS", "name")
}

// Creates racing for the last places on the embedded database: the count
// is read under the write lock, so the cap holds and the losers are told
// why.
func TestAppsCapHoldsUnderRacingCreates(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin := w.appsCapped(7), w.user(w.admin)
	const n = 20
	errc := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, err := apps.Create(admin, identity.CreateAppRequest{Name: fmt.Sprintf("Racer %d", i), Scopes: []string{"read"}})
			errc <- err
		}()
	}
	close(start)
	created := 0
	for range n {
		switch err := <-errc; {
		case err == nil:
			created++
		case errs.ReasonOf(err) != errs.ReasonAppQuotaExceeded:
			t.Fatalf("a racing create: %v", err)
		}
	}
	page, err := apps.List(admin, identity.ListAppsRequest{PageSize: 100})
	if err != nil || created != 5 || len(page.Apps) != 7 {
		t.Fatalf("%d created, the tenant has %d apps (%v); want 5 and 7", created, len(page.Apps), err)
	}
}

// Every page gives the tenant's apps over all pages as its total, the
// same for any page size; a deleted app and another tenant's do not
// count.
func TestAppsListTotal(t *testing.T) {
	w := newOrgWorld(t)
	apps, admin := w.apps(), w.user(w.admin)
	for i := range 5 {
		if _, err := apps.Create(admin, identity.CreateAppRequest{Name: fmt.Sprintf("App %d", i), Scopes: []string{"read"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := apps.Create(w.user(w.otherAdmin), identity.CreateAppRequest{Name: "Theirs", Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	// Two from provisioning and five: pages of 3, 3 and 1, each with 7.
	var totals []int64
	req := identity.ListAppsRequest{PageSize: 3}
	for range 5 {
		page, err := apps.List(admin, req)
		if err != nil {
			t.Fatal(err)
		}
		totals = append(totals, page.Total)
		if req.PageToken = page.NextPageToken; req.PageToken == "" {
			break
		}
	}
	if fmt.Sprint(totals) != "[7 7 7]" {
		t.Fatalf("pages of three: totals %v, want [7 7 7]", totals)
	}
	for _, size := range []int{0, 1, 100} {
		if page, err := apps.List(admin, identity.ListAppsRequest{PageSize: size}); err != nil || page.Total != 7 {
			t.Fatalf("page_size %d: total %d (%d apps), %v; want 7", size, page.Total, len(page.Apps), err)
		}
	}
	if err := apps.Delete(admin, w.readOnlyApp.ID); err != nil {
		t.Fatal(err)
	}
	if page, err := apps.List(admin, identity.ListAppsRequest{PageSize: 1}); err != nil || page.Total != 6 {
		t.Fatalf("after a delete: total %d, %v; want 6", page.Total, err)
	}
	theirs, err := apps.List(w.user(w.otherAdmin), identity.ListAppsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	all, err := apps.List(w.user(w.otherAdmin), identity.ListAppsRequest{PageSize: 100})
	if err != nil || theirs.Total != int64(len(all.Apps)) || all.Total != theirs.Total || theirs.Total < 1 {
		t.Fatalf("the other tenant: total %d and %d, %d apps, %v", theirs.Total, all.Total, len(all.Apps), err)
	}
}
