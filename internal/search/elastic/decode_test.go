package elastic

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	olivere "github.com/olivere/elastic/v7"

	"github.com/megaview/mgvcore/internal/search"
)

// fixtureAnswer is a realistic answer to Body(q) for a page of size: size+1
// hits with MaxSnippets highlighted sentences each (mixed Chinese and
// English), days daily buckets and owners owner buckets. With size 20,
// 182 days and 40 owners it is about 36 KB, like a broad query on the
// benchmark corpus.
func fixtureAnswer(size, days, owners int) []byte {
	phrases := []string{
		"我们这边的<em>预算</em>大概在第三季度会确定，到时候再和您对一下报价和折扣",
		"Let me check the <em>budget</em> with our procurement team and get back to you next week",
		"关于私有化部署和数据安全，我们需要先做一次 security review 再决定",
		"If we sign the renewal before the end of the quarter, can you extend the <em>budget</em> discount?",
	}
	hits := make([]map[string]any, size+1)
	for i := range hits {
		inner := make([]map[string]any, search.MaxSnippets)
		for j := range inner {
			inner[j] = map[string]any{
				"_index": "mgv_bench_corpus_v3", "_type": "_doc", "_id": strconv.Itoa(100000 + i),
				"_nested": map[string]any{"field": "sentences", "offset": 17*j + i},
				"_score":  7.25 - float64(j)/10,
				"_source": map[string]any{"seq": 17*j + i, "start_ms": 61_000*j + 1_250*i, "speaker_key": fmt.Sprintf("spk_%d", j%2)},
				"highlight": map[string]any{
					"sentences.text": []string{phrases[(i+j)%len(phrases)] + " &amp; 其他"},
				},
			}
		}
		hits[i] = map[string]any{
			"_index": "mgv_bench_corpus_v3", "_type": "_doc", "_id": strconv.Itoa(100000 + i),
			"_score": 12.5 - float64(i)/8,
			"sort":   []any{12.5 - float64(i)/8, 100000 + i},
			"inner_hits": map[string]any{"snippets": map[string]any{"hits": map[string]any{
				"total":     map[string]any{"value": 9, "relation": "eq"},
				"max_score": 7.25,
				"hits":      inner,
			}}},
		}
	}
	ownerBuckets := make([]map[string]any, owners)
	for i := range ownerBuckets {
		ownerBuckets[i] = map[string]any{"key": 1000 + i, "doc_count": 400 - 3*i}
	}
	dayBuckets := make([]map[string]any, days)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("Asia/Shanghai", 8*3600))
	for i := range dayBuckets {
		d := start.AddDate(0, 0, i)
		count := 20 + i%13
		if i%29 == 28 {
			count = 0 // min_doc_count is 1, but an empty bucket must be left out anyway
		}
		dayBuckets[i] = map[string]any{"key_as_string": d.Format("2006-01-02"), "key": d.UnixMilli(), "doc_count": count}
	}
	body, err := json.Marshal(map[string]any{
		"took": 41, "timed_out": false,
		"_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits": map[string]any{
			"total": map[string]any{"value": 5455, "relation": "eq"}, "max_score": 12.5, "hits": hits,
		},
		"aggregations": map[string]any{
			"owners": map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": 1234, "buckets": ownerBuckets},
			"days":   map[string]any{"buckets": dayBuckets},
		},
	})
	if err != nil {
		panic(err)
	}
	return body
}

// decodeOlivere is the previous decode through olivere's SearchResult, kept
// to check decodeResult against it and to compare their cost.
func decodeOlivere(body []byte, size int) (search.Result, error) {
	var out search.Result
	var res olivere.SearchResult
	if err := json.Unmarshal(body, &res); err != nil {
		return out, err
	}
	if res.Hits != nil {
		if res.Hits.TotalHits != nil {
			out.Total = res.Hits.TotalHits.Value
		}
		for _, h := range res.Hits.Hits {
			id, err := strconv.ParseInt(h.Id, 10, 64)
			if err != nil {
				return out, err
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
						return out, err
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
		if len(out.Hits) > size {
			out.Hits = out.Hits[:size]
			if size > 0 {
				last := out.Hits[size-1]
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

func TestDecodeMatchesOlivere(t *testing.T) {
	cases := map[string][]byte{
		"page":         fixtureAnswer(20, 182, 40),
		"short page":   fixtureAnswer(5, 3, 1), // with size 20: no cursor
		"no hits":      []byte(`{"took":1,"hits":{"total":{"value":0,"relation":"eq"},"max_score":null,"hits":[]},"aggregations":{"owners":{"buckets":[]},"days":{"buckets":[]}}}`),
		"no aggs":      []byte(`{"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_id":"7","_score":1.5}]}}`),
		"null score":   []byte(`{"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_id":"7","_score":null,"inner_hits":{"snippets":{"hits":{"hits":[{"_source":{"seq":3,"start_ms":9,"speaker_key":"a"}}]}}}}]}}`),
		"no highlight": []byte(`{"hits":{"hits":[{"_id":"7","_score":2,"inner_hits":{"snippets":{"hits":{"hits":[{"_source":{"seq":1},"highlight":{}}]}}}}]}}`),
		"big owner id": []byte(`{"aggregations":{"owners":{"buckets":[{"key":9007199254740993,"doc_count":2},{"key":5,"doc_count":1}]}}}`),
	}
	for name, body := range cases {
		for _, size := range []int{0, 5, 20, 21} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				want, err := decodeOlivere(body, size)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeResult(body, size)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(normalize(got), normalize(want)) {
					t.Fatalf("decodeResult:\n%+v\nolivere:\n%+v", got, want)
				}
			})
		}
	}
}

func TestDecodeFixture(t *testing.T) {
	body := fixtureAnswer(20, 182, 40)
	if n := len(body); n < 30_000 || n > 45_000 {
		t.Fatalf("fixture is %d bytes, want about 36 KB", n)
	}
	got, err := decodeResult(body, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Hits) != 20 || got.Next == nil || got.Next.ID != 100019 || got.Total != 5455 {
		t.Fatalf("hits %d next %+v total %d", len(got.Hits), got.Next, got.Total)
	}
	if sn := got.Hits[0].Snippets; len(sn) != search.MaxSnippets || sn[0].Text == "" || sn[1].Seq != 17 {
		t.Fatalf("snippets %+v", sn)
	}
	if len(got.Owners) != 40 || got.Owners[0] != (search.OwnerCount{OwnerUserID: 1000, Conversations: 400}) {
		t.Fatalf("owners %+v", got.Owners[:1])
	}
	if len(got.Days) != 182-182/29 || got.Days[0].Day != "2025-01-01" {
		t.Fatalf("days %d %+v", len(got.Days), got.Days[:1])
	}
	if _, err := decodeResult([]byte(`{"hits":{"hits":[{"_id":"x"}]}}`), 1); err == nil {
		t.Fatal("a non-numeric _id must fail")
	}
}

// normalize treats nil and empty slices alike.
func normalize(r search.Result) search.Result {
	if len(r.Hits) == 0 {
		r.Hits = nil
	}
	for i := range r.Hits {
		if len(r.Hits[i].Snippets) == 0 {
			r.Hits[i].Snippets = nil
		}
	}
	if len(r.Owners) == 0 {
		r.Owners = nil
	}
	if len(r.Days) == 0 {
		r.Days = nil
	}
	return r
}

// BenchmarkDecode decodes a 36 KB answer (20 hits with 3 highlighted
// snippets, 182 day buckets, 40 owner buckets) the way Search does.
func BenchmarkDecode(b *testing.B) {
	body := fixtureAnswer(20, 182, 40)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResult(body, 20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOlivere is the same through olivere's SearchResult (the
// previous way), for comparison.
func BenchmarkDecodeOlivere(b *testing.B) {
	body := fixtureAnswer(20, 182, 40)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeOlivere(body, 20); err != nil {
			b.Fatal(err)
		}
	}
}
