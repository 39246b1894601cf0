package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

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
	wantOrgErr(t, err, 403, "PERMISSION_DENIED", "")
	_, err = w.org.Me(context.Background())
	wantOrgErr(t, err, 401, "UNAUTHENTICATED", "")
}

func TestDepartmentsIsTheTenantTree(t *testing.T) {
	w := newOrgWorld(t)
	// Everyone of the tenant sees the whole tree, a rep included.
	roots, err := w.org.Departments(w.user(w.reps[2]))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(nodes []*DepartmentNode, depth int)
	walk = func(nodes []*DepartmentNode, depth int) {
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

func TestListUsersFollowsTheDataScope(t *testing.T) {
	w := newOrgWorld(t)
	all := []int64{w.admin.ID, w.manager.ID, w.reps[0].ID, w.reps[1].ID, w.reps[2].ID}
	tests := []struct {
		name string
		ctx  context.Context
		req  ListUsersRequest
		want []int64
	}{
		{"rep sees themselves", w.user(w.reps[0]), ListUsersRequest{}, []int64{w.reps[0].ID}},
		{"manager sees the department subtree", w.user(w.manager), ListUsersRequest{}, []int64{w.manager.ID, w.reps[0].ID, w.reps[1].ID}},
		{"admin sees the tenant", w.user(w.admin), ListUsersRequest{}, all},
		{"app sees the tenant", w.appCtx(w.app), ListUsersRequest{}, all},
		{"department filter is a subtree", w.user(w.admin), ListUsersRequest{DepartmentID: w.sales.ID}, []int64{w.manager.ID, w.reps[0].ID, w.reps[1].ID}},
		{"department filter within the scope", w.user(w.manager), ListUsersRequest{DepartmentID: w.support.ID}, []int64{}},
		{"rep filtering another department", w.user(w.reps[0]), ListUsersRequest{DepartmentID: w.east.ID}, []int64{}},
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
		})
	}
}

func TestListUsersPages(t *testing.T) {
	w := newOrgWorld(t)
	ctx := w.user(w.admin)
	var got []int64
	token := ""
	for range 10 {
		page, err := w.org.ListUsers(ctx, ListUsersRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 5 {
			t.Fatalf("total %d, want 5", page.Total)
		}
		got = append(got, userIDs(page.Users)...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if want := []int64{w.admin.ID, w.manager.ID, w.reps[0].ID, w.reps[1].ID, w.reps[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}

	page, _ := w.org.ListUsers(ctx, ListUsersRequest{PageSize: 1})
	tests := []struct {
		name   string
		ctx    context.Context
		req    ListUsersRequest
		status int
		reason string
		field  string
	}{
		{"page size above 100", ctx, ListUsersRequest{PageSize: 101}, 400, "INVALID_ARGUMENT", "page_size"},
		{"negative page size", ctx, ListUsersRequest{PageSize: -1}, 400, "INVALID_ARGUMENT", "page_size"},
		{"garbage token", ctx, ListUsersRequest{PageToken: "%%%"}, 400, "INVALID_ARGUMENT", "page_token"},
		{"token of another filter", ctx, ListUsersRequest{PageToken: page.NextPageToken, DepartmentID: w.sales.ID}, 400, "INVALID_ARGUMENT", "page_token"},
		{"negative department", ctx, ListUsersRequest{DepartmentID: -3}, 400, "INVALID_ARGUMENT", "department_id"},
		{"unknown department", ctx, ListUsersRequest{DepartmentID: 99999}, 404, "DEPARTMENT_NOT_FOUND", ""},
		{"another tenant's department", ctx, ListUsersRequest{DepartmentID: w.otherDept.ID}, 404, "DEPARTMENT_NOT_FOUND", ""},
		{"app without the read scope", w.appCtx(w.readOnlyApp), ListUsersRequest{}, 403, "PERMISSION_DENIED", ""},
		{"anonymous", context.Background(), ListUsersRequest{}, 401, "UNAUTHENTICATED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.ListUsers(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.status, tt.reason, tt.field)
		})
	}
}

func TestCreateUser(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	u, err := w.org.CreateUser(admin, CreateUserRequest{
		Name: " New Rep ", Email: "New.Rep@Acme.Test", Phone: "+8613700000000", Password: "long enough", DepartmentID: w.east.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "New Rep" || *u.Email != "new.rep@acme.test" || u.Role != model.RoleRep || u.Status != model.UserActive ||
		*u.DepartmentID != w.east.ID || u.PasswordHash == "" || u.PasswordHash == "long enough" {
		t.Fatalf("created %+v", u)
	}
	if _, err := w.auth.Login(context.Background(), LoginRequest{Account: "+8613700000000", Password: "long enough"}); err != nil {
		t.Fatalf("the new user cannot sign in: %v", err)
	}

	ok := CreateUserRequest{Name: "X", Email: "x@acme.test", Password: "long enough"}
	with := func(f func(r *CreateUserRequest)) CreateUserRequest { r := ok; f(&r); return r }
	tests := []struct {
		name   string
		ctx    context.Context
		req    CreateUserRequest
		status int
		reason string
		field  string
	}{
		{"rep", w.user(w.reps[0]), ok, 403, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), ok, 403, "PERMISSION_DENIED", ""},
		{"app", w.appCtx(w.app), ok, 403, "PERMISSION_DENIED", ""},
		{"no name", admin, with(func(r *CreateUserRequest) { r.Name = "  " }), 400, "INVALID_ARGUMENT", "name"},
		{"long name", admin, with(func(r *CreateUserRequest) { r.Name = strings.Repeat("名", 256) }), 400, "INVALID_ARGUMENT", "name"},
		{"bad email", admin, with(func(r *CreateUserRequest) { r.Email = "x at acme" }), 400, "INVALID_ARGUMENT", "email"},
		{"display-name email", admin, with(func(r *CreateUserRequest) { r.Email = "X <x@acme.test>" }), 400, "INVALID_ARGUMENT", "email"},
		{"bad phone", admin, with(func(r *CreateUserRequest) { r.Phone = "139-0000" }), 400, "INVALID_ARGUMENT", "phone"},
		{"no account", admin, with(func(r *CreateUserRequest) { r.Email = "" }), 400, "INVALID_ARGUMENT", "email"},
		{"bad role", admin, with(func(r *CreateUserRequest) { r.Role = "owner" }), 400, "INVALID_ARGUMENT", "role"},
		{"no password", admin, with(func(r *CreateUserRequest) { r.Password = "" }), 400, "INVALID_ARGUMENT", "password"},
		{"short password", admin, with(func(r *CreateUserRequest) { r.Password = "1234567" }), 400, "INVALID_ARGUMENT", "password"},
		{"password over 72 bytes", admin, with(func(r *CreateUserRequest) { r.Password = strings.Repeat("p", 73) }), 400, "INVALID_ARGUMENT", "password"},
		{"email taken", admin, with(func(r *CreateUserRequest) { r.Email = "REP1@acme.test" }), 409, "ALREADY_EXISTS", "email"},
		{"email taken in another tenant", admin, with(func(r *CreateUserRequest) { r.Email = "other-admin@acme.test" }), 409, "ALREADY_EXISTS", "email"},
		{"phone taken", admin, with(func(r *CreateUserRequest) { r.Phone = "13900000002" }), 409, "ALREADY_EXISTS", "phone"},
		{"unknown department", admin, with(func(r *CreateUserRequest) { r.DepartmentID = 12345 }), 404, "DEPARTMENT_NOT_FOUND", ""},
		{"another tenant's department", admin, with(func(r *CreateUserRequest) { r.DepartmentID = w.otherDept.ID }), 404, "DEPARTMENT_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.CreateUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.status, tt.reason, tt.field)
		})
	}
}

func TestUpdateUser(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	str := func(s string) *string { return &s }
	id := func(n int64) *int64 { return &n }
	u, err := w.org.UpdateUser(admin, UpdateUserRequest{ID: w.reps[0].ID, Role: str("manager"), DepartmentID: id(w.east.ID), Phone: str("")})
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != model.RoleManager || *u.DepartmentID != w.east.ID || u.Phone != nil || u.Name != "rep1" || *u.Email != "rep1@acme.test" {
		t.Fatalf("updated %+v", u)
	}
	u, err = w.org.UpdateUser(admin, UpdateUserRequest{ID: w.reps[0].ID, DepartmentID: id(0)})
	if err != nil || u.DepartmentID != nil {
		t.Fatalf("department cleared: %+v, %v", u, err)
	}
	// Keeping one's own email is no conflict.
	if _, err := w.org.UpdateUser(admin, UpdateUserRequest{ID: w.reps[1].ID, Email: str("REP2@acme.test")}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    UpdateUserRequest
		status int
		reason string
		field  string
	}{
		{"rep", w.user(w.reps[1]), UpdateUserRequest{ID: w.reps[1].ID, Name: str("me")}, 403, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), UpdateUserRequest{ID: w.reps[1].ID, Name: str("x")}, 403, "PERMISSION_DENIED", ""},
		{"another tenant's user", admin, UpdateUserRequest{ID: w.otherAdmin.ID, Name: str("x")}, 404, "USER_NOT_FOUND", ""},
		{"unknown user", admin, UpdateUserRequest{ID: 987654, Name: str("x")}, 404, "USER_NOT_FOUND", ""},
		{"bad id", admin, UpdateUserRequest{ID: 0}, 400, "INVALID_ARGUMENT", "id"},
		{"bad status", admin, UpdateUserRequest{ID: w.reps[1].ID, Status: str("gone")}, 400, "INVALID_ARGUMENT", "status"},
		{"email of another user", admin, UpdateUserRequest{ID: w.reps[1].ID, Email: str("rep3@acme.test")}, 409, "ALREADY_EXISTS", "email"},
		{"last account removed", admin, UpdateUserRequest{ID: w.reps[1].ID, Email: str("")}, 400, "INVALID_ARGUMENT", "email"},
		{"own admin role", admin, UpdateUserRequest{ID: w.admin.ID, Role: str("rep")}, 400, "INVALID_ARGUMENT", "role"},
		{"disable oneself", admin, UpdateUserRequest{ID: w.admin.ID, Status: str("disabled")}, 400, "INVALID_ARGUMENT", "status"},
		{"short password", admin, UpdateUserRequest{ID: w.reps[1].ID, Password: str("short")}, 400, "INVALID_ARGUMENT", "password"},
		{"another tenant's department", admin, UpdateUserRequest{ID: w.reps[1].ID, DepartmentID: id(w.otherDept.ID)}, 404, "DEPARTMENT_NOT_FOUND", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.org.UpdateUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.status, tt.reason, tt.field)
		})
	}
}

func TestUpsertDepartment(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	upsert := func(origin, name, parent string) (*model.Department, bool) {
		t.Helper()
		d, created, err := w.org.UpsertDepartment(app, UpsertDepartmentRequest{OriginDepartmentID: origin, Name: name, OriginParentID: parent})
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
	if got := w.store.departments[leaf.ID].Path; got != fmt.Sprintf("/%d/%d/%d/", support.ID, child.ID, leaf.ID) {
		t.Fatalf("leaf path after the move: %q", got)
	}
	top, _ := upsert("hq-a", "A renamed", "")
	if top.ParentID != nil || top.Path != fmt.Sprintf("/%d/", child.ID) {
		t.Fatalf("moved to the top: %+v", top)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    UpsertDepartmentRequest
		status int
		reason string
		field  string
	}{
		{"its own parent", app, UpsertDepartmentRequest{OriginDepartmentID: "hq", Name: "HQ", OriginParentID: "hq"}, 400, "INVALID_ARGUMENT", "origin_parent_id"},
		{"below its own child", app, UpsertDepartmentRequest{OriginDepartmentID: "hq-a", Name: "A", OriginParentID: "hq-a-1"}, 400, "INVALID_ARGUMENT", "origin_parent_id"},
		{"unknown parent", app, UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X", OriginParentID: "nope"}, 404, "DEPARTMENT_NOT_FOUND", "origin_parent_id"},
		{"parent of another tenant", app, UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X", OriginParentID: "other-only"}, 404, "DEPARTMENT_NOT_FOUND", "origin_parent_id"},
		{"no origin id", app, UpsertDepartmentRequest{Name: "X"}, 400, "INVALID_ARGUMENT", "origin_department_id"},
		{"long origin id", app, UpsertDepartmentRequest{OriginDepartmentID: strings.Repeat("x", 129), Name: "X"}, 400, "INVALID_ARGUMENT", "origin_department_id"},
		{"no name", app, UpsertDepartmentRequest{OriginDepartmentID: "x"}, 400, "INVALID_ARGUMENT", "name"},
		{"app without ingest", w.appCtx(w.readOnlyApp), UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X"}, 403, "PERMISSION_DENIED", ""},
		{"manager", w.user(w.manager), UpsertDepartmentRequest{OriginDepartmentID: "x", Name: "X"}, 403, "PERMISSION_DENIED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.org.UpsertDepartment(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.status, tt.reason, tt.field)
		})
	}
	// The other tenant's department of the same origin id is its own.
	if d, _ := (memDepartments{w.store}).ByOrigin(context.Background(), w.other.ID, "sales"); d == nil || d.ID != w.otherDept.ID {
		t.Fatal("origin ids are per tenant")
	}
}

func TestUpsertUser(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	req := UpsertUserRequest{OriginUserID: "crm-1", Name: "Partner Rep", Email: "Partner@Acme.test", Phone: "+15550001", OriginDepartmentID: "east"}
	u, created, err := w.org.UpsertUser(app, req)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if *u.Email != "partner@acme.test" || u.Role != model.RoleRep || u.Status != model.UserActive || *u.DepartmentID != w.east.ID || *u.OriginUserID != "crm-1" {
		t.Fatalf("created %+v", u)
	}
	again, created, err := w.org.UpsertUser(app, req)
	if err != nil || created || again.ID != u.ID || !again.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("same request again: %+v, created %v, %v", again, created, err)
	}
	// Every attribute is written as given: omitted ones are cleared.
	replaced, _, err := w.org.UpsertUser(app, UpsertUserRequest{OriginUserID: "crm-1", Name: "Partner Rep", Role: "manager", Status: "disabled"})
	if err != nil || replaced.ID != u.ID || replaced.Email != nil || replaced.Phone != nil || replaced.DepartmentID != nil ||
		replaced.Role != model.RoleManager || replaced.Status != model.UserDisabled {
		t.Fatalf("replaced %+v, %v", replaced, err)
	}

	tests := []struct {
		name   string
		ctx    context.Context
		req    UpsertUserRequest
		status int
		reason string
		field  string
	}{
		{"no origin id", app, UpsertUserRequest{Name: "X"}, 400, "INVALID_ARGUMENT", "origin_user_id"},
		{"no name", app, UpsertUserRequest{OriginUserID: "crm-2"}, 400, "INVALID_ARGUMENT", "name"},
		{"bad role", app, UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Role: "chief"}, 400, "INVALID_ARGUMENT", "role"},
		{"bad email", app, UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Email: "@"}, 400, "INVALID_ARGUMENT", "email"},
		{"email of another user", app, UpsertUserRequest{OriginUserID: "crm-2", Name: "X", Email: "rep1@acme.test"}, 409, "ALREADY_EXISTS", "email"},
		{"unknown department", app, UpsertUserRequest{OriginUserID: "crm-2", Name: "X", OriginDepartmentID: "nope"}, 404, "DEPARTMENT_NOT_FOUND", "origin_department_id"},
		{"app without ingest", w.appCtx(w.readOnlyApp), UpsertUserRequest{OriginUserID: "crm-2", Name: "X"}, 403, "PERMISSION_DENIED", ""},
		{"rep", w.user(w.reps[0]), UpsertUserRequest{OriginUserID: "crm-2", Name: "X"}, 403, "PERMISSION_DENIED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.org.UpsertUser(tt.ctx, tt.req)
			wantOrgErr(t, err, tt.status, tt.reason, tt.field)
		})
	}
}

func TestUpsertUserDisablingSignsOut(t *testing.T) {
	w := newOrgWorld(t)
	app := w.appCtx(w.app)
	u, _, err := w.org.UpsertUser(app, UpsertUserRequest{OriginUserID: "crm-7", Name: "Seven", Email: "seven@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	pw := "seven's password"
	if _, err := w.org.UpdateUser(w.user(w.admin), UpdateUserRequest{ID: u.ID, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	pair, err := w.auth.Login(context.Background(), LoginRequest{Account: "seven@acme.test", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	// The partner's upsert never touches the password, but disabling signs out.
	if _, _, err := w.org.UpsertUser(app, UpsertUserRequest{OriginUserID: "crm-7", Name: "Seven", Email: "seven@acme.test", Status: "disabled"}); err != nil {
		t.Fatal(err)
	}
	if got := w.store.users[u.ID].PasswordHash; got == "" {
		t.Fatal("the upsert cleared the password")
	}
	_, err = w.auth.Refresh(context.Background(), RefreshRequest{RefreshToken: pair.RefreshToken})
	wantOrgErr(t, err, 401, "", "")
}
