package identity

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// UserRepo stores users. Email and phone are unique across tenants, because
// they are the sign-in accounts and a login names no tenant.
type UserRepo interface {
	ByID(ctx context.Context, tenantID, id int64) (*model.User, error)
	ByEmail(ctx context.Context, email string) (*model.User, error)
	// ByPhones lists the users whose phone is one of phones.
	ByPhones(ctx context.Context, phones []string) ([]model.User, error)
	ByOrigin(ctx context.Context, tenantID int64, originUserID string) (*model.User, error)
	Create(ctx context.Context, u *model.User) error
	// Update writes the attributes of u (password hash included) that
	// differ from before, the user as read, so a change stored meanwhile
	// to another attribute stays.
	Update(ctx context.Context, before, u *model.User) error
	// SetPassword writes only the password hash of an active user; false
	// when the user is not active.
	SetPassword(ctx context.Context, tenantID, id int64, hash string, at time.Time) (bool, error)
	// List pages through the users the scope may see by id, from after
	// afterID, keeping those of the department subtree at departmentPath
	// unless it is empty; total counts all users matching.
	List(ctx context.Context, s model.Scope, departmentPath string, afterID int64, limit int) (users []model.User, total int64, err error)
	// ActiveAdmins counts the tenant's active admins.
	ActiveAdmins(ctx context.Context, tenantID int64) (int64, error)
}

// DepartmentRepo stores the department tree and keeps paths consistent.
type DepartmentRepo interface {
	ByID(ctx context.Context, tenantID, id int64) (*model.Department, error)
	ByOrigin(ctx context.Context, tenantID int64, originID string) (*model.Department, error)
	// List returns every department of the tenant ordered by id.
	List(ctx context.Context, tenantID int64) ([]model.Department, error)
	// Create inserts d under parent (nil: top level) and sets d.Path.
	Create(ctx context.Context, d *model.Department, parent *model.Department) error
	// Update writes d's name and moves d with its subtree under parent
	// (nil: top level), rewriting the paths. It reports whether d's path
	// changed from the one stored when it wrote, which may differ from
	// the one in d as read. Create and Update refuse (INVALID_ARGUMENT)
	// a write that would make a path, d's or one below it, longer than
	// model.MaxDepartmentPath.
	Update(ctx context.Context, d *model.Department, parent *model.Department) (moved bool, err error)
}

// TenantRepo stores tenants.
type TenantRepo interface {
	ByID(ctx context.Context, id int64) (*model.Tenant, error)
	Create(ctx context.Context, t *model.Tenant) error
}

// Org is the tenant's organization: who the caller is, the department tree
// and the users, written by admins (web) and by partners (gRPC, by origin id).
//
// Data scope: every member of a tenant sees the whole department tree (it
// is the frame of every picker and report and holds nothing private), while
// user lists follow the conversation scope of PRODUCT §2 through
// dao.ScopeUsers: a rep lists themselves, a manager their department
// subtree, an admin or an app the tenant. So a picker never offers a user
// whose conversations the caller cannot open.
type Org struct {
	users       UserRepo
	departments DepartmentRepo
	tenants     TenantRepo
	refresh     RefreshTokenRepo
	hasher      Hasher
	now         func() time.Time
	revocations *Revocations
	tx          Transactor
}

// Transactor runs fn in one transaction: every repository call made with
// the context fn receives joins it.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// OrgDeps are what Org needs.
type OrgDeps struct {
	Users       UserRepo
	Departments DepartmentRepo
	Tenants     TenantRepo
	Refresh     RefreshTokenRepo
	Hasher      Hasher
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Revocations refuses the tokens of a user disabled, given another
	// role, department or password; nil leaves access tokens to expire.
	Revocations *Revocations
	// Tx makes the last-admin check and the change one transaction, so
	// two admins demoting each other at once leave one; nil runs them
	// one after the other.
	Tx Transactor
}

// NewOrg builds the use cases.
func NewOrg(d OrgDeps) *Org {
	now := storeClock(d.Now)
	return &Org{users: d.Users, departments: d.Departments, tenants: d.Tenants, refresh: d.Refresh, hasher: d.Hasher, now: now, revocations: d.Revocations, tx: d.Tx}
}

// storeClock reads clock (time.Now when nil) in UTC at the millisecond
// precision of DATETIME(3), so what is returned equals what is read back.
func storeClock(clock func() time.Time) func() time.Time {
	if clock == nil {
		clock = time.Now
	}
	return func() time.Time { return clock().UTC().Truncate(time.Millisecond) }
}

// Me is the signed-in user with their tenant and department.
type Me struct {
	User       *model.User
	Tenant     *model.Tenant
	Department *model.Department // nil when the user has none
}

// Me answers who the caller is.
func (o *Org) Me(ctx context.Context) (*Me, error) {
	s, err := access.Require(ctx, access.User)
	if err != nil {
		return nil, err
	}
	u, err := o.users.ByID(ctx, s.TenantID, s.UserID)
	if err != nil {
		return nil, err
	}
	t, err := o.tenants.ByID(ctx, s.TenantID)
	if err != nil {
		return nil, err
	}
	me := &Me{User: u, Tenant: t}
	if u.DepartmentID != nil {
		d, err := o.departments.ByID(ctx, s.TenantID, *u.DepartmentID)
		switch {
		case err == nil:
			me.Department = d
		case !errs.IsNotFound(err):
			return nil, err
		}
	}
	return me, nil
}

// DepartmentNode is a department with its children, ordered by id.
type DepartmentNode struct {
	model.Department
	Children []*DepartmentNode
}

// Departments returns the tenant's department tree: its top-level nodes.
func (o *Org) Departments(ctx context.Context) ([]*DepartmentNode, error) {
	s, err := access.Require(ctx, access.OrgRead)
	if err != nil {
		return nil, err
	}
	all, err := o.departments.List(ctx, s.TenantID)
	if err != nil {
		return nil, err
	}
	return departmentTree(all), nil
}

// departmentTree links departments (ordered by id) into a forest; a node
// whose parent is missing is shown at the top rather than lost.
func departmentTree(all []model.Department) []*DepartmentNode {
	nodes := make(map[int64]*DepartmentNode, len(all))
	for _, d := range all {
		nodes[d.ID] = &DepartmentNode{Department: d, Children: []*DepartmentNode{}}
	}
	roots := []*DepartmentNode{}
	for _, d := range all {
		n := nodes[d.ID]
		if d.ParentID != nil {
			if p, ok := nodes[*d.ParentID]; ok {
				p.Children = append(p.Children, n)
				continue
			}
		}
		roots = append(roots, n)
	}
	return roots
}

// ListUsersRequest pages through users.
type ListUsersRequest struct {
	PageSize  int
	PageToken string
	// DepartmentID keeps users of that department and those below it.
	DepartmentID int64
}

// UserPage is one page of users.
type UserPage struct {
	Users         []model.User
	NextPageToken string
	Total         int64
}

// userCursor is the position in a user list; it remembers the filter so a
// token is not reused with another one.
type userCursor struct {
	AfterID      int64 `json:"a"`
	DepartmentID int64 `json:"d,omitempty"`
}

// ListUsers lists the users the caller may see (see Org), by id.
func (o *Org) ListUsers(ctx context.Context, req ListUsersRequest) (*UserPage, error) {
	s, err := access.Require(ctx, access.OrgRead)
	if err != nil {
		return nil, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	if req.DepartmentID < 0 {
		return nil, errs.InvalidArgument("department_id", "must be a department id (> 0) or 0 for every department")
	}
	var cur userCursor
	if err := access.DecodePageToken(req.PageToken, &cur); err != nil {
		return nil, err
	}
	if req.PageToken != "" && cur.AfterID <= 0 {
		return nil, access.ErrPageTokenNotIssued()
	}
	if req.PageToken != "" && cur.DepartmentID != req.DepartmentID {
		return nil, errs.InvalidArgument("page_token", "was issued for another department_id")
	}
	path := ""
	if req.DepartmentID != 0 {
		d, err := o.departments.ByID(ctx, s.TenantID, req.DepartmentID)
		if err != nil {
			return nil, err
		}
		path = d.Path
	}
	users, total, err := o.users.List(ctx, s, path, cur.AfterID, size+1)
	if err != nil {
		return nil, err
	}
	page := &UserPage{Users: users, Total: total}
	if len(users) > size {
		page.Users = users[:size]
		page.NextPageToken = access.EncodePageToken(userCursor{AfterID: users[size-1].ID, DepartmentID: req.DepartmentID})
	}
	return page, nil
}

// CreateUserRequest is an admin adding a user in the web app.
type CreateUserRequest struct {
	Name         string
	Email        string
	Phone        string
	Password     string
	Role         string // "" means rep
	DepartmentID int64  // 0: none
}

// CreateUser adds a user who can sign in with the email or phone given.
func (o *Org) CreateUser(ctx context.Context, req CreateUserRequest) (*model.User, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return nil, err
	}
	a, err := o.userAttrs(ctx, s.TenantID, 0, userAttrsRequest{
		name: req.Name, email: req.Email, phone: req.Phone, role: req.Role, status: model.UserActive,
		departmentID: req.DepartmentID, departmentField: "department_id",
	})
	if err != nil {
		return nil, err
	}
	if a.email == nil && a.phone == nil {
		return nil, errs.InvalidArgument("email", "an email or a phone is required to sign in")
	}
	if err := ValidatePassword(req.Password); err != nil {
		return nil, err
	}
	hash, err := o.hasher.Hash(req.Password)
	if err != nil {
		return nil, err
	}
	now := o.now()
	u := &model.User{TenantID: s.TenantID, PasswordHash: hash, CreatedAt: now}
	a.applyTo(u, now)
	if err := o.users.Create(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUserRequest is an admin changing a user; nil fields stay as they are.
type UpdateUserRequest struct {
	ID    int64
	Name  *string
	Email *string // "" clears
	Phone *string // "" clears
	Role  *string
	// DepartmentID 0 takes the user out of every department.
	DepartmentID *int64
	Status       *string
	// Password sets a new password.
	Password *string
}

// UpdateUser changes a user of the admin's tenant. Disabling a user,
// setting their password, or giving them a new role or department signs
// them out everywhere (refresh and access tokens): they sign in again and
// get tokens of what they are now. A user a privacy erasure anonymised
// is USER_ERASED, and stays anonymous: a new user is the way on.
func (o *Org) UpdateUser(ctx context.Context, req UpdateUserRequest) (*model.User, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return nil, err
	}
	if req.ID <= 0 {
		return nil, errs.InvalidArgument("id", "must be a user id (> 0)")
	}
	u, err := o.users.ByID(ctx, s.TenantID, req.ID)
	if err != nil {
		return nil, err
	}
	if u.Erased() {
		// A name or an address given to the anonymised row would make
		// the erased person's kept conversations theirs again.
		return nil, errs.UserErased("id", u.ID)
	}
	ar := userAttrsRequest{
		name: u.Name, storedName: u.Name, email: orgStr(u.Email), phone: orgStr(u.Phone), storedPhone: orgStr(u.Phone), role: u.Role, status: u.Status,
		departmentID: orgID(u.DepartmentID), departmentField: "department_id",
	}
	orgAssign(&ar.name, req.Name)
	orgAssign(&ar.email, req.Email)
	orgAssign(&ar.phone, req.Phone)
	orgAssign(&ar.role, req.Role)
	orgAssign(&ar.status, req.Status)
	orgAssign(&ar.departmentID, req.DepartmentID)
	a, err := o.userAttrs(ctx, s.TenantID, u.ID, ar)
	if err != nil {
		return nil, err
	}
	if u.ID == s.UserID {
		// An admin cannot lock themselves out.
		if a.role != model.RoleAdmin {
			return nil, errs.InvalidArgument("role", "you cannot take away your own admin role")
		}
		if a.status != model.UserActive {
			return nil, errs.InvalidArgument("status", "you cannot disable yourself")
		}
	}
	if a.email == nil && a.phone == nil && (u.PasswordHash != "" || req.Password != nil) {
		return nil, errs.InvalidArgument("email", "an email or a phone is required to sign in")
	}
	signOut := a.status != model.UserActive && u.Status == model.UserActive
	reason := revocationReason(u, a)
	if req.Password != nil {
		if err := ValidatePassword(*req.Password); err != nil {
			return nil, err
		}
		if a.passwordHash, err = o.hasher.Hash(*req.Password); err != nil {
			return nil, err
		}
		signOut = true
		if reason == "" || reason == RevokedRole || reason == RevokedDepartment {
			reason = RevokedPassword
		}
	}
	if err := o.writeUser(ctx, u, a, o.now(), signOut, reason); err != nil {
		return nil, err
	}
	return u, nil
}

// UpsertDepartmentRequest mirrors a partner's department by its origin id.
type UpsertDepartmentRequest struct {
	OriginDepartmentID string
	Name               string
	// OriginParentID must have been upserted before; "" is top level.
	OriginParentID string
}

// UpsertDepartment creates the department with this origin id, or renames
// and moves it. It reports whether it created it.
func (o *Org) UpsertDepartment(ctx context.Context, req UpsertDepartmentRequest) (*model.Department, bool, error) {
	s, err := access.Require(ctx, access.OrgWrite)
	if err != nil {
		return nil, false, err
	}
	if err := orgOriginID("origin_department_id", req.OriginDepartmentID, true); err != nil {
		return nil, false, err
	}
	name, err := orgName("name", req.Name)
	if err != nil {
		return nil, false, err
	}
	if err := orgOriginID("origin_parent_id", req.OriginParentID, false); err != nil {
		return nil, false, err
	}
	if req.OriginParentID == req.OriginDepartmentID {
		return nil, false, errs.InvalidArgument("origin_parent_id", "a department cannot be its own parent")
	}
	var parent *model.Department
	if req.OriginParentID != "" {
		parent, err = o.departmentByOrigin(ctx, s.TenantID, "origin_parent_id", req.OriginParentID)
		if err != nil {
			return nil, false, err
		}
		// The store checks again under its tree lock, with the paths of
		// the department's subtree.
		if len(parent.Path)+21 > model.MaxDepartmentPath {
			return nil, false, errs.InvalidArgument("origin_parent_id", "the department tree would be too deep")
		}
	}
	// A concurrent create of the same origin id loses on the unique key
	// and is retried as an update.
	for attempt := 0; ; attempt++ {
		d, created, err := o.upsertDepartment(ctx, s.TenantID, req.OriginDepartmentID, name, parent)
		if err != nil && attempt == 0 && errs.IsConflict(err) {
			continue
		}
		return d, created, err
	}
}

func (o *Org) upsertDepartment(ctx context.Context, tenantID int64, origin, name string, parent *model.Department) (*model.Department, bool, error) {
	now := o.now()
	d, err := o.departments.ByOrigin(ctx, tenantID, origin)
	if errs.IsNotFound(err) {
		if err := orgNewName("origin_department_id", origin, ""); err != nil {
			return nil, false, err
		}
		if err := orgNewName("name", name, ""); err != nil {
			return nil, false, err
		}
		d = &model.Department{TenantID: tenantID, OriginDepartmentID: &origin, Name: name, CreatedAt: now, UpdatedAt: now}
		if err := o.departments.Create(ctx, d, parent); err != nil {
			return nil, false, err
		}
		return d, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	var parentID *int64
	if parent != nil {
		if strings.HasPrefix(parent.Path, d.Path) {
			return nil, false, errs.InvalidArgument("origin_parent_id", "%q is below this department: a department cannot be its own ancestor", *parent.OriginDepartmentID)
		}
		parentID = &parent.ID
	}
	if d.Name == name && orgSameID(d.ParentID, parentID) {
		return d, false, nil
	}
	if err := orgNewName("name", name, d.Name); err != nil {
		return nil, false, err
	}
	d.Name, d.UpdatedAt = name, now
	write := func(ctx context.Context) error {
		// Whether the members' path changed is decided by the write, not
		// by d as read: another upsert may have moved it meanwhile, and
		// this one then moves it back.
		moved, err := o.departments.Update(ctx, d, parent)
		if err != nil || !moved {
			return err
		}
		// The members' tokens carry the old department path, which decides
		// what a manager sees: they end, as for a change of department. In
		// the move's transaction: a move kept without its revocation would
		// look done to a retry, which would end nothing.
		return o.revokeMembers(ctx, tenantID, d.Path, now)
	}
	if o.tx == nil {
		err = write(ctx)
	} else {
		err = o.tx.InTx(ctx, write)
	}
	if err != nil {
		return nil, false, err
	}
	return d, false, nil
}

// revokeMembers ends the tokens of every user in the department subtree at
// path, as a change of their department does (revoke): their refresh
// tokens, then their token versions, all raised at once under one
// revision. The revision sequence, which every raise of the fleet takes,
// is so held for one statement until the move commits, not for one raise
// per member: the revocations of other users, in any tenant, do not wait
// for a large department to move.
func (o *Org) revokeMembers(ctx context.Context, tenantID int64, path string, now time.Time) error {
	all := model.Scope{TenantID: tenantID, Role: model.RoleAdmin}
	var ids []int64
	for after := int64(0); ; {
		users, _, err := o.users.List(ctx, all, path, after, 500)
		if err != nil {
			return err
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if len(users) < 500 {
			break
		}
		after = users[len(users)-1].ID
	}
	if len(ids) == 0 {
		return nil
	}
	if err := o.refresh.RevokeUsers(ctx, tenantID, ids, now); err != nil {
		return err
	}
	return o.revocations.RevokeMany(ctx, model.TokenVersionUser, tenantID, ids, RevokedDepartment)
}

func (o *Org) departmentByOrigin(ctx context.Context, tenantID int64, field, origin string) (*model.Department, error) {
	d, err := o.departments.ByOrigin(ctx, tenantID, origin)
	if errs.IsNotFound(err) {
		return nil, errs.NotFound(errs.ReasonDepartmentNotFound, "%s: no department with origin id %q (upsert it first)", field, origin).With("field", field)
	}
	return d, err
}

// UpsertUserRequest mirrors a partner's user by origin id; every attribute is
// written as given, so an empty one clears it or takes its default.
type UpsertUserRequest struct {
	OriginUserID       string
	Name               string
	Email              string
	Phone              string
	Role               string // "" means rep
	OriginDepartmentID string // "": no department
	Status             string // "" means active
}

// UpsertUser creates or replaces the user with this origin id. The password
// is never touched: partners do not manage it. It reports whether it
// created the user.
func (o *Org) UpsertUser(ctx context.Context, req UpsertUserRequest) (*model.User, bool, error) {
	s, err := access.Require(ctx, access.OrgWrite)
	if err != nil {
		return nil, false, err
	}
	if err := orgOriginID("origin_user_id", req.OriginUserID, true); err != nil {
		return nil, false, err
	}
	if err := orgOriginID("origin_department_id", req.OriginDepartmentID, false); err != nil {
		return nil, false, err
	}
	ar := userAttrsRequest{name: req.Name, email: req.Email, phone: req.Phone, role: req.Role, status: req.Status}
	if ar.status == "" {
		ar.status = model.UserActive
	}
	if req.OriginDepartmentID != "" {
		d, err := o.departmentByOrigin(ctx, s.TenantID, "origin_department_id", req.OriginDepartmentID)
		if err != nil {
			return nil, false, err
		}
		ar.departmentID = d.ID
	}
	for attempt := 0; ; attempt++ {
		u, created, err := o.upsertUser(ctx, s, req.OriginUserID, ar)
		if err != nil && attempt == 0 && (errs.IsConflict(err) || errs.Is(err, errs.ReasonUserErased)) {
			// Changed meanwhile; or erased, which cleared the origin id:
			// it names no user now, and the request creates one.
			continue
		}
		return u, created, err
	}
}

func (o *Org) upsertUser(ctx context.Context, s model.Scope, origin string, ar userAttrsRequest) (*model.User, bool, error) {
	tenantID := s.TenantID
	now := o.now()
	u, err := o.users.ByOrigin(ctx, tenantID, origin)
	switch {
	case errs.IsNotFound(err):
		u = nil
	case err != nil:
		return nil, false, err
	}
	var id int64
	if u != nil {
		id, ar.storedName = u.ID, u.Name
	} else if err := orgNewName("origin_user_id", origin, ""); err != nil {
		return nil, false, err
	}
	a, err := o.userAttrs(ctx, tenantID, id, ar)
	if err != nil {
		return nil, false, err
	}
	if s.Role == model.RoleApp {
		if err := appMayWrite(u, a); err != nil {
			return nil, false, err
		}
	}
	if u == nil {
		u = &model.User{TenantID: tenantID, OriginUserID: &origin, CreatedAt: now}
		a.applyTo(u, now)
		if err := o.users.Create(ctx, u); err != nil {
			return nil, false, err
		}
		return u, true, nil
	}
	if a.same(u) {
		return u, false, nil
	}
	signOut := a.status != model.UserActive && u.Status == model.UserActive
	reason := revocationReason(u, a)
	if err := o.writeUser(ctx, u, a, now, signOut, reason); err != nil {
		return nil, false, err
	}
	return u, false, nil
}

// revocationReason tells why u's tokens end once a is applied: disabled,
// a new role or a new department; "" when they stay valid.
func revocationReason(u *model.User, a *userAttrs) string {
	switch {
	case a.status != model.UserActive && u.Status == model.UserActive:
		return RevokedDisabled
	case a.role != u.Role:
		return RevokedRole
	case !orgSameID(u.DepartmentID, a.departmentID):
		return RevokedDepartment
	}
	return ""
}

// revoke ends u's tokens after a change: with a reason their access tokens
// on every instance, and with signOut or a reason their refresh tokens, so
// that a role or department change is taken up only by signing in again.
func (o *Org) revoke(ctx context.Context, u *model.User, signOut bool, reason string, now time.Time) error {
	if signOut || reason != "" {
		if err := o.refresh.RevokeUser(ctx, u.TenantID, u.ID, now); err != nil {
			return err
		}
	}
	if reason == "" {
		return nil
	}
	return o.revocations.Revoke(ctx, model.TokenVersionUser, u.TenantID, u.ID, reason)
}

// userAttrsRequest are user attributes as requested, before validation.
type userAttrsRequest struct {
	name, email, phone, role, status string
	// storedPhone is the user's phone as stored, kept as it is when
	// unchanged even if it predates E.164 normalisation.
	storedPhone string
	// storedName is the user's name as stored ("" for a new user), kept
	// when unchanged even if access.CheckName refuses it (orgNewName).
	storedName      string
	departmentID    int64
	departmentField string // "" when departmentID is already checked
}

// userAttrs are validated user attributes.
type userAttrs struct {
	name         string
	email, phone *string
	role, status string
	departmentID *int64
	// passwordHash replaces the user's password when set.
	passwordHash string
}

// userAttrs validates attributes for user id (0: a new user): formats,
// uniqueness of email and phone, and the department's tenant.
func (o *Org) userAttrs(ctx context.Context, tenantID, id int64, r userAttrsRequest) (*userAttrs, error) {
	var a userAttrs
	var err error
	if a.name, err = orgName("name", r.name); err != nil {
		return nil, err
	}
	if err := orgNewName("name", a.name, r.storedName); err != nil {
		return nil, err
	}
	if email := strings.TrimSpace(r.email); email != "" {
		if !validEmail(email) {
			return nil, errs.InvalidArgument("email", "%q is not an email address", email)
		}
		email = normalizeEmail(email)
		a.email = &email
	}
	if phone := strings.TrimSpace(r.phone); phone != "" {
		e164, ok := normalizePhone(phone)
		switch {
		case ok:
			a.phone = &e164
		case r.storedPhone != "" && phone == r.storedPhone:
			// A number stored before E.164 normalisation that the library
			// does not take: an update of other attributes keeps it.
			a.phone = &phone
		default:
			return nil, errs.InvalidArgument("phone", "%q is not a valid phone number (a number without a country code is taken as %s)", phone, DefaultPhoneRegion)
		}
	}
	switch a.role = r.role; a.role {
	case "":
		a.role = model.RoleRep
	case model.RoleRep, model.RoleManager, model.RoleAdmin:
	default:
		return nil, errs.InvalidArgument("role", "must be one of rep, manager, admin (got %q)", r.role)
	}
	switch a.status = r.status; a.status {
	case model.UserActive, model.UserDisabled:
	default:
		return nil, errs.InvalidArgument("status", "must be one of active, disabled (got %q)", r.status)
	}
	switch {
	case r.departmentID < 0:
		return nil, errs.InvalidArgument(r.departmentField, "must be a department id (> 0) or 0 for none")
	case r.departmentID > 0:
		if r.departmentField != "" {
			_, err := o.departments.ByID(ctx, tenantID, r.departmentID)
			if errs.IsNotFound(err) {
				// Named like the partners' references (departmentByOrigin):
				// another tenant's department is as unknown as none.
				return nil, errs.NotFound(errs.ReasonDepartmentNotFound, "%s: no department %d in this tenant", r.departmentField, r.departmentID).
					With("field", r.departmentField)
			}
			if err != nil {
				return nil, err
			}
		}
		dep := r.departmentID
		a.departmentID = &dep
	}
	if a.email != nil {
		if err := o.accountFree(ctx, id, "email", *a.email, o.users.ByEmail); err != nil {
			return nil, err
		}
	}
	if a.phone != nil {
		if err := o.phoneFree(ctx, id, *a.phone); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// accountFree checks that no other user signs in with this email or phone.
// The unique keys are the final word under races; this names the field.
func (o *Org) accountFree(ctx context.Context, id int64, field, value string, find func(context.Context, string) (*model.User, error)) error {
	other, err := find(ctx, value)
	switch {
	case errs.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case other.ID != id:
		return errs.AlreadyExists(field, "%s is already the account of another user", value)
	}
	return nil
}

// phoneFree checks that no other user signs in with this phone number, in
// its E.164 form or a form stored before E.164 normalisation.
func (o *Org) phoneFree(ctx context.Context, id int64, phone string) error {
	forms, ok := phoneLookup(phone)
	if !ok {
		forms = []string{phone}
	}
	others, err := o.users.ByPhones(ctx, forms)
	if err != nil {
		return err
	}
	for _, other := range others {
		if other.ID != id {
			return errs.AlreadyExists("phone", "%s is already the account of another user", phone)
		}
	}
	return nil
}

func (a *userAttrs) applyTo(u *model.User, now time.Time) {
	u.Name, u.Email, u.Phone, u.Role, u.Status, u.DepartmentID = a.name, a.email, a.phone, a.role, a.status, a.departmentID
	if a.passwordHash != "" {
		u.PasswordHash = a.passwordHash
	}
	u.UpdatedAt = now
}

func (a *userAttrs) same(u *model.User) bool {
	return u.Name == a.name && orgSameStr(u.Email, a.email) && orgSameStr(u.Phone, a.phone) &&
		u.Role == a.role && u.Status == a.status && orgSameID(u.DepartmentID, a.departmentID)
}

func orgName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", errs.InvalidArgument(field, "is required")
	case !utf8.ValidString(v):
		return "", errs.InvalidArgument(field, "must be UTF-8")
	case utf8.RuneCountInString(v) > 255:
		return "", errs.InvalidArgument(field, "must be at most 255 characters")
	}
	return v, access.CheckLine(field, v)
}

// orgNewName holds a name or an origin id that is new, or differs from the
// value stored, to access.CheckName; orgName has already held it to
// access.CheckLine. A value stored by an earlier release that CheckName
// refuses is kept as it is when it does not change: a row must stay
// editable (and a user disabled) without renaming it, and a partner
// re-sends what it sent before. stored is "" for a row being created.
func orgNewName(field, v, stored string) error {
	if v == stored {
		return nil
	}
	return access.CheckName(field, v)
}

func orgOriginID(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return errs.InvalidArgument(field, "is required")
	case utf8.RuneCountInString(v) > 128:
		return errs.InvalidArgument(field, "must be at most 128 characters")
	case strings.TrimSpace(v) != v:
		return errs.InvalidArgument(field, "must not start or end with spaces")
	}
	return access.CheckLine(field, v)
}

func orgAssign[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func orgStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func orgID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func orgSameStr(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func orgSameID(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
