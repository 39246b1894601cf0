package elastic

import (
	stdjson "encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	olivere "github.com/olivere/elastic/v7"

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
