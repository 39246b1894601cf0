package server

import (
	"context"

	"github.com/megaview/mgvcore/internal/logic/search"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// Search serves SearchService.
type Search struct {
	openv1.UnimplementedSearchServiceServer
	Search *search.Service
}

// SearchTranscripts finds conversations by what was said in them. A filter
// it cannot read goes to the logic, which refuses it after the caller's
// scope.
func (s Search) SearchTranscripts(ctx context.Context, req *openv1.SearchTranscriptsRequest) (*openv1.SearchTranscriptsResponse, error) {
	f, unread := ConversationFilterFromProto(req.GetFilter())
	page, err := s.Search.Search(ctx, search.Request{
		Query: req.GetQuery(), ConversationFilter: f, SpeakerAffiliation: affiliations.name(req.GetSpeakerAffiliation()),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Unread: unread,
	})
	if err != nil {
		return nil, filterFields.Word(err)
	}
	out := &openv1.SearchTranscriptsResponse{Total: page.Total, NextPageToken: page.NextPageToken}
	for _, r := range page.Results {
		res := &openv1.SearchResult{Conversation: conversationProto(r.Conversation), Score: r.Score}
		for _, sn := range r.Snippets {
			res.Snippets = append(res.Snippets, &openv1.Snippet{Seq: int64(sn.Seq), StartMs: sn.StartMS, SpeakerKey: sn.SpeakerKey, Text: sn.Text})
		}
		out.Results = append(out.Results, res)
	}
	for _, o := range page.OwnerFacets {
		out.OwnerFacets = append(out.OwnerFacets, &openv1.OwnerFacet{OwnerUserId: o.OwnerUserID, OwnerName: o.OwnerName, Conversations: o.Conversations})
	}
	for _, d := range page.DayFacets {
		out.DayFacets = append(out.DayFacets, &openv1.DayFacet{Day: d.Day, Conversations: d.Conversations})
	}
	return out, nil
}
