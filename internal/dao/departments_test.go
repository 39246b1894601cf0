package dao_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// An update reports a move by the path stored when it writes, not by the
// department as its caller read it: written back under the parent it was
// read under after another update moved it, the department moved.
func TestDepartmentUpdateReportsAMoveFromTheStoredPath(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		deps := dao.NewDepartments(db)
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}
		create := func(name string, parent *model.Department) *model.Department {
			d := &model.Department{TenantID: tenant.ID, Name: name}
			if err := deps.Create(ctx, d, parent); err != nil {
				t.Fatal(err)
			}
			return d
		}
		a, b := create("a", nil), create("b", nil)
		d := create("d", a)
		read, other := *d, *d
		if moved, err := deps.Update(ctx, &other, b); err != nil || !moved {
			t.Fatalf("a move under b: moved %v, %v", moved, err)
		}
		read.Name = "renamed"
		if moved, err := deps.Update(ctx, &read, a); err != nil || !moved {
			t.Fatalf("written back under a from the read before the move: moved %v, %v; want moved", moved, err)
		}
		if read.Path != fmt.Sprintf("%s%d/", a.Path, d.ID) {
			t.Fatalf("path %q, want under %q", read.Path, a.Path)
		}
		read.Name = "again"
		if moved, err := deps.Update(ctx, &read, a); err != nil || moved {
			t.Fatalf("a rename in place: moved %v, %v; want not moved", moved, err)
		}
	})
}

// No path outgrows its column: a move is refused when a department below
// the one moved would end up too deep, and a create when its parent was
// moved deeper after the caller read it.
func TestDepartmentPathsStayWithinTheColumn(t *testing.T) {
	daotest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		deps := dao.NewDepartments(db)
		tenant := model.Tenant{Name: "A"}
		if err := db.Create(&tenant).Error; err != nil {
			t.Fatal(err)
		}
		create := func(name string, parent *model.Department) *model.Department {
			d := &model.Department{TenantID: tenant.ID, Name: name}
			if err := deps.Create(ctx, d, parent); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			return d
		}
		chain := []*model.Department{create("c", nil)}
		for len(chain[len(chain)-1].Path) < model.MaxDepartmentPath-10 {
			chain = append(chain, create("c", chain[len(chain)-1]))
		}
		// under returns the deepest department of the chain under which
		// a path of length n ends up at most max long.
		under := func(n, max int) *model.Department {
			for i := len(chain) - 1; i >= 0; i-- {
				if len(chain[i].Path)+n <= max {
					return chain[i]
				}
			}
			t.Fatal("no department in the chain fits")
			return nil
		}
		tooDeep := func(what string, err error) {
			t.Helper()
			if !errs.Is(err, errs.ReasonInvalidArgument) {
				t.Fatalf("%s: %v, want INVALID_ARGUMENT", what, err)
			}
		}

		top := create("top", nil)
		leaf := create("leaf", create("mid", top))
		// top itself fits under p; leaf, two levels below it, does not.
		p := under(len(top.Path)-1, model.MaxDepartmentPath)
		if len(p.Path)+len(leaf.Path)-1 <= model.MaxDepartmentPath {
			t.Fatalf("the subtree of %q fits under %q", top.Path, p.Path)
		}
		moved := *top
		_, err := deps.Update(ctx, &moved, p)
		tooDeep("a move that takes the subtree too deep", err)
		if got, err := deps.ByID(ctx, tenant.ID, leaf.ID); err != nil || got.Path != leaf.Path {
			t.Fatalf("leaf after the refused move: %+v, %v; want it where it was", got, err)
		}

		read := *create("read", nil)
		// read moves to where it fits, but a department below it does not.
		var deeper *model.Department
		for i := len(chain) - 1; i >= 0 && deeper == nil; i-- {
			if n := len(chain[i].Path) + len(read.Path) - 1; n <= model.MaxDepartmentPath && n+21 > model.MaxDepartmentPath {
				deeper = chain[i]
			}
		}
		if deeper == nil {
			t.Fatal("no department in the chain to move read under")
		}
		stored := read
		if _, err := deps.Update(ctx, &stored, deeper); err != nil {
			t.Fatal(err)
		}
		err = deps.Create(ctx, &model.Department{TenantID: tenant.ID, Name: "child"}, &read)
		tooDeep("a create under a parent moved deeper since it was read", err)
	})
}
