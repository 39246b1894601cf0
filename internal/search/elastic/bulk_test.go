package elastic

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	olivere "github.com/olivere/elastic/v7"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/search"
)

// The _bulk body says what the client's BulkService would say for the
// same operations.
func TestBulkBodyMatchesTheClients(t *testing.T) {
	doc := func(id, version int64, texts ...string) *search.Doc {
		d := &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 7, DepartmentPath: "/1/", Title: "报价 \"Q3\" <b>",
			Channel: "call", Direction: "outbound", BeginTime: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), DurationMS: 60_000,
			Language: "zh", Version: version}
		for i, text := range texts {
			d.Sentences = append(d.Sentences, search.Sentence{Seq: i, SpeakerKey: "rep", Affiliation: "internal", StartMS: int64(i) * 1000, EndMS: int64(i)*1000 + 900, Text: text})
		}
		return d
	}
	ops := []search.Op{
		{TenantID: 1, ConversationID: 10, Doc: doc(10, 3, "您好，预算多少？", "budget\tline\nbreak \u2028")},
		{TenantID: 1, ConversationID: 11},
		{TenantID: 1, ConversationID: 12, Doc: doc(12, 0)},
	}
	got, err := BulkBody(ops)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, op := range ops {
		id := strconv.FormatInt(op.ConversationID, 10)
		var r olivere.BulkableRequest = olivere.NewBulkDeleteRequest().Id(id)
		if op.Doc != nil {
			r = olivere.NewBulkIndexRequest().Id(id).VersionType("external_gte").Version(op.Doc.Version).Doc(source(op.Doc))
		}
		lines, err := r.Source()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, lines...)
	}
	if !strings.HasSuffix(got, "\n") {
		t.Fatal("the body does not end with a newline")
	}
	gotLines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(gotLines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(gotLines), len(want), got)
	}
	for i := range want {
		var g, w any
		if err := stdjson.Unmarshal([]byte(gotLines[i]), &g); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, gotLines[i])
		}
		if err := stdjson.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("line %d:\n got %s\nwant %s", i, gotLines[i], want[i])
		}
	}
}

// fakeBulk is a _bulk endpoint that refuses a body over limit with 413, and
// the first tooMany requests of more than one operation with 429.
type fakeBulk struct {
	mu       sync.Mutex
	limit    int
	tooMany  int
	requests []int // operations per request answered
}

func (f *fakeBulk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	n := strings.Count(string(body), `{"index":`) + strings.Count(string(body), `{"delete":`)
	switch {
	case len(body) > f.limit:
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	case f.tooMany > 0 && n > 1:
		f.tooMany--
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"type":"es_rejected_execution_exception","reason":"rejected"},"status":429}`))
		return
	}
	f.requests = append(f.requests, n)
	items := make([]string, n)
	for i := range items {
		items[i] = `{"index":{"status":201}}`
	}
	_, _ = w.Write([]byte(`{"took":1,"errors":false,"items":[` + strings.Join(items, ",") + `]}`))
}

func fakeClient(t *testing.T, h http.Handler) *olivere.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := olivere.NewClient(olivere.SetURL(srv.URL), olivere.SetSniff(false), olivere.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func textDoc(id int64, sentences int, text string) search.Op {
	d := &search.Doc{TenantID: 1, ConversationID: id, Version: 1, BeginTime: time.Unix(0, 0)}
	for i := range sentences {
		d.Sentences = append(d.Sentences, search.Sentence{Seq: i, SpeakerKey: "rep", Text: text})
	}
	return search.Op{TenantID: 1, ConversationID: id, Doc: d}
}

// textDocs are n documents of the same sentences, ids 1..n.
func textDocs(n, sentences int, text string) []search.Op {
	ops := make([]search.Op, n)
	for i := range ops {
		ops[i] = textDoc(int64(i+1), sentences, text)
	}
	return ops
}

// bulkAll writes ops through f and fails the test on any error.
func bulkAll(t *testing.T, f *fakeBulk, ops []search.Op, budget int) {
	t.Helper()
	failed, err := bulk(t.Context(), fakeClient(t, f), "x", ops, true, budget)
	if err != nil || errors.Join(failed...) != nil {
		t.Fatal(err, failed)
	}
}

// Bulk requests stay within the byte budget: short transcripts go as one,
// long ones as several, one larger than the budget alone; a request
// refused under pressure is split rather than failed, and a document the
// cluster refuses for its size fails alone, naming the setting.
func TestBulkIsBoundedByBytes(t *testing.T) {
	long := strings.Repeat("预算", 700) // 4,200 bytes
	t.Run("short transcripts go as one request", func(t *testing.T) {
		f := &fakeBulk{limit: 100 << 20}
		bulkAll(t, f, textDocs(250, 50, "您好，预算多少？"), DefaultBulkBytes)
		if !slices.Equal(f.requests, []int{250}) {
			t.Fatalf("requests %v, want one of 250", f.requests)
		}
	})
	t.Run("long transcripts go as several", func(t *testing.T) {
		f := &fakeBulk{limit: 100 << 20}
		ops := textDocs(20, 250, long)             // about 1.1 MB each
		ops = append(ops, textDoc(99, 1000, long)) // about 4.3 MB, over the budget
		bulkAll(t, f, ops, 3<<20)
		if !slices.Equal(f.requests, []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1}) {
			t.Fatalf("requests %v, want ten of 2 then the large one alone", f.requests)
		}
	})
	t.Run("refused under pressure, split", func(t *testing.T) {
		f := &fakeBulk{limit: 100 << 20, tooMany: 3}
		bulkAll(t, f, textDocs(8, 10, "hello"), DefaultBulkBytes)
		if got := f.requests; len(got) < 2 || slices.Max(got) > 4 || sum(got) != 8 {
			t.Fatalf("requests %v, want the 8 operations in halves", got)
		}
	})
	t.Run("a document over the cluster's limit fails alone", func(t *testing.T) {
		f := &fakeBulk{limit: 2 << 20}
		ops := []search.Op{textDoc(1, 10, "hello"), textDoc(2, 1000, long), textDoc(3, 10, "hello")}
		failed, err := bulk(t.Context(), fakeClient(t, f), "x", ops, true, DefaultBulkBytes)
		if err != nil {
			t.Fatal(err)
		}
		if failed[0] != nil || failed[2] != nil || failed[1] == nil || !strings.Contains(failed[1].Error(), "http.max_content_length") ||
			!strings.Contains(failed[1].Error(), "conversation 2") {
			t.Fatalf("failed %v", failed)
		}
	})
	t.Run("what ran out of time is not sent", func(t *testing.T) {
		f := &fakeBulk{limit: 100 << 20}
		ctx, cancel := context.WithCancel(t.Context())
		ops := textDocs(4, 250, long)
		var calls atomic.Int32
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 2 {
				cancel() // the time is up during the second request
				return
			}
			f.ServeHTTP(w, r)
		})
		failed, err := bulk(ctx, fakeClient(t, h), "x", ops, true, 2<<20)
		if err != nil {
			t.Fatal(err)
		}
		if failed[0] != nil || !errors.Is(failed[1], search.ErrNotSent) || !errors.Is(failed[2], search.ErrNotSent) || !errors.Is(failed[3], search.ErrNotSent) {
			t.Fatalf("requests %v, failed %v", f.requests, failed)
		}
	})
}

func sum(v []int) (n int) {
	for _, x := range v {
		n += x
	}
	return n
}

// The document of a transcript of '<' and '>' is as long as its text: no
// HTML escaping (\u003c would make it six times as long).
func TestBulkBodyDoesNotEscapeHTML(t *testing.T) {
	text := strings.Repeat("<>&", 1000)
	line, err := bulkLines(textDoc(1, 100, text))
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > 100*(len(text)+200) {
		t.Fatalf("the document of %d bytes of text takes %d bytes", 100*len(text), len(line))
	}
}

// TextJSONBytes is what the document's encoding gives each text.
func TestTextJSONBytes(t *testing.T) {
	for _, text := range []string{"hello", "您好\t\"预算\"\n\r\\", "a\u2028b\u2029c<>&", "\u00e2\u0080"} {
		b, err := json.MarshalWithOption(text, json.DisableHTMLEscape())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := search.TextJSONBytes(text), len(b)-2; got != want {
			t.Errorf("TextJSONBytes(%q) = %d, want %d", text, got, want)
		}
	}
}

// The largest transcript ingest takes (20,000 sentences, their texts at
// search.MaxTranscriptTextBytes as indexed, the longest speaker keys)
// makes a document one request can carry.
func TestTheLargestTranscriptFitsOneRequest(t *testing.T) {
	const n = 20_000
	text := strings.Repeat(`"`, search.MaxTranscriptTextBytes/n/2) // each byte escaped to two
	key := strings.Repeat("\U0001F600", 64)
	op := textDoc(1<<62, n, text)
	for i := range op.Doc.Sentences {
		s := &op.Doc.Sentences[i]
		s.Seq, s.SpeakerKey, s.Affiliation, s.StartMS, s.EndMS = 1<<31-1, key, "external", 86_400_000, 86_400_000
	}
	op.Doc.Title, op.Doc.DepartmentPath = strings.Repeat(`"`, 512), strings.Repeat("/1234567890123", 20)
	line, err := bulkLines(op)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) >= MaxContentLength*9/10 {
		t.Fatalf("the largest document takes %d bytes, over 90%% of http.max_content_length (%d)", len(line), MaxContentLength)
	}
	t.Logf("the largest document takes %d bytes", len(line))
}

// A cluster older than 7.10 refuses require_alias as a parameter it does
// not know: the engine writes without it from then on.
func TestWritesWithoutRequireAliasOnAnOlderCluster(t *testing.T) {
	live := fmt.Sprintf("x_v%d", MappingVersion)
	var withParam, without atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/_alias/x":
			_, _ = fmt.Fprintf(w, `{%q:{"aliases":{"x":{}}}}`, live)
		case r.URL.Path == "/x/_bulk" && r.URL.Query().Has("require_alias"):
			withParam.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"request [/x/_bulk] contains unrecognized parameter: [require_alias]"},"status":400}`)
		case r.URL.Path == "/x/_bulk":
			without.Add(1)
			_, _ = io.WriteString(w, `{"errors":false,"items":[{"index":{"_id":"1","status":201}}]}`)
		default:
			http.NotFound(w, r)
		}
	})
	e := New(fakeClient(t, h), Options{Alias: "x", Log: zerolog.Nop()})
	for range 2 {
		failed, err := e.Write(t.Context(), textDocs(1, 1, "hello"))
		if err != nil || errors.Join(failed...) != nil {
			t.Fatal(err, failed)
		}
	}
	if withParam.Load() != 1 || without.Load() != 2 {
		t.Fatalf("%d requests with require_alias, %d without: want it tried once", withParam.Load(), without.Load())
	}
}
