package conversation

import (
	"context"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// Limits of UpsertDeal (mgv.open.v1 deal.proto).
const (
	maxDealNameChars  = 255
	maxDealStageChars = 64
)

// DealRepo stores deals.
type DealRepo interface {
	// Get finds a deal of the tenant by id, or by origin id when id is 0;
	// NOT_FOUND names field.
	Get(ctx context.Context, tenantID, id int64, originID, field string) (model.Deal, error)
	// Upsert creates or overwrites the deal with d's origin id and reports
	// whether it created it; d gets the stored id and times.
	Upsert(ctx context.Context, d *model.Deal) (bool, error)
}

// UpsertDealRequest writes a deal by the partner's id; every attribute is
// written as given. Field names in errors are those of
// mgv.open.v1.UpsertDealRequest.
type UpsertDealRequest struct {
	OriginDealID string
	Name         string
	AccountName  string
	Stage        string
	AmountCents  int64
	// Owner is optional.
	Owner Ref
}

// checkNewDealNames holds the deal's origin id, name, account name and stage
// to access.CheckName where they are new or differ from the deal stored
// with this origin id: a partner re-sending a deal an earlier release
// stored is answered as before.
func (in *Ingest) checkNewDealNames(ctx context.Context, tenantID int64, req UpsertDealRequest) error {
	stored, err := in.deals.Get(ctx, tenantID, 0, req.OriginDealID, "origin_deal_id")
	switch {
	case errs.IsNotFound(err):
		stored = model.Deal{}
	case err != nil:
		return err
	}
	for _, c := range []struct{ field, v, stored string }{
		{"origin_deal_id", req.OriginDealID, stored.OriginDealID},
		{"name", req.Name, stored.Name},
		{"account_name", req.AccountName, stored.AccountName},
		{"stage", req.Stage, stored.Stage},
	} {
		if err := checkNewName(c.field, c.v, c.stored); err != nil {
			return err
		}
	}
	return nil
}

// UpsertDeal creates the deal with this origin id or replaces its
// attributes, and returns it as stored; the same request again changes
// nothing. An owner a privacy erasure anonymised is USER_ERASED, decided
// in the write's transaction (refuseErased).
func (in *Ingest) UpsertDeal(ctx context.Context, req UpsertDealRequest) (model.Deal, bool, error) {
	s, err := access.Require(ctx, access.Ingest)
	if err != nil {
		return model.Deal{}, false, err
	}
	for _, c := range []struct {
		field, v string
		min, max int
	}{
		{"origin_deal_id", req.OriginDealID, 1, maxOriginIDChars},
		{"name", req.Name, 1, maxDealNameChars},
		{"account_name", req.AccountName, 0, maxNameChars},
		{"stage", req.Stage, 0, maxDealStageChars},
	} {
		if err := checkText(c.field, c.v, c.min, c.max); err != nil {
			return model.Deal{}, false, err
		}
	}
	if err := in.checkNewDealNames(ctx, s.TenantID, req); err != nil {
		return model.Deal{}, false, err
	}
	if req.AmountCents < 0 {
		return model.Deal{}, false, errs.InvalidArgument("amount_cents", "must be >= 0 (got %d)", req.AmountCents)
	}
	if err := checkRef(req.Owner, "owner_user_id", "origin_owner_user_id", false); err != nil {
		return model.Deal{}, false, err
	}
	d := model.Deal{TenantID: s.TenantID, OriginDealID: req.OriginDealID, Name: req.Name, AccountName: req.AccountName,
		Stage: req.Stage, AmountCents: req.AmountCents}
	var owner []attribution
	if !req.Owner.IsZero() {
		field := "owner_user_id"
		if req.Owner.ID == 0 {
			field = "origin_owner_user_id"
		}
		u, err := in.convs.User(ctx, s.TenantID, req.Owner.ID, req.Owner.OriginID, field)
		if err != nil {
			return model.Deal{}, false, err
		}
		d.OwnerUserID = &u.ID
		owner = append(owner, attribution{userID: u.ID, field: field})
	}
	var created bool
	err = in.tx.InTx(ctx, func(ctx context.Context) error {
		if err := in.refuseErased(ctx, s.TenantID, owner); err != nil {
			return err
		}
		var err error
		created, err = in.deals.Upsert(ctx, &d)
		return err
	})
	return d, created, err
}
