//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/model"
)

type orgUser struct {
	ID           int64   `json:"id"`
	Name         string  `json:"name"`
	Email        *string `json:"email"`
	Phone        *string `json:"phone"`
	Role         string  `json:"role"`
	Status       string  `json:"status"`
	DepartmentID *int64  `json:"department_id"`
}

type orgUserPage struct {
	Users         []orgUser `json:"users"`
	NextPageToken string    `json:"next_page_token"`
	Total         int64     `json:"total"`
}

// orgListIDs lists every user the token sees over HTTP, page by page.
func orgListIDs(t *testing.T, s *Service, token, query string) []int64 {
	t.Helper()
	var ids []int64
	next := ""
	for range 100 {
		var page orgUserPage
		authCall(t, s, http.MethodGet, "/api/v1/users?page_size=2&page_token="+next+query, token, nil).
			want(t, http.StatusOK, "").decode(t, &page)
		for _, u := range page.Users {
			ids = append(ids, u.ID)
		}
		if next = page.NextPageToken; next == "" {
			if int(page.Total) != len(ids) {
				t.Fatalf("total %d, listed %d", page.Total, len(ids))
			}
			return ids
		}
	}
	t.Fatal("too many pages")
	return nil
}

func orgIDs(us ...model.User) []int64 {
	out := []int64{}
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func TestOrgMeDepartmentsAndUsersOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	rep3 := f.Token(t, f.Reps[2])

	var me struct {
		User       orgUser `json:"user"`
		Role       string  `json:"role"`
		Tenant     struct{ ID int64 }
		Department *struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"department"`
	}
	authCall(t, s, http.MethodGet, "/api/v1/me", rep3, nil).want(t, http.StatusOK, "").decode(t, &me)
	if me.User.ID != f.Reps[2].ID || me.Role != "rep" || me.Tenant.ID != f.Tenant.ID || me.Department == nil ||
		me.Department.ID != f.East.ID || me.Department.Path != f.East.Path {
		t.Fatalf("/me: %+v", me)
	}

	// Every member sees the tenant's whole tree.
	var tree struct {
		Departments []struct {
			ID       int64 `json:"id"`
			Children []struct {
				ID int64 `json:"id"`
			} `json:"children"`
		} `json:"departments"`
	}
	authCall(t, s, http.MethodGet, "/api/v1/departments", rep3, nil).want(t, http.StatusOK, "").decode(t, &tree)
	if len(tree.Departments) != 2 || tree.Departments[0].ID != f.Sales.ID || tree.Departments[1].ID != f.Support.ID ||
		len(tree.Departments[0].Children) != 1 || tree.Departments[0].Children[0].ID != f.East.ID {
		t.Fatalf("tree: %+v", tree)
	}

	// Users follow the data scope: self, department subtree, tenant.
	tests := []struct {
		name  string
		token string
		query string
		want  []int64
	}{
		{"rep", f.Token(t, f.Reps[0]), "", orgIDs(f.Reps[0])},
		{"manager", f.Token(t, f.Manager), "", orgIDs(f.Manager, f.Reps[0], f.Reps[1], f.Reps[2])},
		{"admin", f.Token(t, f.Admin), "", orgIDs(f.Admin, f.Manager, f.Reps[0], f.Reps[1], f.Reps[2], f.Reps[3])},
		{"admin, east", f.Token(t, f.Admin), fmt.Sprintf("&department_id=%d", f.East.ID), orgIDs(f.Reps[2])},
		{"manager, support", f.Token(t, f.Manager), fmt.Sprintf("&department_id=%d", f.Support.ID), orgIDs()},
		{"app", f.AppToken(t), "", orgIDs(f.Admin, f.Manager, f.Reps[0], f.Reps[1], f.Reps[2], f.Reps[3])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := orgListIDs(t, s, tt.token, tt.query); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	r := authCall(t, s, http.MethodGet, "/api/v1/users?page_size=many", rep3, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if r.Metadata["field"] != "page_size" {
		t.Fatalf("bad page_size names %q", r.Metadata["field"])
	}
	authCall(t, s, http.MethodGet, "/api/v1/users?page_size=101", rep3, nil).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodGet, "/api/v1/me", f.AppToken(t), nil).want(t, http.StatusForbidden, "PERMISSION_DENIED")
}

func TestOrgAdminOnlyWritesOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)
	newUser := map[string]any{"name": "New Rep", "email": "new.rep." + f.App.AppKey + "@test.mgv", "password": "a good password", "department_id": f.Support.ID}

	for _, who := range []model.User{f.Reps[0], f.Manager} {
		tok := f.Token(t, who)
		authCall(t, s, http.MethodPost, "/api/v1/users", tok, newUser).want(t, http.StatusForbidden, "PERMISSION_DENIED")
		authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[1].ID), tok, map[string]string{"role": "admin"}).
			want(t, http.StatusForbidden, "PERMISSION_DENIED")
	}
	authCall(t, s, http.MethodPost, "/api/v1/users", f.AppToken(t), newUser).want(t, http.StatusForbidden, "PERMISSION_DENIED")

	var u orgUser
	authCall(t, s, http.MethodPost, "/api/v1/users", admin, newUser).want(t, http.StatusCreated, "").decode(t, &u)
	if u.ID == 0 || u.Role != "rep" || u.Status != "active" || u.DepartmentID == nil || *u.DepartmentID != f.Support.ID {
		t.Fatalf("created %+v", u)
	}
	authLogin(t, s, newUser["email"].(string), "a good password")
	authCall(t, s, http.MethodPost, "/api/v1/users", admin, newUser).want(t, http.StatusConflict, "ALREADY_EXISTS")

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"email": "x@test.mgv", "password": "a good password"}, "name"},
		{map[string]any{"name": "X", "email": "not an email", "password": "a good password"}, "email"},
		{map[string]any{"name": "X", "email": "y@test.mgv", "password": "short"}, "password"},
		{map[string]any{"name": "X", "email": "y@test.mgv", "password": "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}, "password"},
		{map[string]any{"name": "X", "email": "y@test.mgv", "password": "a good password", "role": "owner"}, "role"},
		{map[string]any{"name": "X\u0000Y", "email": "y@test.mgv", "password": "a good password"}, "name"},
	}
	for _, b := range bad {
		r := authCall(t, s, http.MethodPost, "/api/v1/users", admin, b.body).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
		if r.Metadata["field"] != b.field || !strings.HasPrefix(r.Msg, b.field) {
			t.Fatalf("%v: field %q, message %q; want %s", b.body, r.Metadata["field"], r.Msg, b.field)
		}
	}

	var changed orgUser
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", u.ID), admin, map[string]any{"role": "manager", "department_id": 0}).
		want(t, http.StatusOK, "").decode(t, &changed)
	if changed.Role != "manager" || changed.DepartmentID != nil || changed.Name != "New Rep" {
		t.Fatalf("updated %+v", changed)
	}
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Admin.ID), admin, map[string]any{"role": "rep"}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPut, "/api/v1/users/abc", admin, map[string]any{}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPut, "/api/v1/users/99999999", admin, map[string]any{"name": "x"}).want(t, http.StatusNotFound, "USER_NOT_FOUND")
}

func TestOrgOtherTenantIsNotFoundOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	g := NewFixture(t, s)
	s.Start()
	admin := f.Token(t, f.Admin)

	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", g.Reps[0].ID), admin, map[string]string{"name": "stolen"}).
		want(t, http.StatusNotFound, "USER_NOT_FOUND")
	authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/users?department_id=%d", g.Sales.ID), admin, nil).
		want(t, http.StatusNotFound, "DEPARTMENT_NOT_FOUND")
	// A department of another tenant, or none at all, in a user's body is
	// unknown, and the answer names the field.
	for _, dep := range []int64{g.Sales.ID, 1 << 62} {
		for _, r := range []authResult{
			authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{
				"name": "X", "email": "x." + f.App.AppKey + "@test.mgv", "password": "a good password", "department_id": dep,
			}),
			authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[0].ID), admin, map[string]any{"department_id": dep}),
		} {
			r.want(t, http.StatusNotFound, "DEPARTMENT_NOT_FOUND")
			if r.Metadata["field"] != "department_id" || !strings.HasPrefix(r.Msg, "department_id") {
				t.Fatalf("department %d: field %q, message %q", dep, r.Metadata["field"], r.Msg)
			}
		}
	}
	listed := orgListIDs(t, s, admin, "")
	for _, u := range append(g.Reps, g.Admin, g.Manager) {
		if slices.Contains(listed, u.ID) {
			t.Fatalf("tenant %d lists user %d of tenant %d", f.Tenant.ID, u.ID, g.Tenant.ID)
		}
	}
	var tree struct {
		Departments []struct{ ID int64 } `json:"departments"`
	}
	authCall(t, s, http.MethodGet, "/api/v1/departments", admin, nil).want(t, http.StatusOK, "").decode(t, &tree)
	if len(tree.Departments) != 2 || tree.Departments[0].ID != f.Sales.ID {
		t.Fatalf("tree of another tenant leaks: %+v", tree)
	}

	org := openv1.NewOrgServiceClient(s.GRPC())
	_, err := org.ListUsers(authBearer(t.Context(), f.AppToken(t)), &openv1.ListUsersRequest{DepartmentId: g.Sales.ID})
	if code, reason := authGRPCReason(err); code != codes.NotFound || reason != "DEPARTMENT_NOT_FOUND" {
		t.Fatalf("gRPC ListUsers with another tenant's department: %v", err)
	}
}

func TestOrgUpsertsOverGRPCOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	readOnly, readOnlySecret := orgExtraApp(t, f, "read")
	ingestOnly, ingestOnlySecret := orgExtraApp(t, f, "ingest")
	s.Start()
	conn := s.GRPC()
	auth, org := openv1.NewAuthServiceClient(conn), openv1.NewOrgServiceClient(conn)
	token := func(key, secret string) string {
		t.Helper()
		res, err := auth.CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: key, AppSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		return res.AccessToken
	}
	ctx := authBearer(t.Context(), token(f.App.AppKey, f.AppSecret))

	dep := func(origin, name, parent string) *openv1.UpsertDepartmentResponse {
		t.Helper()
		res, err := org.UpsertDepartment(ctx, &openv1.UpsertDepartmentRequest{OriginDepartmentId: origin, Name: name, OriginParentId: parent})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hq := dep("crm-hq", "总部 HQ", "")
	team := dep("crm-team", "Team", "crm-hq")
	if !hq.Created || !team.Created || team.Department.ParentId != hq.Department.Id || team.Department.OriginDepartmentId != "crm-team" {
		t.Fatalf("created %v and %v", hq, team)
	}
	again := dep("crm-team", "Team", "crm-hq")
	if again.Created || again.Department.Id != team.Department.Id {
		t.Fatalf("same upsert again: %v", again)
	}
	moved := dep("crm-team", "Team B", "")
	if moved.Department.Id != team.Department.Id || moved.Department.ParentId != 0 || moved.Department.Name != "Team B" {
		t.Fatalf("moved: %v", moved)
	}
	dep("crm-team", "Team", "crm-hq")
	for _, tt := range []struct {
		req          *openv1.UpsertDepartmentRequest
		code         codes.Code
		reason, text string
	}{
		{&openv1.UpsertDepartmentRequest{OriginDepartmentId: "crm-hq", Name: "HQ", OriginParentId: "crm-team"}, codes.InvalidArgument, "INVALID_ARGUMENT", "origin_parent_id"},
		{&openv1.UpsertDepartmentRequest{OriginDepartmentId: "crm-x", Name: "X", OriginParentId: "crm-nope"}, codes.NotFound, "DEPARTMENT_NOT_FOUND", "origin_parent_id"},
		{&openv1.UpsertDepartmentRequest{OriginDepartmentId: "crm-x"}, codes.InvalidArgument, "INVALID_ARGUMENT", "name"},
		{&openv1.UpsertDepartmentRequest{Name: "X"}, codes.InvalidArgument, "INVALID_ARGUMENT", "origin_department_id"},
	} {
		_, err := org.UpsertDepartment(ctx, tt.req)
		if code, reason := authGRPCReason(err); code != tt.code || reason != tt.reason || !strings.Contains(err.Error(), tt.text) {
			t.Fatalf("%v: got %v, want %s %s naming %s", tt.req, err, tt.code, tt.reason, tt.text)
		}
	}

	userReq := &openv1.UpsertUserRequest{
		OriginUserId: "crm-u1", Name: "Partner Rep", Email: "partner." + f.App.AppKey + "@test.mgv", Phone: fmt.Sprintf("+86137%08d", f.Tenant.ID),
		Role: openv1.Role_ROLE_MANAGER, OriginDepartmentId: "crm-team",
	}
	u1, err := org.UpsertUser(ctx, userReq)
	if err != nil {
		t.Fatal(err)
	}
	if !u1.Created || u1.User.Role != openv1.Role_ROLE_MANAGER || u1.User.Status != openv1.UserStatus_USER_STATUS_ACTIVE ||
		u1.User.DepartmentId != team.Department.Id || u1.User.Email != userReq.Email {
		t.Fatalf("created %v", u1)
	}
	u1again, err := org.UpsertUser(ctx, userReq)
	if err != nil || u1again.Created || u1again.User.Id != u1.User.Id {
		t.Fatalf("same upsert again: %v, %v", u1again, err)
	}
	_, err = org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: "crm-u2", Name: "Dup", Email: *f.Reps[0].Email})
	if code, reason := authGRPCReason(err); code != codes.AlreadyExists || reason != "ALREADY_EXISTS" {
		t.Fatalf("taken email: %v", err)
	}
	_, err = org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: "crm-u2", Name: "X", OriginDepartmentId: "crm-nope"})
	if code, reason := authGRPCReason(err); code != codes.NotFound || reason != "DEPARTMENT_NOT_FOUND" {
		t.Fatalf("unknown department: %v", err)
	}
	_, err = org.UpsertUser(ctx, &openv1.UpsertUserRequest{OriginUserId: "crm-u2", Name: "X", Role: openv1.Role(42)})
	if code, _ := authGRPCReason(err); code != codes.InvalidArgument || !strings.Contains(err.Error(), "role") {
		t.Fatalf("unknown role: %v", err)
	}

	// ListUsers pages through the tenant: the fixture's six and the new one.
	var listed []int64
	next := ""
	for {
		page, err := org.ListUsers(ctx, &openv1.ListUsersRequest{PageSize: 3, PageToken: next})
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 {
			t.Fatalf("total %d, want 7", page.Total)
		}
		for _, u := range page.Users {
			listed = append(listed, u.Id)
		}
		if next = page.NextPageToken; next == "" {
			break
		}
	}
	if want := append(orgIDs(f.Admin, f.Manager, f.Reps[0], f.Reps[1], f.Reps[2], f.Reps[3]), u1.User.Id); !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}
	inHQ, err := org.ListUsers(ctx, &openv1.ListUsersRequest{DepartmentId: hq.Department.Id})
	if err != nil || inHQ.Total != 1 || inHQ.Users[0].Id != u1.User.Id {
		t.Fatalf("users below HQ: %v, %v", inHQ, err)
	}

	// Scopes: only org lists or writes the org; read and ingest do neither.
	for scope, app := range map[string]string{"read": token(readOnly.AppKey, readOnlySecret), "ingest": token(ingestOnly.AppKey, ingestOnlySecret)} {
		actx := authBearer(t.Context(), app)
		_, err := org.ListUsers(actx, &openv1.ListUsersRequest{})
		if code, reason := authGRPCReason(err); code != codes.PermissionDenied || reason != "PERMISSION_DENIED" {
			t.Fatalf("%s scope listing users: %v", scope, err)
		}
		_, err = org.UpsertDepartment(actx, &openv1.UpsertDepartmentRequest{OriginDepartmentId: "crm-y", Name: "Y"})
		if orgCode(err) != codes.PermissionDenied {
			t.Fatalf("%s scope upserting a department: %v", scope, err)
		}
		_, err = org.UpsertUser(actx, &openv1.UpsertUserRequest{OriginUserId: "crm-y", Name: "Y"})
		if orgCode(err) != codes.PermissionDenied {
			t.Fatalf("%s scope upserting a user: %v", scope, err)
		}
	}
	// A user's token is no partner's: a rep cannot upsert over gRPC.
	_, err = org.UpsertUser(authBearer(t.Context(), f.Token(t, f.Reps[0])), &openv1.UpsertUserRequest{OriginUserId: "crm-u3", Name: "X"})
	if orgCode(err) != codes.PermissionDenied {
		t.Fatalf("rep upserting: %v", err)
	}
}

func orgCode(err error) codes.Code {
	code, _ := authGRPCReason(err)
	return code
}

// orgExtraApp adds an app with the given scopes to the fixture's tenant.
func orgExtraApp(t *testing.T, f *Fixture, scopes string) (model.App, string) {
	t.Helper()
	secret := "secret-" + scopes + "-" + f.App.AppKey
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := model.App{TenantID: f.Tenant.ID, Name: scopes + " only", AppKey: f.App.AppKey + "_" + scopes, SecretHash: string(hash),
		Scopes: scopes, RateTier: "standard", CreatedAt: time.Now().UTC()}
	if err := f.DB.Create(&a).Error; err != nil {
		t.Fatal(err)
	}
	return a, secret
}

func TestSeedDemoTenantOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	const password = "demo password 1"
	seed := func(args ...string) string {
		t.Helper()
		out, err := s.Command(append([]string{"seed"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("seed %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	first := seed("--password", password)
	key := regexp.MustCompile(`app_key:\s+(\S+)`).FindStringSubmatch(first)
	secret := regexp.MustCompile(`app_secret:\s+(\S+)`).FindStringSubmatch(first)
	if key == nil || secret == nil || !strings.Contains(first, "admin@demo.mgv") || strings.Contains(first, password) {
		t.Fatalf("first seed printed:\n%s", first)
	}
	// The second time from the environment, which ps does not show: the
	// variable is no setting, and was refused as an unknown one.
	cmd := s.Command("seed")
	cmd.Env = append(cmd.Env, "MGV_SEED_PASSWORD="+password)
	out2, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("seed with MGV_SEED_PASSWORD: %v\n%s", err, out2)
	}
	second := string(out2)
	if !strings.Contains(second, key[1]) || strings.Contains(second, secret[1]) || !strings.Contains(second, "unchanged") {
		t.Fatalf("second seed printed:\n%s", second)
	}
	out, err := s.Command("seed", "--password", "short").CombinedOutput()
	if _, isExit := err.(*exec.ExitError); !isExit || !strings.Contains(string(out), "--password") {
		t.Fatalf("short password: %v\n%s", err, out)
	}

	s.Start()
	admin := authLogin(t, s, "admin@demo.mgv", password)
	var page orgUserPage
	authCall(t, s, http.MethodGet, "/api/v1/users", admin.AccessToken, nil).want(t, http.StatusOK, "").decode(t, &page)
	if page.Total != 7 {
		t.Fatalf("the demo tenant has %d users after two seeds, want 7", page.Total)
	}
	var tree struct {
		Departments []struct {
			Children []struct{ ID int64 } `json:"children"`
		} `json:"departments"`
	}
	authCall(t, s, http.MethodGet, "/api/v1/departments", admin.AccessToken, nil).want(t, http.StatusOK, "").decode(t, &tree)
	if len(tree.Departments) != 2 || len(tree.Departments[0].Children) != 2 {
		t.Fatalf("demo tree: %+v", tree)
	}
	// Every demo user signs in with the same password, by email or phone.
	authLogin(t, s, "+8613800000002", password)
	res, err := openv1.NewAuthServiceClient(s.GRPC()).CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: key[1], AppSecret: secret[1]})
	if err != nil || res.AccessToken == "" {
		t.Fatalf("the printed app credentials: %v", err)
	}
}
