package server

import (
	"context"
	"strconv"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/audit"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// Org serves OrgService.
type Org struct {
	openv1.UnimplementedOrgServiceServer
	Org *identity.Org
}

// UpsertDepartment creates or updates a department by origin id.
func (o Org) UpsertDepartment(ctx context.Context, req *openv1.UpsertDepartmentRequest) (*openv1.UpsertDepartmentResponse, error) {
	d, created, err := o.Org.UpsertDepartment(ctx, identity.UpsertDepartmentRequest{
		OriginDepartmentID: req.GetOriginDepartmentId(), Name: req.GetName(), OriginParentID: req.GetOriginParentId(),
	})
	if err != nil {
		return nil, err
	}
	return &openv1.UpsertDepartmentResponse{Department: departmentProto(d), Created: created}, nil
}

// UpsertUser creates or replaces a user by origin id.
func (o Org) UpsertUser(ctx context.Context, req *openv1.UpsertUserRequest) (*openv1.UpsertUserResponse, error) {
	role, ok := roles.known(req.GetRole())
	if !ok {
		return nil, errs.InvalidArgument("role", "unknown role %d", req.GetRole())
	}
	status, ok := userStatuses.known(req.GetStatus())
	if !ok {
		return nil, errs.InvalidArgument("status", "unknown status %d", req.GetStatus())
	}
	u, created, err := o.Org.UpsertUser(ctx, identity.UpsertUserRequest{
		OriginUserID: req.GetOriginUserId(), Name: req.GetName(), Email: req.GetEmail(), Phone: req.GetPhone(),
		Role: role, OriginDepartmentID: req.GetOriginDepartmentId(), Status: status,
	})
	if err != nil {
		return nil, err
	}
	audit.Target(ctx, "user", strconv.FormatInt(u.ID, 10))
	return &openv1.UpsertUserResponse{User: userProto(u), Created: created}, nil
}

// ListUsers lists the tenant's users by id.
func (o Org) ListUsers(ctx context.Context, req *openv1.ListUsersRequest) (*openv1.ListUsersResponse, error) {
	page, err := o.Org.ListUsers(ctx, identity.ListUsersRequest{
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), DepartmentID: req.GetDepartmentId(),
	})
	if err != nil {
		return nil, err
	}
	res := &openv1.ListUsersResponse{NextPageToken: page.NextPageToken, Total: page.Total, Users: make([]*openv1.User, 0, len(page.Users))}
	for i := range page.Users {
		res.Users = append(res.Users, userProto(&page.Users[i]))
	}
	return res, nil
}

func userProto(u *model.User) *openv1.User {
	p := &openv1.User{Id: u.ID, Name: u.Name, Role: roles.value(u.Role), Status: userStatuses.value(u.Status)}
	if u.OriginUserID != nil {
		p.OriginUserId = *u.OriginUserID
	}
	if u.Email != nil {
		p.Email = *u.Email
	}
	if u.Phone != nil {
		p.Phone = *u.Phone
	}
	if u.DepartmentID != nil {
		p.DepartmentId = *u.DepartmentID
	}
	return p
}

func departmentProto(d *model.Department) *openv1.Department {
	p := &openv1.Department{Id: d.ID, Name: d.Name}
	if d.ParentID != nil {
		p.ParentId = *d.ParentID
	}
	if d.OriginDepartmentID != nil {
		p.OriginDepartmentId = *d.OriginDepartmentID
	}
	return p
}
