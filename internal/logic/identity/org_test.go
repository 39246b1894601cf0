package identity_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

func TestMe(t *testing.T) {
	w := newOrgWorld(t)
	me, err := w.org.Me(w.user(w.reps[1]))
	if err != nil {
		t.Fatal(err)
	}
	if me.User.ID != w.reps[1].ID || me.Tenant.ID != w.tenant.ID || me.Department == nil || me.Department.ID != w.east.ID {
		t.Fatalf("me: %+v", me)
	}
	me, err = w.org.Me(w.user(w.admin))
	if err != nil || me.Department != nil {
		t.Fatalf("admin without department: %+v, %v", me, err)
	}
	_, err = w.org.Me(w.appCtx(w.app))
	wantOrgErr(t, err, "PERMISSION_DENIED", "")
	_, err = w.org.Me(context.Background())
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
}

func TestDepartmentsIsTheTenantTree(t *testing.T) {
	w := newOrgWorld(t)
	// Everyone of the tenant sees the whole tree, a rep included.
	roots, err := w.org.Departments(w.user(w.reps[2]))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(nodes []*identity.DepartmentNode, depth int)
	walk = func(nodes []*identity.DepartmentNode, depth int) {
		for _, n := range nodes {
			got = append(got, strings.Repeat("-", depth)+n.Name)
			walk(n.Children, depth+1)
		}
	}
	walk(roots, 0)
	if want := []string{"sales", "-east", "support"}; !slices.Equal(got, want) {
		t.Fatalf("tree %v, want %v", got, want)
	}
}

func userIDs(us []model.User) []int64 {
	out := []int64{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

// listAll pages through the users req lists and checks that every page
// counts them all.
func (w *orgWorld) listAll(t *testing.T, ctx context.Context, req identity.ListUsersRequest) []int64 {
	t.Helper()
	got, totals := []int64{}, []int64{}
	for range 10 {
		page, err := w.org.ListUsers(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, totals = append(got, userIDs(page.Users)...), append(totals, page.Total)
		if req.PageToken = page.NextPageToken; req.PageToken == "" {
			break
		}
	}
	for _, n := range totals {
		if n != int64(len(got)) {
			t.Fatalf("pages counted %v users, listed %d", totals, len(got))
		}
	}
	return got
}

func TestListUsersFollowsTheDataScope(t *testing.T) {
	w := newOrgWorld(t)
	all := []int64{w.admin.ID, w.manager.ID, w.reps[0].ID, w.reps[1].ID, w.reps[2].ID}
	tests := []struct {
		name string
		ctx  context.Context
		req  identity.ListUsersRequest
		want []int64
	}{
		{"rep sees themselves", w.user(w.reps[0]), identity.ListUsersRequest{}, []int64{w.reps[0].ID}},
		{"manager sees the department subtree", w.user(w.manager), identity.ListUsersRequest{}, []int64{w.manager.ID, w.reps[0].ID, w.reps[1].ID}},
		{"admin sees the tenant", w.user(w.admin), identity.ListUsersRequest{}, all},
		{"app sees the tenant", w.appCtx(w.app), identity.ListUsersRequest{}, all},
		{"department filter is a subtree", w.user(w.admin), identity.ListUsersRequest{DepartmentID: w.sales.ID}, []int64{w.manager.ID, w.reps[0].ID, w.reps[1].ID}},
		{"manager filtering a subdepartment", w.user(w.manager), identity.ListUsersRequest{DepartmentID: w.east.ID}, []int64{w.reps[1].ID}},
		{"department filter within the scope", w.user(w.manager), identity.ListUsersRequest{DepartmentID: w.support.ID}, []int64{}},
		{"rep filtering another department", w.user(w.reps[0]), identity.ListUsersRequest{DepartmentID: w.east.ID}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := w.org.ListUsers(tt.ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := userIDs(page.Users); !slices.Equal(got, tt.want) || page.Total != int64(len(tt.want)) || page.NextPageToken != "" {
				t.Fatalf("got %v (total %d, next %q), want %v", got, page.Total, page.NextPageToken, tt.want)
			}
			one := tt.req
			one.PageSize = 1
			if got := w.listAll(t, tt.ctx, one); !slices.Equal(got, tt.want) {
				t.Fatalf("one by one: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListUsersPages(t *testing.T) {
	w := newOrgWorld(t)
	ctx := w.user(w.admin)
	if got, want := w.listAll(t, ctx, identity.ListUsersRequest{PageSize: 2}), []int64{w.admin.ID, w.manager.ID, w.reps[0].ID, w.reps[1].ID, w.reps[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}

	page, _ := w.org.ListUsers(ctx, identity.ListUsersRequest{PageSize: 1})
	tests := []struct {
		name   string
		ctx    context.Context
		req    identity.ListUsersRequest
		reason string
		field  string
	}{
		{"page size above 100", ctx, identity.ListUsersRequest{PageSize: 101}, "INVALID_ARGUMENT", "page_size"},
		{"negative page size", ctx, identity.ListUsersRequest{PageSize: -1}, "INVALID_ARGUMENT", "page_size"},
		{"garbage token", ctx, identity.ListUsersRequest{PageToken: "%%%"}, "INVALID_ARGUMENT", "page_token"},
		{"token of another filter", ctx, identity.ListUsersRequest{PageToken: page.NextPageToken, DepartmentID: w.sales.ID}, "INVALID_ARGUMENT", "page_token"},
		{"negative department", ctx, identity.ListUsersRequest{DepartmentID: -3}, "INVALID_ARGUMENT", "department_id"},
		{"unknown department", ctx, identity.ListUsersRequest{DepartmentID: 99999}, "DEPARTMENT_NOT_FOUND", ""},
		{"another tenant's department", ctx, identity.ListUsersRequest{DepartmentID: w.otherDept.ID}, "DEPARTMENT_NOT_FOUND", ""},
		{"app without the read scope", w.appCtx(w.readOnlyApp), identity.ListUsersRequest{}, "PERMISSION_DENIED", ""},
		{"anonymous", context.Background(), identity.ListUsersRequest{}, "UNAUTHENTICATED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.ListUsers(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.reason, tt.field)
		})
	}
}

func TestCreateUser(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	u, err := w.org.CreateUser(admin, identity.CreateUserRequest{
		Name: " New Rep ", Email: "New.Rep@Acme.Test", Phone: "+8613700000000", Password: "long enough", DepartmentID: w.east.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "New Rep" || *u.Email != "new.rep@acme.test" || u.Role != model.RoleRep || u.Status != model.UserActive ||
		*u.DepartmentID != w.east.ID || u.PasswordHash == "" || u.PasswordHash == "long enough" {
		t.Fatalf("created %+v", u)
	}
	if _, err := w.auth.Login(context.Background(), identity.LoginRequest{Account: "+8613700000000", Password: "long enough"}); err != nil {
		t.Fatalf("the new user cannot sign in: %v", err)
	}

	ok := identity.CreateUserRequest{Name: "X", Email: "x@acme.test", Password: "long enough"}
	with := func(f func(r *identity.CreateUserRequest)) identity.CreateUserRequest { r := ok; f(&r); return r }
	tests := []struct {
		name   string
		ctx    context.Context
		req    identity.CreateUserRequest
		reason string
		field  string
	}{
		{"rep", w.user(w.reps[0]), ok, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), ok, "PERMISSION_DENIED", ""},
		{"app", w.appCtx(w.app), ok, "PERMISSION_DENIED", ""},
		{"no name", admin, with(func(r *identity.CreateUserRequest) { r.Name = "  " }), "INVALID_ARGUMENT", "name"},
		{"long name", admin, with(func(r *identity.CreateUserRequest) { r.Name = strings.Repeat("名", 256) }), "INVALID_ARGUMENT", "name"},
		{"NUL in the name", admin, with(func(r *identity.CreateUserRequest) { r.Name = "Li\x00Na" }), "INVALID_ARGUMENT", "name"},
		{"line break in the name", admin, with(func(r *identity.CreateUserRequest) { r.Name = "Li\nNa" }), "INVALID_ARGUMENT", "name"},
		{"bad email", admin, with(func(r *identity.CreateUserRequest) { r.Email = "x at acme" }), "INVALID_ARGUMENT", "email"},
		{"display-name email", admin, with(func(r *identity.CreateUserRequest) { r.Email = "X <x@acme.test>" }), "INVALID_ARGUMENT", "email"},
		{"bad phone", admin, with(func(r *identity.CreateUserRequest) { r.Phone = "139-0000" }), "INVALID_ARGUMENT", "phone"},
		{"no account", admin, with(func(r *identity.CreateUserRequest) { r.Email = "" }), "INVALID_ARGUMENT", "email"},
		{"bad role", admin, with(func(r *identity.CreateUserRequest) { r.Role = "owner" }), "INVALID_ARGUMENT", "role"},
		{"no password", admin, with(func(r *identity.CreateUserRequest) { r.Password = "" }), "INVALID_ARGUMENT", "password"},
		{"short password", admin, with(func(r *identity.CreateUserRequest) { r.Password = "1234567" }), "INVALID_ARGUMENT", "password"},
		{"password of control characters", admin, with(func(r *identity.CreateUserRequest) { r.Password = strings.Repeat("\x00", 8) }), "INVALID_ARGUMENT", "password"},
		{"password with a newline", admin, with(func(r *identity.CreateUserRequest) { r.Password = "a good\npassword" }), "INVALID_ARGUMENT", "password"},
		{"password over 72 bytes", admin, with(func(r *identity.CreateUserRequest) { r.Password = strings.Repeat("p", 73) }), "INVALID_ARGUMENT", "password"},
		{"email taken", admin, with(func(r *identity.CreateUserRequest) { r.Email = "REP1@acme.test" }), "ALREADY_EXISTS", "email"},
		{"email taken in another tenant", admin, with(func(r *identity.CreateUserRequest) { r.Email = "other-admin@acme.test" }), "ALREADY_EXISTS", "email"},
		{"phone taken", admin, with(func(r *identity.CreateUserRequest) { r.Phone = "13900000002" }), "ALREADY_EXISTS", "phone"},
		{"unknown department", admin, with(func(r *identity.CreateUserRequest) { r.DepartmentID = 12345 }), "DEPARTMENT_NOT_FOUND", ""},
		{"another tenant's department", admin, with(func(r *identity.CreateUserRequest) { r.DepartmentID = w.otherDept.ID }), "DEPARTMENT_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.CreateUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.reason, tt.field)
		})
	}
}

func TestUpdateUser(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	str := func(s string) *string { return &s }
	id := func(n int64) *int64 { return &n }
	u, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, Role: str("manager"), DepartmentID: id(w.east.ID), Phone: str("")})
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != model.RoleManager || *u.DepartmentID != w.east.ID || u.Phone != nil || u.Name != "rep1" || *u.Email != "rep1@acme.test" {
		t.Fatalf("updated %+v", u)
	}
	u, err = w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, DepartmentID: id(0)})
	if err != nil || u.DepartmentID != nil {
		t.Fatalf("department cleared: %+v, %v", u, err)
	}
	// Keeping one's own email is no conflict.
	if _, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Email: str("REP2@acme.test")}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    identity.UpdateUserRequest
		reason string
		field  string
	}{
		{"rep", w.user(w.reps[1]), identity.UpdateUserRequest{ID: w.reps[1].ID, Name: str("me")}, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), identity.UpdateUserRequest{ID: w.reps[1].ID, Name: str("x")}, "PERMISSION_DENIED", ""},
		{"another tenant's user", admin, identity.UpdateUserRequest{ID: w.otherAdmin.ID, Name: str("x")}, "USER_NOT_FOUND", ""},
		{"unknown user", admin, identity.UpdateUserRequest{ID: 987654, Name: str("x")}, "USER_NOT_FOUND", ""},
		{"bad id", admin, identity.UpdateUserRequest{ID: 0}, "INVALID_ARGUMENT", "id"},
		{"bad status", admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Status: str("gone")}, "INVALID_ARGUMENT", "status"},
		{"email of another user", admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Email: str("rep3@acme.test")}, "ALREADY_EXISTS", "email"},
		{"last account removed", admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Email: str("")}, "INVALID_ARGUMENT", "email"},
		{"own admin role", admin, identity.UpdateUserRequest{ID: w.admin.ID, Role: str("rep")}, "INVALID_ARGUMENT", "role"},
		{"disable oneself", admin, identity.UpdateUserRequest{ID: w.admin.ID, Status: str("disabled")}, "INVALID_ARGUMENT", "status"},
		{"short password", admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Password: str("short")}, "INVALID_ARGUMENT", "password"},
		{"another tenant's department", admin, identity.UpdateUserRequest{ID: w.reps[1].ID, DepartmentID: id(w.otherDept.ID)}, "DEPARTMENT_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.UpdateUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.reason, tt.field)
		})
	}
}

func TestUpsertDepartment(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	upsert := func(origin, name, parent string) (*model.Department, bool) {
		t.Helper()
		d, created, err := w.org.UpsertDepartment(app, identity.UpsertDepartmentRequest{OriginDepartmentID: origin, Name: name, OriginParentID: parent})
		if err != nil {
			t.Fatal(err)
		}
		return d, created
	}
	root, created := upsert("hq", "HQ", "")
	if !created || root.Path != fmt.Sprintf("/%d/", root.ID) || root.ParentID != nil {
		t.Fatalf("root %+v created %v", root, created)
	}
	child, _ := upsert("hq-a", "A", "hq")
	leaf, _ := upsert("hq-a-1", "A1", "hq-a")
	if leaf.Path != fmt.Sprintf("/%d/%d/%d/", root.ID, child.ID, leaf.ID) {
		t.Fatalf("leaf path %q", leaf.Path)
	}
	again, created := upsert("hq-a", "A", "hq")
	if created || again.ID != child.ID || again.Path != child.Path || !again.UpdatedAt.Equal(child.UpdatedAt) {
		t.Fatalf("same request again changed the department: %+v, created %v", again, created)
	}

	// Moving A under support moves its subtree; renaming keeps the path.
	w.clock.Add(1)
	support, _ := upsert("cs", "Support", "")
	moved, _ := upsert("hq-a", "A renamed", "cs")
	if moved.ID != child.ID || moved.Name != "A renamed" || *moved.ParentID != support.ID ||
		moved.Path != fmt.Sprintf("/%d/%d/", support.ID, child.ID) {
		t.Fatalf("moved %+v", moved)
	}
	if got, err := w.departments.ByID(context.Background(), w.tenant.ID, leaf.ID); err != nil || got.Path != fmt.Sprintf("/%d/%d/%d/", support.ID, child.ID, leaf.ID) {
		t.Fatalf("leaf after the move: %+v, %v", got, err)
	}
	top, _ := upsert("hq-a", "A renamed", "")
	if top.ParentID != nil || top.Path != fmt.Sprintf("/%d/", child.ID) {
		t.Fatalf("moved to the top: %+v", top)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    identity.UpsertDepartmentRequest
		reason string
		field  string
	}{
		{"its own parent", app, identity.UpsertDepartmentRequest{OriginDepartmentID: "hq", Name: "HQ", OriginParentID: "hq"}, "INVALID_ARGUMENT", "origin_parent_id"},
		{"below its own child", app, identity.UpsertDepartmentRequest{OriginDepartmentID: "hq-a", Name: "A", OriginParentID: "hq-a-1"}, "INVALID_ARGUMENT", "origin_parent_id"},
		{"unknown parent", app, identity.UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X", OriginParentID: "nope"}, "DEPARTMENT_NOT_FOUND", "origin_parent_id"},
		{"parent of another tenant", app, identity.UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X", OriginParentID: "other-only"}, "DEPARTMENT_NOT_FOUND", "origin_parent_id"},
		{"no origin id", app, identity.UpsertDepartmentRequest{Name: "X"}, "INVALID_ARGUMENT", "origin_department_id"},
		{"long origin id", app, identity.UpsertDepartmentRequest{OriginDepartmentID: strings.Repeat("x", 129), Name: "X"}, "INVALID_ARGUMENT", "origin_department_id"},
		{"no name", app, identity.UpsertDepartmentRequest{OriginDepartmentID: "x"}, "INVALID_ARGUMENT", "name"},
		{"app without ingest", w.appCtx(w.readOnlyApp), identity.UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X"}, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), identity.UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X"}, "PERMISSION_DENIED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.org.UpsertDepartment(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.reason, tt.field)
		})
	}
	// The other tenant's department of the same origin id is its own.
	if d, _ := w.departments.ByOrigin(context.Background(), w.other.ID, "sales"); d == nil || d.ID != w.otherDept.ID {
		t.Fatal("origin ids are per tenant")
	}
}

func TestUpsertUser(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	req := identity.UpsertUserRequest{OriginUserID: "crm-1", Name: "Partner Rep", Email: "Partner@Acme.test", Phone: "+1 (650) 253-0000", OriginDepartmentID: "east"}
	u, created, err := w.org.UpsertUser(app, req)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if *u.Email != "partner@acme.test" || *u.Phone != "+16502530000" || u.Role != model.RoleRep || u.Status != model.UserActive || *u.DepartmentID != w.east.ID || *u.OriginUserID != "crm-1" {
		t.Fatalf("created %+v", u)
	}
	again, created, err := w.org.UpsertUser(app, req)
	if err != nil || created || again.ID != u.ID || !again.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("same request again: %+v, created %v, %v", again, created, err)
	}
	// Every attribute is written as given: omitted ones are cleared.
	replaced, _, err := w.org.UpsertUser(app, identity.UpsertUserRequest{OriginUserID: "crm-1", Name: "Partner Rep", Role: "manager", Status: "disabled"})
	if err != nil || replaced.ID != u.ID || replaced.Email != nil || replaced.Phone != nil || replaced.DepartmentID != nil ||
		replaced.Role != model.RoleManager || replaced.Status != model.UserDisabled {
		t.Fatalf("replaced %+v, %v", replaced, err)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    identity.UpsertUserRequest
		reason string
		field  string
	}{
		{"no origin id", app, identity.UpsertUserRequest{Name: "X"}, "INVALID_ARGUMENT", "origin_user_id"},
		{"no name", app, identity.UpsertUserRequest{OriginUserID: "crm-2"}, "INVALID_ARGUMENT", "name"},
		{"bad role", app, identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Role: "chief"}, "INVALID_ARGUMENT", "role"},
		{"bad email", app, identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Email: "@"}, "INVALID_ARGUMENT", "email"},
		{"email of another user", app, identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Email: "rep1@acme.test"}, "ALREADY_EXISTS", "email"},
		{"unknown department", app, identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X", OriginDepartmentID: "nope"}, "DEPARTMENT_NOT_FOUND", "origin_department_id"},
		{"app without ingest", w.appCtx(w.readOnlyApp), identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X"}, "PERMISSION_DENIED", ""},
		{"rep", w.user(w.reps[0]), identity.UpsertUserRequest{OriginUserID: "crm-2", Name: "X"}, "PERMISSION_DENIED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.org.UpsertUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.reason, tt.field)
		})
	}
}

func TestUpsertUserDisablingSignsOut(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	u, _, err := w.org.UpsertUser(app, identity.UpsertUserRequest{OriginUserID: "crm-7", Name: "Seven", Email: "seven@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	pw := "seven's password"
	if _, err := w.org.UpdateUser(w.user(w.admin), identity.UpdateUserRequest{ID: u.ID, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	pair, err := w.auth.Login(context.Background(), identity.LoginRequest{Account: "seven@acme.test", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	// The partner's upsert never touches the password, but disabling signs out.
	if _, _, err := w.org.UpsertUser(app, identity.UpsertUserRequest{OriginUserID: "crm-7", Name: "Seven", Email: "seven@acme.test", Status: "disabled"}); err != nil {
		t.Fatal(err)
	}
	if got, err := w.users.ByID(context.Background(), w.tenant.ID, u.ID); err != nil || got.PasswordHash == "" {
		t.Fatalf("the upsert cleared the password: %+v, %v", got, err)
	}
	_, err = w.auth.Refresh(context.Background(), identity.RefreshRequest{RefreshToken: pair.RefreshToken})
	wantOrgErr(t, err, "UNAUTHENTICATED", "")
}

// An admin cannot give a user an erasure anonymised a name, an address or
// a working account again: USER_ERASED naming the id, and the user stays
// anonymous.
func TestUpdateUserLeavesAnErasedUserAnonymous(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	str := func(s string) *string { return &s }
	erased := w.reps[0].ID
	if err := w.privacy.AnonymiseUser(context.Background(), w.tenant.ID, erased); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]identity.UpdateUserRequest{
		"name":   {ID: erased, Name: str("rep1")},
		"email":  {ID: erased, Email: str("rep1@acme.test")},
		"status": {ID: erased, Status: str(model.UserActive)},
		"role":   {ID: erased, Role: str(model.RoleManager)},
	} {
		_, err := w.org.UpdateUser(admin, req)
		if e := errs.From(err); e == nil || e.Reason != errs.ReasonUserErased || e.Metadata["field"] != "id" {
			t.Errorf("%s of an erased user: %v, want USER_ERASED on id", name, err)
		}
	}
	u, err := w.users.ByID(context.Background(), w.tenant.ID, erased)
	if err != nil || !u.Erased() || u.Role != model.RoleRep {
		t.Fatalf("the erased user after the refusals: %+v %v", u, err)
	}
}

// TestStoredNameKeptWhenUnchanged: a name or an origin id stored by an
// earlier release that access.CheckName refuses (a bidi embedding, only
// invisible characters) does not block an update that leaves it as it is:
// the user is disabled, the partner re-sends it, the department moves. A
// new or changed value is held to CheckName.
func TestStoredNameKeptWhenUnchanged(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	sys := w.as(model.Scope{TenantID: w.tenant.ID, Role: model.RoleAdmin})
	str := func(s string) *string { return &s }
	store := func(table string, id int64, column, v string) {
		t.Helper()
		if err := w.db.Table(table).Where("id = ?", id).Update(column, v).Error; err != nil {
			t.Fatal(err)
		}
	}
	const bidi, blank = "\u202bمحمد\u202c", "\u200b\u200b"
	store("users", w.reps[0].ID, "name", bidi)
	store("users", w.reps[1].ID, "name", blank)
	for _, rep := range w.reps[:2] {
		u, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: rep.ID, Status: str(model.UserDisabled)})
		if err != nil || u.Status != model.UserDisabled {
			t.Fatalf("disable user %d: %+v, %v", rep.ID, u, err)
		}
	}
	if u, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, Name: str(bidi), Email: str("moved@acme.test")}); err != nil || u.Name != bidi {
		t.Fatalf("edit keeping the stored name: %+v, %v", u, err)
	}
	_, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[0].ID, Name: str("gnp.\u202eexe")})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")
	_, err = w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[2].ID, Name: str(blank)})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")

	// The partner sync re-sends the stored name and origin id.
	u, _, err := w.org.UpsertUser(sys, identity.UpsertUserRequest{OriginUserID: "crm-9", Name: "Partner", Email: "partner9@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	store("users", u.ID, "name", bidi)
	store("users", u.ID, "origin_user_id", "crm\u202e9")
	if u, _, err := w.org.UpsertUser(sys, identity.UpsertUserRequest{OriginUserID: "crm\u202e9", Name: bidi, Email: "partner9@acme.test", Status: model.UserDisabled}); err != nil || u.Status != model.UserDisabled {
		t.Fatalf("partner disables the user: %+v, %v", u, err)
	}
	_, _, err = w.org.UpsertUser(sys, identity.UpsertUserRequest{OriginUserID: "crm\u202e10", Name: "New", Email: "partner10@acme.test"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "origin_user_id")
	_, _, err = w.org.UpsertUser(sys, identity.UpsertUserRequest{OriginUserID: "crm-10", Name: bidi, Email: "partner10@acme.test"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")

	// A department keeps its stored name and origin id when it moves.
	store("departments", w.support.ID, "name", bidi)
	store("departments", w.support.ID, "origin_department_id", "sup\u202eport")
	if d, _, err := w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "sup\u202eport", Name: bidi, OriginParentID: "sales"}); err != nil || d.Name != bidi {
		t.Fatalf("move the department: %+v, %v", d, err)
	}
	_, _, err = w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "sup\u202eport", Name: "x\u202e"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")
	_, _, err = w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "new\u202e", Name: "New"})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "origin_department_id")
	_, _, err = w.org.UpsertDepartment(sys, identity.UpsertDepartmentRequest{OriginDepartmentID: "new", Name: blank})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")

	// An app keeps its stored name when given new scopes.
	app := w.app
	store("apps", app.ID, "name", bidi)
	if a, err := w.apps().Update(admin, identity.UpdateAppRequest{ID: app.ID, Name: str(bidi)}); err != nil || a.Name != bidi {
		t.Fatalf("update the app: %+v, %v", a, err)
	}
	_, err = w.apps().Update(admin, identity.UpdateAppRequest{ID: app.ID, Name: str("b\u202eidi")})
	wantOrgErr(t, err, "INVALID_ARGUMENT", "name")
}
