package server

import (
	"context"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// Deal serves DealService.
type Deal struct {
	openv1.UnimplementedDealServiceServer
	Ingest *conversation.Ingest
}

// UpsertDeal writes a deal by the partner's id.
func (s Deal) UpsertDeal(ctx context.Context, req *openv1.UpsertDealRequest) (*openv1.UpsertDealResponse, error) {
	d, created, err := s.Ingest.UpsertDeal(ctx, conversation.UpsertDealRequest{
		OriginDealID: req.GetOriginDealId(),
		Name:         req.GetName(),
		AccountName:  req.GetAccountName(),
		Stage:        req.GetStage(),
		AmountCents:  req.GetAmountCents(),
		Owner:        conversation.Ref{ID: req.GetOwnerUserId(), OriginID: req.GetOriginOwnerUserId()},
	})
	if err != nil {
		return nil, err
	}
	out := &openv1.Deal{
		Id: d.ID, OriginDealId: d.OriginDealID, Name: d.Name, AccountName: d.AccountName,
		Stage: d.Stage, AmountCents: d.AmountCents,
	}
	if d.OwnerUserID != nil {
		out.OwnerUserId = *d.OwnerUserID
	}
	return &openv1.UpsertDealResponse{Deal: out, Created: created}, nil
}
