package controller

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/http/render"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Operations of the org routes without a gRPC twin.
const (
	OperationGetMe           = "/mgv.web.v1.OrgService/GetMe"
	OperationListDepartments = "/mgv.web.v1.OrgService/ListDepartments"
	OperationCreateUser      = "/mgv.web.v1.OrgService/CreateUser"
	OperationUpdateUser      = "/mgv.web.v1.OrgService/UpdateUser"
)

// Org serves the caller, the department tree and the users.
type Org struct {
	Org *identity.Org
}

// Routes registers the handlers.
func (o Org) Routes(r Router) {
	r.Handle(http.MethodGet, "/api/v1/me", OperationGetMe, o.Me)
	r.Handle(http.MethodGet, "/api/v1/departments", OperationListDepartments, o.Departments)
	r.Handle(http.MethodGet, "/api/v1/users", openv1.OrgService_ListUsers_FullMethodName, o.ListUsers, "page_size", "page_token", "department_id")
	r.Handle(http.MethodPost, "/api/v1/users", OperationCreateUser, o.CreateUser)
	r.Handle(http.MethodPut, "/api/v1/users/:id", OperationUpdateUser, o.UpdateUser)
}

// UserJSON is a user as the web API shows it; the password never is.
type UserJSON struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Email        *string   `json:"email"`
	Phone        *string   `json:"phone"`
	Role         string    `json:"role"`
	Status       string    `json:"status"`
	DepartmentID *int64    `json:"department_id"`
	OriginUserID *string   `json:"origin_user_id"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func userJSON(u *model.User) UserJSON {
	return UserJSON{
		ID: u.ID, Name: u.Name, Email: u.Email, Phone: u.Phone, Role: u.Role, Status: u.Status,
		DepartmentID: u.DepartmentID, OriginUserID: u.OriginUserID, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

// DepartmentJSON is a department. Path lists the ids from the root down
// ("/1/5/"), so a subtree is a prefix.
type DepartmentJSON struct {
	ID                 int64   `json:"id"`
	ParentID           *int64  `json:"parent_id"`
	Name               string  `json:"name"`
	Path               string  `json:"path"`
	OriginDepartmentID *string `json:"origin_department_id"`
}

// DepartmentNodeJSON is a department of the tree with its children.
type DepartmentNodeJSON struct {
	DepartmentJSON
	Children []DepartmentNodeJSON `json:"children"`
}

// DepartmentTreeJSON is the body of GET /departments: the top-level
// departments, each with its subtree, ordered by id.
type DepartmentTreeJSON struct {
	Departments []DepartmentNodeJSON `json:"departments"`
}

func departmentJSON(d *model.Department) DepartmentJSON {
	return DepartmentJSON{ID: d.ID, ParentID: d.ParentID, Name: d.Name, Path: d.Path, OriginDepartmentID: d.OriginDepartmentID}
}

func departmentTreeJSON(nodes []*identity.DepartmentNode) []DepartmentNodeJSON {
	out := make([]DepartmentNodeJSON, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, DepartmentNodeJSON{DepartmentJSON: departmentJSON(&n.Department), Children: departmentTreeJSON(n.Children)})
	}
	return out
}

// MeJSON is the body of GET /me.
type MeJSON struct {
	User   UserJSON   `json:"user"`
	Tenant TenantJSON `json:"tenant"`
	Role   string     `json:"role"`
	// Department is null when the user belongs to none.
	Department *DepartmentJSON `json:"department"`
}

// TenantJSON is the caller's tenant.
type TenantJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
}

// UserPageJSON is the body of GET /users.
type UserPageJSON struct {
	Users         []UserJSON `json:"users"`
	NextPageToken string     `json:"next_page_token"`
	Total         int64      `json:"total"`
}

// Me is GET /api/v1/me.
func (o Org) Me(c echo.Context) error {
	me, err := o.Org.Me(c.Request().Context())
	if err != nil {
		return err
	}
	body := MeJSON{
		User:   userJSON(me.User),
		Tenant: TenantJSON{ID: me.Tenant.ID, Name: me.Tenant.Name, Timezone: me.Tenant.Timezone},
		Role:   me.User.Role,
	}
	if me.Department != nil {
		d := departmentJSON(me.Department)
		body.Department = &d
	}
	return render.OK(c, body)
}

// Departments is GET /api/v1/departments: the tenant's tree.
func (o Org) Departments(c echo.Context) error {
	roots, err := o.Org.Departments(c.Request().Context())
	if err != nil {
		return err
	}
	return render.OK(c, DepartmentTreeJSON{Departments: departmentTreeJSON(roots)})
}

// ListUsers is GET /api/v1/users?page_size&page_token&department_id.
func (o Org) ListUsers(c echo.Context) error {
	var req identity.ListUsersRequest
	err := echo.QueryParamsBinder(c).FailFast(true).
		Int("page_size", &req.PageSize).
		String("page_token", &req.PageToken).
		Int64("department_id", &req.DepartmentID).
		BindError()
	if err != nil {
		return paramError(err, "must be an integer")
	}
	page, err := o.Org.ListUsers(c.Request().Context(), req)
	if err != nil {
		return err
	}
	users := make([]UserJSON, 0, len(page.Users))
	for i := range page.Users {
		users = append(users, userJSON(&page.Users[i]))
	}
	return render.OK(c, UserPageJSON{Users: users, NextPageToken: page.NextPageToken, Total: page.Total})
}

// CreateUser is POST /api/v1/users (admins).
func (o Org) CreateUser(c echo.Context) error {
	var body struct {
		Name         string `json:"name"`
		Email        string `json:"email"`
		Phone        string `json:"phone"`
		Password     string `json:"password"`
		Role         string `json:"role"`
		DepartmentID int64  `json:"department_id"`
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	u, err := o.Org.CreateUser(c.Request().Context(), identity.CreateUserRequest(body))
	if err != nil {
		return err
	}
	audit.Target(c.Request().Context(), "user", strconv.FormatInt(u.ID, 10))
	return render.JSON(c, http.StatusCreated, userJSON(u))
}

// UpdateUser is PUT /api/v1/users/{id} (admins): the fields sent change,
// the others stay; "" clears email or phone, department_id 0 the department.
func (o Org) UpdateUser(c echo.Context) error {
	var body struct {
		ID           int64   `json:"-"` // from the path
		Name         *string `json:"name"`
		Email        *string `json:"email"`
		Phone        *string `json:"phone"`
		Role         *string `json:"role"`
		DepartmentID *int64  `json:"department_id"`
		Status       *string `json:"status"`
		Password     *string `json:"password"`
	}
	if err := echo.PathParamsBinder(c).MustInt64("id", &body.ID).BindError(); err != nil {
		return paramError(err, "must be a user id")
	}
	if err := bind(c, &body); err != nil {
		return err
	}
	u, err := o.Org.UpdateUser(c.Request().Context(), identity.UpdateUserRequest(body))
	if err != nil {
		return err
	}
	return render.OK(c, userJSON(u))
}

// paramError names the query or path parameter Echo could not convert.
func paramError(err error, msg string) error {
	var be *echo.BindingError
	if !errors.As(err, &be) {
		return err
	}
	got := ""
	if len(be.Values) > 0 {
		got = be.Values[0]
	}
	return errs.InvalidArgument(be.Field, "%s (got %q)", msg, got)
}
