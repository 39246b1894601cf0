package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	olivere "github.com/olivere/elastic/v7"
	"github.com/olivere/elastic/v7/uritemplates"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/search"
)

// Body is the search request of q, as sent to the alias.
func Body(q search.Query) map[string]any {
	terms := make([]any, len(q.Terms))
	var repeats []any
	highlighted := map[string]any{textField: highlightField}
	for i, t := range q.Terms {
		// Every term is a phrase of its own tokens: the user's text is
		// analyzed, never parsed as query syntax. A term holding a
		// one-character Chinese word is matched on the one-character
		// subfield too (see uniField); a sentence matching it on both
		// fields scores it once.
		fields := []string{textField}
		if search.HasLoneHan(t.Text) {
			fields = append(fields, uniField)
			highlighted[uniField] = highlightField
		}
		phrases := make([]any, len(fields))
		for j, f := range fields {
			phrases[j] = map[string]any{"match_phrase": map[string]any{f: map[string]any{"query": t.Text}}}
		}
		terms[i] = phrases[0]
		if len(phrases) > 1 {
			terms[i] = map[string]any{"dis_max": map[string]any{"queries": phrases}}
		}
		repeats = append(repeats, repeated(t.Text, fields)...)
	}
	nestedBool := map[string]any{"must": terms}
	if len(repeats) > 0 {
		nestedBool["should"] = repeats
	}
	if q.Affiliation != "" {
		nestedBool["filter"] = []any{map[string]any{"terms": map[string]any{"sentences.affiliation": q.Affiliations()}}}
	}
	// A sentence scores search.Norm of its text times the sum of its
	// terms' search.TermWeight: under the boolean similarity each matching
	// phrase scores 1 and each repeated clause its increment. A sentence
	// indexed without a norm (by an older version) counts as 10 words.
	sentenceQuery := map[string]any{"function_score": map[string]any{
		"query": map[string]any{"bool": nestedBool},
		"functions": []any{map[string]any{"field_value_factor": map[string]any{
			"field": "sentences.norm", "missing": 1,
		}}},
		"boost_mode": "multiply",
	}}
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
				"query":      sentenceQuery,
				"inner_hits": map[string]any{
					"name":    "snippets",
					"size":    search.MaxSnippets,
					"_source": []string{"sentences.seq", "sentences.start_ms", "sentences.speaker_key"},
					"highlight": map[string]any{
						"pre_tags": []string{search.PreTag}, "post_tags": []string{search.PostTag}, "encoder": "html",
						// Each field marks what matched on it; decodeResult
						// merges the marks.
						"fields": highlighted,
						// Only the phrases: the interval clauses that count
						// repeats would have every word of a phrase marked
						// wherever it stands, alone too.
						"highlight_query": map[string]any{"bool": map[string]any{"must": terms}},
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

// highlightField is how a text field is highlighted: the whole sentence
// (number_of_fragments 0), as the embedded engine marks it: a fragment of
// 200 characters cut a long one short.
var highlightField = map[string]any{"type": "unified", "number_of_fragments": 0, "no_match_size": search.MaxSentenceBytes}

// repeated are the clauses that add the increments of search.TermWeight
// for the second and third occurrences of a term in a sentence: an ordered
// interval of n copies of the phrase, which needs n occurrences that do not
// overlap, each scoring its increment and no more (constant_score). With
// two fields, n occurrences on either count (on the bigram profile the
// one-character subfield finds every occurrence the main field finds).
func repeated(text string, fields []string) []any {
	var out []any
	phrase := map[string]any{"match": map[string]any{"query": text, "max_gaps": 0, "ordered": true}}
	copies := []any{phrase}
	for n := 2; n <= search.MaxCountedOccurrences; n++ {
		copies = append(copies, phrase)
		either := make([]any, len(fields))
		for i, f := range fields {
			either[i] = map[string]any{"intervals": map[string]any{f: map[string]any{
				"all_of": map[string]any{"ordered": true, "max_gaps": -1, "intervals": slices.Clone(copies)},
			}}}
		}
		filter := either[0]
		if len(either) > 1 {
			filter = map[string]any{"bool": map[string]any{"should": either}}
		}
		out = append(out, map[string]any{"constant_score": map[string]any{
			"boost":  search.TermWeight(n) - search.TermWeight(n-1),
			"filter": filter,
		}})
	}
	return out
}

func term(field string, v any) map[string]any {
	return map[string]any{"term": map[string]any{field: v}}
}

func termsQ(field string, vs []int64) map[string]any {
	if len(vs) <= maxTermsCount {
		return map[string]any{"terms": map[string]any{field: vs}}
	}
	// A manager over a department of more users than that, say.
	should := make([]any, 0, (len(vs)+maxTermsCount-1)/maxTermsCount)
	for chunk := range slices.Chunk(vs, maxTermsCount) {
		should = append(should, map[string]any{"terms": map[string]any{field: chunk}})
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// maxTermsCount is Elasticsearch's default index.max_terms_count: a terms
// query of more values is refused, so a longer list is asked as several.
const maxTermsCount = 65_536

// Search runs q on the alias.
func (e *Engine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	var out search.Result
	if (q.Owners != nil && len(q.Owners) == 0) || (q.Conversations != nil && len(q.Conversations) == 0) {
		return out, nil
	}
	if err := e.ensure(ctx); err != nil {
		return out, err
	}
	// The request is the one SearchService.Do sends (same path, method and
	// body, through the client's transport and retrier), but the answer is
	// decoded once into lean structs: olivere's result re-parses every
	// aggregation bucket, which dominated the service's CPU.
	path, err := uritemplates.Expand("/{index}/_search", map[string]string{"index": e.o.Alias})
	if err != nil {
		return out, errs.Internal(err)
	}
	do := func(q search.Query) (*olivere.Response, error) {
		return e.c.PerformRequest(ctx, olivere.PerformRequestOptions{
			Method: http.MethodPost, Path: path, Params: url.Values{}, Body: Body(q),
		})
	}
	res, err := do(q)
	if zoneRefused(err) && q.Location != nil {
		// A zone the cluster's Java does not know (the system's zone
		// database newer than the JDK's): its offset now counts the
		// days, an hour off across a change of daylight saving time,
		// rather than every search of the tenant failing.
		q.Location = offsetNow(q.Location, time.Now())
		res, err = do(q)
	}
	if indexGone(err) {
		// The live index was deleted: it is created again, empty, and
		// the search asks that (see lost).
		e.lost(ctx)
		res, err = do(q)
	}
	if err != nil {
		return out, mapError(err)
	}
	return decodeResult(res.Body, q.Size)
}

// indexGone reports whether a request to the alias found no index of
// that name.
func indexGone(err error) bool {
	var oe *olivere.Error
	return errors.As(err, &oe) && oe.Status == http.StatusNotFound && oe.Details != nil && oe.Details.Type == "index_not_found_exception"
}

// zoneRefused reports whether Elasticsearch refused a search's time zone.
func zoneRefused(err error) bool {
	var oe *olivere.Error
	return errors.As(err, &oe) && oe.Status == http.StatusBadRequest && strings.Contains(err.Error(), "time_zone")
}

// offsetNow is loc's offset at now as a fixed zone named as Elasticsearch
// reads one ("+08:00").
func offsetNow(loc *time.Location, now time.Time) *time.Location {
	_, off := now.In(loc).Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return time.FixedZone(fmt.Sprintf("%c%02d:%02d", sign, off/3600, off/60%60), off)
}

// searchResponse is the part of a search answer that Search reads.
type searchResponse struct {
	Hits *struct {
		Total *struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []searchHit `json:"hits"`
	} `json:"hits"`
	Aggregations struct {
		Owners *struct {
			Buckets []struct {
				Key      json.Number `json:"key"`
				DocCount int64       `json:"doc_count"`
			} `json:"buckets"`
		} `json:"owners"`
		Days *struct {
			Buckets []struct {
				KeyAsString *string `json:"key_as_string"`
				DocCount    int64   `json:"doc_count"`
			} `json:"buckets"`
		} `json:"days"`
	} `json:"aggregations"`
}

type searchHit struct {
	ID        string   `json:"_id"`
	Score     *float64 `json:"_score"`
	InnerHits struct {
		Snippets *struct {
			Hits *struct {
				Hits []snippetHit `json:"hits"`
			} `json:"hits"`
		} `json:"snippets"`
	} `json:"inner_hits"`
}

type snippetHit struct {
	Source struct {
		Seq        int    `json:"seq"`
		StartMS    int64  `json:"start_ms"`
		SpeakerKey string `json:"speaker_key"`
	} `json:"_source"`
	Highlight struct {
		Text []string `json:"sentences.text"`
		Uni  []string `json:"sentences.text.uni"`
	} `json:"highlight"`
}

// decodeResult turns the answer to Body(q) into a page of size results.
func decodeResult(body []byte, size int) (search.Result, error) {
	var out search.Result
	var res searchResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return out, errs.Internal(err)
	}
	if res.Hits != nil {
		if res.Hits.Total != nil {
			out.Total = res.Hits.Total.Value
		}
		if len(res.Hits.Hits) > 0 {
			out.Hits = make([]search.Hit, 0, len(res.Hits.Hits))
		}
		for i := range res.Hits.Hits {
			h := &res.Hits.Hits[i]
			id, err := strconv.ParseInt(h.ID, 10, 64)
			if err != nil {
				return out, errs.Internal(err)
			}
			hit := search.Hit{ConversationID: id}
			if h.Score != nil {
				hit.Score = *h.Score
			}
			if inner := h.InnerHits.Snippets; inner != nil && inner.Hits != nil && len(inner.Hits.Hits) > 0 {
				hit.Snippets = make([]search.Snippet, 0, len(inner.Hits.Hits))
				for _, ih := range inner.Hits.Hits {
					var frags []string
					if len(ih.Highlight.Text) > 0 {
						frags = append(frags, ih.Highlight.Text[0])
					}
					if len(ih.Highlight.Uni) > 0 {
						frags = append(frags, ih.Highlight.Uni[0])
					}
					text := ""
					if len(frags) > 0 {
						text = search.Canonical(frags...)
					}
					hit.Snippets = append(hit.Snippets, search.Snippet{Seq: ih.Source.Seq, StartMS: ih.Source.StartMS, SpeakerKey: ih.Source.SpeakerKey, Text: text})
				}
			}
			out.Hits = append(out.Hits, hit)
		}
		if len(out.Hits) > size {
			out.Hits = out.Hits[:size]
			if size > 0 {
				last := out.Hits[size-1]
				out.Next = &search.Cursor{Score: last.Score, ID: last.ConversationID}
			}
		}
	}
	if agg := res.Aggregations.Owners; agg != nil && len(agg.Buckets) > 0 {
		out.Owners = make([]search.OwnerCount, 0, len(agg.Buckets))
		for _, b := range agg.Buckets {
			id, err := b.Key.Int64()
			if err != nil {
				if f, err := b.Key.Float64(); err == nil {
					id = int64(f)
				}
			}
			out.Owners = append(out.Owners, search.OwnerCount{OwnerUserID: id, Conversations: b.DocCount})
		}
	}
	if agg := res.Aggregations.Days; agg != nil {
		for _, b := range agg.Buckets {
			if b.DocCount == 0 || b.KeyAsString == nil {
				continue
			}
			if out.Days == nil {
				out.Days = make([]search.DayCount, 0, len(agg.Buckets))
			}
			out.Days = append(out.Days, search.DayCount{Day: *b.KeyAsString, Conversations: b.DocCount})
		}
	}
	return out, nil
}
