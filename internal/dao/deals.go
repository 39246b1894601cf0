package dao

import (
	"context"

	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Deals stores the partners' deals.
type Deals struct{ db *gorm.DB }

// NewDeals works on db.
func NewDeals(db *gorm.DB) *Deals { return &Deals{db: db} }

// Get returns the tenant's deal with this id, or with this origin id when
// id is 0. field names the request field for the not-found error.
func (r *Deals) Get(ctx context.Context, tenantID, id int64, originID, field string) (model.Deal, error) {
	q := conn(ctx, r.db).Where("tenant_id = ?", tenantID)
	if id != 0 {
		q = q.Where("id = ?", id)
	} else {
		q = q.Where("origin_deal_id = ?", originID)
	}
	var d model.Deal
	err := q.Take(&d).Error
	return d, dbError(err, errs.NotFound(errs.ReasonDealNotFound, "%s: no such deal in this tenant", field).With("field", field))
}

// Upsert creates the deal with d's origin id or overwrites its attributes,
// and reports whether it created it. Concurrent upserts of one origin id
// meet at the unique key: the loser updates the winner's row.
func (r *Deals) Upsert(ctx context.Context, d *model.Deal) (bool, error) {
	for attempt := 0; ; attempt++ {
		var existing model.Deal
		err := conn(ctx, r.db).Where("tenant_id = ? AND origin_deal_id = ?", d.TenantID, d.OriginDealID).Take(&existing).Error
		switch err := dbError(err, errNoDeal); {
		case err == errNoDeal:
			d.ID = 0
			d.CreatedAt = dbNow()
			d.UpdatedAt = d.CreatedAt
			err := dbError(conn(ctx, r.db).Create(d).Error, nil)
			if isDuplicate(err) && attempt == 0 {
				continue
			}
			return err == nil, err
		case err != nil:
			return false, err
		}
		d.ID, d.CreatedAt = existing.ID, existing.CreatedAt
		if sameDeal(existing, *d) {
			d.UpdatedAt = existing.UpdatedAt
			return false, nil
		}
		d.UpdatedAt = dbNow()
		err = conn(ctx, r.db).Model(&model.Deal{}).Where("id = ?", existing.ID).Updates(map[string]any{
			"name": d.Name, "account_name": d.AccountName, "stage": d.Stage,
			"amount_cents": d.AmountCents, "owner_user_id": d.OwnerUserID, "updated_at": d.UpdatedAt,
		}).Error
		return false, dbError(err, nil)
	}
}

// errNoDeal tells "no such deal" apart, where absence is an expected answer.
var errNoDeal = errs.NotFound(errs.ReasonNotFound, "no such row")

func sameDeal(a, b model.Deal) bool {
	sameOwner := (a.OwnerUserID == nil) == (b.OwnerUserID == nil) &&
		(a.OwnerUserID == nil || *a.OwnerUserID == *b.OwnerUserID)
	return sameOwner && a.Name == b.Name && a.AccountName == b.AccountName && a.Stage == b.Stage && a.AmountCents == b.AmountCents
}
