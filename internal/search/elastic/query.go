package elastic

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/search"
)

// Body is the search request of q, as sent to the alias.
func Body(q search.Query) map[string]any {
	terms := make([]any, len(q.Terms))
	for i, t := range q.Terms {
		// Every term is a phrase of its own tokens: the user's text is
		// analyzed, never parsed as query syntax.
		terms[i] = map[string]any{"match_phrase": map[string]any{"sentences.text": map[string]any{"query": t.Text}}}
	}
	nestedBool := map[string]any{"must": terms}
	if q.Affiliation != "" {
		nestedBool["filter"] = []any{term("sentences.affiliation", q.Affiliation)}
	}
	filters := []any{term("tenant_id", q.TenantID)}
	if q.Owners != nil {
		filters = append(filters, termsQ("owner_user_id", q.Owners))
	}
	if len(q.OwnerIDs) > 0 {
		filters = append(filters, termsQ("owner_user_id", q.OwnerIDs))
	}
	if q.Conversations != nil {
		filters = append(filters, termsQ("conversation_id", q.Conversations))
	}
	if q.DealID != 0 {
		filters = append(filters, term("deal_id", q.DealID))
	}
	if q.Direction != "" {
		filters = append(filters, term("direction", q.Direction))
	}
	if !q.From.IsZero() || !q.To.IsZero() {
		r := map[string]any{}
		if !q.From.IsZero() {
			r["gte"] = q.From.UnixMilli()
		}
		if !q.To.IsZero() {
			r["lt"] = q.To.UnixMilli()
		}
		filters = append(filters, map[string]any{"range": map[string]any{"begin_time": r}})
	}
	if q.MinDurationMS != nil || q.MaxDurationMS != nil {
		r := map[string]any{}
		if q.MinDurationMS != nil {
			r["gte"] = *q.MinDurationMS
		}
		if q.MaxDurationMS != nil {
			r["lte"] = *q.MaxDurationMS
		}
		filters = append(filters, map[string]any{"range": map[string]any{"duration_ms": r}})
	}
	body := map[string]any{
		// One more than the page tells whether another page follows.
		"size":             q.Size + 1,
		"track_total_hits": true,
		"_source":          false,
		"sort":             []any{map[string]any{"_score": "desc"}, map[string]any{"conversation_id": "asc"}},
		"query": map[string]any{"bool": map[string]any{
			"filter": filters,
			"must": map[string]any{"nested": map[string]any{
				"path":       "sentences",
				"score_mode": "max",
				"query":      map[string]any{"bool": nestedBool},
				"inner_hits": map[string]any{
					"name":    "snippets",
					"size":    search.MaxSnippets,
					"_source": []string{"sentences.seq", "sentences.start_ms", "sentences.speaker_key"},
					"highlight": map[string]any{
						"pre_tags": []string{search.PreTag}, "post_tags": []string{search.PostTag}, "encoder": "html",
						"fields": map[string]any{"sentences.text": map[string]any{
							"type": "unified", "fragment_size": 200, "number_of_fragments": 1, "no_match_size": 200,
						}},
					},
				},
			}},
		}},
		"aggs": map[string]any{
			"owners": map[string]any{"terms": map[string]any{
				"field": "owner_user_id", "size": search.MaxOwnerFacets,
				"order": []any{map[string]any{"_count": "desc"}, map[string]any{"_key": "asc"}},
			}},
			"days": map[string]any{"date_histogram": map[string]any{
				"field": "begin_time", "calendar_interval": "1d", "time_zone": timeZone(q.Location),
				"min_doc_count": 1, "format": "yyyy-MM-dd",
			}},
		},
	}
	if q.After != nil {
		body["search_after"] = []any{q.After.Score, q.After.ID}
	}
	return body
}

func term(field string, v any) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

func termsQ(field string, vs []int64) map[string]any {
	return map[string]any{"terms": map[string]any{field: vs}}
}

// Search runs q on the alias.
func (e *Engine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	var out search.Result
	if (q.Owners != nil && len(q.Owners) == 0) || (q.Conversations != nil && len(q.Conversations) == 0) {
		return out, nil
	}
	if err := e.ensure(ctx); err != nil {
		return out, err
	}
	res, err := e.c.Search(e.o.Alias).Source(Body(q)).Do(ctx)
	if err != nil {
		return out, mapError(err)
	}
	if res.Hits != nil {
		if res.Hits.TotalHits != nil {
			out.Total = res.Hits.TotalHits.Value
		}
		for _, h := range res.Hits.Hits {
			id, err := strconv.ParseInt(h.Id, 10, 64)
			if err != nil {
				return out, errs.Internal(err)
			}
			hit := search.Hit{ConversationID: id}
			if h.Score != nil {
				hit.Score = *h.Score
			}
			if inner, ok := h.InnerHits["snippets"]; ok && inner.Hits != nil {
				for _, ih := range inner.Hits.Hits {
					var src struct {
						Seq        int    `json:"seq"`
						StartMS    int64  `json:"start_ms"`
						SpeakerKey string `json:"speaker_key"`
					}
					if err := json.Unmarshal(ih.Source, &src); err != nil {
						return out, errs.Internal(err)
					}
					text := ""
					if frags := ih.Highlight["sentences.text"]; len(frags) > 0 {
						text = search.Canonical(frags[0])
					}
					hit.Snippets = append(hit.Snippets, search.Snippet{Seq: src.Seq, StartMS: src.StartMS, SpeakerKey: src.SpeakerKey, Text: text})
				}
			}
			out.Hits = append(out.Hits, hit)
		}
		if len(out.Hits) > q.Size {
			out.Hits = out.Hits[:q.Size]
			if q.Size > 0 {
				last := out.Hits[q.Size-1]
				out.Next = &search.Cursor{Score: last.Score, ID: last.ConversationID}
			}
		}
	}
	if agg, ok := res.Aggregations.Terms("owners"); ok {
		for _, b := range agg.Buckets {
			id, _ := b.KeyNumber.Int64()
			if id == 0 {
				if f, ok := b.Key.(float64); ok {
					id = int64(f)
				}
			}
			out.Owners = append(out.Owners, search.OwnerCount{OwnerUserID: id, Conversations: b.DocCount})
		}
	}
	if agg, ok := res.Aggregations.DateHistogram("days"); ok {
		for _, b := range agg.Buckets {
			if b.DocCount == 0 || b.KeyAsString == nil {
				continue
			}
			out.Days = append(out.Days, search.DayCount{Day: *b.KeyAsString, Conversations: b.DocCount})
		}
	}
	return out, nil
}
