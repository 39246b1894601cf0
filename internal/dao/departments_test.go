package dao_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/dao/daotest"
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
