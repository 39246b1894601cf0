package elastic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	olivere "github.com/olivere/elastic/v7"
	"github.com/rs/zerolog"

	"github.com/megaview/mgvcore/internal/model"
	"github.com/megaview/mgvcore/internal/search"
	"github.com/megaview/mgvcore/internal/search/searchtest"
)

// cluster is one engine the tests run on.
type cluster struct {
	name string
	// env holds the engine's URL (scripts/testenv.sh).
	env string
	// production: the engine must have the production analysis (the
	// bigram profile); otherwise it may have either.
	production bool
}

// clusters are the engines of scripts/testenv.sh: the minimal
// Elasticsearch 7.17, which lacks analysis-common and so gets the standard
// profile, and OpenSearch 2 with analysis-common, which gets the mapping
// production uses.
var clusters = []cluster{
	{name: "elasticsearch", env: "MGV_TEST_ES_URL"},
	{name: "analyzer", env: "MGV_TEST_ANALYZER_URL", production: true},
}

// eachCluster runs f as a subtest per cluster; one whose URL is not set
// is skipped.
func eachCluster(t *testing.T, f func(t *testing.T, c *olivere.Client)) {
	for _, cl := range clusters {
		t.Run(cl.name, func(t *testing.T) {
			f(t, testClient(t, cl))
		})
	}
}

// testClient connects to the cluster's URL or skips. Health checks stay on
// and sniffing off, as in production.
func testClient(t *testing.T, cl cluster) *olivere.Client {
	t.Helper()
	u := os.Getenv(cl.env)
	if u == "" {
		t.Skipf("%s is not set (eval \"$(scripts/testenv.sh env)\")", cl.env)
	}
	c, err := olivere.NewClient(olivere.SetURL(u), olivere.SetSniff(false))
	if err != nil {
		t.Fatal(err)
	}
	if cl.production {
		profile, err := detectProfile(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		if profile != ProfileBigram {
			t.Fatalf("%s (%s) has the %s analysis, not the production one: is analysis-common installed?", u, cl.env, profile)
		}
	}
	return c
}

// testEngine is an engine on a fresh alias, deleted after the test.
func testEngine(t *testing.T, c *olivere.Client) *Engine {
	alias := fmt.Sprintf("mgv_test_%08x", rand.Uint32())
	t.Cleanup(func() { _, _ = c.DeleteIndex(alias + "_v*").Do(context.Background()) })
	return New(c, Options{Alias: alias, Shards: 1, Replicas: 0, RefreshInterval: time.Second})
}

func TestBehaviour(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		profile, err := detectProfile(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("analysis profile of this cluster: %s", profile)
		searchtest.Run(t, searchtest.Options{
			New: func(t *testing.T) search.Engine { return testEngine(t, c) },
			Refresh: func(t *testing.T, e search.Engine) {
				if err := e.(*Engine).Refresh(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			Stemming:     profile == ProfileBigram,
			CJKBigrams:   profile == ProfileBigram,
			WidthFolding: profile == ProfileBigram,
		})
	})
}

func TestGenerationSwap(t *testing.T) {
	eachCluster(t, testGenerationSwap)
}

func testGenerationSwap(t *testing.T, c *olivere.Client) {
	e := testEngine(t, c)
	ctx := t.Context()
	find := func(word string) int64 { return total(t, e, word) }
	if _, err := e.Write(ctx, []search.Op{oneSentence(1, "old words")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := e.NewGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Write(ctx, []search.Op{oneSentence(1, "new words")}); err != nil {
		t.Fatal(err)
	}
	if find("old") != 1 || find("new") != 0 {
		t.Fatal("the generation is visible before activation")
	}
	prev, err := g.Activate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(prev) != 1 || versionOf(e.o.Alias, prev[0]) != MappingVersion {
		t.Errorf("previous indices %v", prev)
	}
	if find("old") != 0 || find("new") != 1 {
		t.Fatal("the alias does not show the new generation")
	}
	if _, err := e.Write(ctx, []search.Op{oneSentence(2, "written after")}); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if find("after") != 1 {
		t.Fatal("writes do not reach the new generation")
	}
}

// TestARebuildWhoseIndexWasDroppedIsNotSwappedIn: of two rebuilds run at
// once, the later one to start, swapped in first, deletes the earlier one's
// index as abandoned; the earlier one's next write makes an index of the
// same name with a guessed mapping. Its swap must fail and leave the alias
// on the later rebuild's index, which still answers searches.
func TestARebuildWhoseIndexWasDroppedIsNotSwappedIn(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		e := testEngine(t, c)
		ctx := t.Context()
		if _, err := e.Write(ctx, []search.Op{oneSentence(1, "words")}); err != nil {
			t.Fatal(err)
		}
		earlier, err := e.NewGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := earlier.Write(ctx, []search.Op{oneSentence(1, "words")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // versions are named to the second
		later, err := e.NewGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := later.Write(ctx, []search.Op{oneSentence(1, "words")}); err != nil {
			t.Fatal(err)
		}
		dropped, err := later.Activate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(dropped, earlier.Name()) {
			t.Fatalf("the later rebuild dropped %v, not the earlier one's %s", dropped, earlier.Name())
		}
		if _, err := earlier.Write(ctx, []search.Op{oneSentence(2, "more words")}); err != nil {
			t.Fatal(err)
		}
		if _, err := earlier.Activate(ctx); !errors.Is(err, ErrGenerationLost) {
			t.Fatalf("the earlier rebuild, its index dropped, activated with %v", err)
		}
		live, err := e.aliasIndices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(live, []string{later.Name()}) {
			t.Fatalf("the alias names %v, not %s", live, later.Name())
		}
		terms, _ := search.Parse("words")
		res, err := e.Search(ctx, search.Query{TenantID: 1, Terms: terms, Size: 10})
		if err != nil || res.Total != 1 {
			t.Fatalf("search after the refused swap: %v, %+v", err, res)
		}
	})
}

// TestDeletionsReachTheVersionBeingRebuilt: a conversation deleted while a
// rebuild loads a new version is deleted there too, unrefreshed as it is,
// so the swap cannot bring it back should the rebuild die before its own
// removal after the swap; writes of documents reach the live index only.
func TestDeletionsReachTheVersionBeingRebuilt(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		e := testEngine(t, c)
		ctx := t.Context()
		doc := func(id int64) search.Op {
			return search.Op{TenantID: 1, ConversationID: id, Doc: &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 1, Version: 1,
				Sentences: []search.Sentence{{Seq: 0, Text: "words"}}}}
		}
		if _, err := e.Write(ctx, []search.Op{doc(1), doc(2)}); err != nil {
			t.Fatal(err)
		}
		g, err := e.NewGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Write(ctx, []search.Op{doc(1), doc(2)}); err != nil {
			t.Fatal(err)
		}
		failed, err := e.Write(ctx, []search.Op{{TenantID: 1, ConversationID: 1}, doc(3)})
		if err != nil || errors.Join(failed...) != nil {
			t.Fatalf("write: %v %v", err, failed)
		}
		has := func(index string, id int64) bool {
			t.Helper()
			res, err := c.Get().Index(index).Id(fmt.Sprint(id)).Do(ctx)
			if olivere.IsNotFound(err) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return res.Found
		}
		if has(g.Name(), 1) {
			t.Fatal("conversation 1, deleted, is still in the version being rebuilt")
		}
		if !has(g.Name(), 2) || has(g.Name(), 3) {
			t.Fatal("a write other than a deletion changed the version being rebuilt")
		}
		if _, err := g.Activate(ctx); err != nil {
			t.Fatal(err)
		}
		if has(e.o.Alias, 1) {
			t.Fatal("conversation 1, deleted during the rebuild, is searchable after the swap")
		}
		// With no rebuild under way (and after it), a deletion needs no
		// version but the live one.
		if failed, err := e.Write(ctx, []search.Op{{TenantID: 1, ConversationID: 2}}); err != nil || errors.Join(failed...) != nil {
			t.Fatalf("write: %v %v", err, failed)
		}
		if has(e.o.Alias, 2) {
			t.Fatal("conversation 2 was not deleted")
		}
	})
}

// TestAVersionOlderThanTheLiveOneHoldsUpNoDeletion: a version a rebuild
// left behind before the live one was made (closed here, so it takes no
// writes) is not written to, and deletions go on.
func TestAVersionOlderThanTheLiveOneHoldsUpNoDeletion(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		e := testEngine(t, c)
		ctx := t.Context()
		doc := search.Op{TenantID: 1, ConversationID: 1, Doc: &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 1, Version: 1,
			Sentences: []search.Sentence{{Seq: 0, Text: "words"}}}}
		if _, err := e.Write(ctx, []search.Op{doc}); err != nil {
			t.Fatal(err)
		}
		left, err := e.NewGeneration(ctx) // a rebuild that died
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CloseIndex(left.Name()).Do(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // version names are by the second
		live, err := e.NewGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.Write(ctx, []search.Op{doc}); err != nil {
			t.Fatal(err)
		}
		// Moved to the new version without dropping the old one, as a
		// rebuild that failed to drop it leaves things.
		old, err := e.aliasIndices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		actions := []olivere.AliasAction{olivere.NewAliasAddAction(e.o.Alias).Index(live.Name())}
		for _, name := range old {
			actions = append(actions, olivere.NewAliasRemoveAction(e.o.Alias).Index(name))
		}
		if _, err := c.Alias().Action(actions...).Do(ctx); err != nil {
			t.Fatal(err)
		}
		if failed, err := e.Write(ctx, []search.Op{{TenantID: 1, ConversationID: 1}}); err != nil || errors.Join(failed...) != nil {
			t.Fatalf("a deletion with a closed older version about: %v %v", err, failed)
		}
	})
}

// TestOlderIndexBehindTheAlias: after an upgrade the alias still names the
// index of mapping version 1 until `mgvcore reindex` runs. Its mapping is
// strict and has no sentences.norm: the engine adds the field, so writes
// go on, searches answer, and a warning says to reindex. Nor has it the
// one-character subfield: a search for a one-character word answers,
// finding what the main field holds (nothing, on the bigram profile).
func TestOlderIndexBehindTheAlias(t *testing.T) {
	eachCluster(t, testOlderIndexBehindTheAlias)
}

func testOlderIndexBehindTheAlias(t *testing.T, c *olivere.Client) {
	e := testEngine(t, c)
	var logged strings.Builder
	e.o.Log = zerolog.New(&logged)
	ctx := t.Context()
	profile, err := detectProfile(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// Version 1: BM25, no norm.
	body := indexBody(e.o, profile, false)
	delete(body["settings"].(map[string]any), "similarity")
	props := body["mappings"].(map[string]any)["properties"].(map[string]any)
	delete(props["title"].(map[string]any), "similarity")
	sentences := props["sentences"].(map[string]any)["properties"].(map[string]any)
	delete(sentences, "norm")
	delete(sentences["text"].(map[string]any), "similarity")
	delete(sentences["text"].(map[string]any), "fields")
	delete(body["settings"].(map[string]any)["analysis"].(map[string]any)["analyzer"].(map[string]any), uniAnalyzer)
	body["mappings"].(map[string]any)["_meta"] = map[string]any{"mapping_version": 1, "analysis": profile}
	body["aliases"] = map[string]any{e.o.Alias: map[string]any{}}
	if _, err := c.CreateIndex(e.o.Alias + "_v1").BodyJson(body).Do(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := e.Write(ctx, []search.Op{{TenantID: 1, ConversationID: 1, Doc: &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 1, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: "budget budget is tight"}, {Seq: 1, Text: "太贵了"}}}}})
	if err != nil || res[0] != nil {
		t.Fatalf("write to the version 1 index: %v %v", res, err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	terms, _ := search.Parse("budget")
	found, err := e.Search(ctx, search.Query{TenantID: 1, Terms: terms, Size: 10})
	if err != nil || len(found.Hits) != 1 || found.Hits[0].Score <= 0 {
		t.Fatalf("search of the version 1 index: %+v %v", found, err)
	}
	terms, _ = search.Parse("贵")
	found, err = e.Search(ctx, search.Query{TenantID: 1, Terms: terms, Size: 10})
	if want := map[string]int64{ProfileBigram: 0, ProfileStandard: 1}[profile]; err != nil || found.Total != want {
		t.Fatalf("a one-character word on the version 1 index (%s): %+v %v, want %d", profile, found, err, want)
	}
	if !strings.Contains(logged.String(), e.o.Alias+"_v1") || !strings.Contains(logged.String(), "mgvcore reindex") {
		t.Errorf("no warning to reindex: %q", logged.String())
	}
}

func TestUnavailable(t *testing.T) {
	c, err := olivere.NewClient(olivere.SetURL("http://127.0.0.1:1"), olivere.SetSniff(false), olivere.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	e := New(c, Options{Alias: "x", Shards: 1, RefreshInterval: time.Second})
	terms, _ := search.Parse("x")
	if _, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 1}); !searchtest.IsUnavailable(err) {
		t.Fatalf("search on a closed port: %v", err)
	}
	if _, err := e.Write(t.Context(), []search.Op{{TenantID: 1, ConversationID: 1}}); !searchtest.IsUnavailable(err) {
		t.Fatalf("write on a closed port: %v", err)
	}
}

// A tenant's zone reaches Elasticsearch as a name it knows: Go loads names
// from the system's zone database that Java does not (posix/…, right/…,
// Factory), and Elasticsearch refused such a zone with a 400 that failed
// every search of the tenant.
func TestTenantZonesAreNamesElasticsearchKnows(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		e := testEngine(t, c)
		ctx := t.Context()
		doc := &search.Doc{TenantID: 1, ConversationID: 1, OwnerUserID: 1, Version: 1, BeginTime: time.Now(),
			Sentences: []search.Sentence{{Seq: 0, Text: "budget"}}}
		if _, err := e.Write(ctx, []search.Op{{TenantID: 1, ConversationID: 1, Doc: doc}}); err != nil {
			t.Fatal(err)
		}
		if err := e.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		terms, err := search.Parse("budget")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Asia/Shanghai", "posix/Asia/Shanghai", "right/UTC", "Factory", "posixrules", "localtime", "PRC", "EST5EDT", "Etc/GMT-14",
			"EST", "MST", "HST", "ROC", "Asia//Shanghai", "./Asia/Shanghai", "US/Eastern", "UCT"} {
			res, err := e.Search(ctx, search.Query{TenantID: 1, Terms: terms, Size: 10, Location: model.TenantLocation(name)})
			if err != nil || res.Total != 1 {
				t.Errorf("a tenant in %s: %+v, %v", name, res, err)
			}
		}
		// A zone the cluster's Java does not know (a zone database on the
		// system newer than the JDK's) counts the days by its offset now.
		res, err := e.Search(ctx, search.Query{TenantID: 1, Terms: terms, Size: 10, Location: time.FixedZone("Mars/Olympus", 14*3600)})
		if err != nil || res.Total != 1 || len(res.Days) != 1 || res.Days[0].Day != doc.BeginTime.In(time.FixedZone("", 14*3600)).Format(time.DateOnly) {
			t.Errorf("a zone Elasticsearch does not know: %+v, %v", res, err)
		}
	})
}

// TestAnIndexDeletedUnderTheAliasIsCreatedAgain: an operator deletes the
// live index (the alias goes with it). A write then must not create an
// index of the alias's own name with a mapping guessed from the document,
// which no rebuild could put an alias on: it fails, the engine creates an
// empty index of its mapping behind the alias, and the write goes there
// when done again. A search finding the index gone does the same.
func TestAnIndexDeletedUnderTheAliasIsCreatedAgain(t *testing.T) {
	eachCluster(t, func(t *testing.T, c *olivere.Client) {
		e := testEngine(t, c)
		ctx := t.Context()
		t.Cleanup(func() { _, _ = c.DeleteIndex(e.Alias()).Do(context.Background()) })
		dropLive := func() {
			t.Helper()
			live, err := e.aliasIndices(ctx)
			if err != nil || len(live) != 1 {
				t.Fatalf("the alias names %v: %v", live, err)
			}
			if _, err := c.DeleteIndex(live[0]).Do(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkAlias := func() {
			t.Helper()
			live, err := e.aliasIndices(ctx)
			if err != nil || len(live) != 1 || !e.version.MatchString(live[0]) {
				t.Fatalf("the alias names %v (%v), want one version of the engine's", live, err)
			}
			res, err := c.PerformRequest(ctx, olivere.PerformRequestOptions{Method: "GET", Path: "/" + live[0] + "/_mapping"})
			if err != nil || !strings.Contains(string(res.Body), `"dynamic":"strict"`) {
				t.Fatalf("the index behind the alias has not the engine's mapping: %v %s", err, res.Body)
			}
		}
		find := func(word string) int64 {
			t.Helper()
			if err := e.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			return total(t, e, word)
		}
		if _, err := e.Write(ctx, []search.Op{oneSentence(1, "before")}); err != nil {
			t.Fatal(err)
		}
		dropLive()
		failed, err := e.Write(ctx, []search.Op{oneSentence(2, "after")})
		if err != nil || len(failed) != 1 || !errors.Is(failed[0], errIndexGone) {
			t.Fatalf("a write after the index was deleted: %v %v, want it refused as gone", failed, err)
		}
		checkAlias()
		if failed, err := e.Write(ctx, []search.Op{oneSentence(2, "after")}); err != nil || errors.Join(failed...) != nil {
			t.Fatalf("the write again: %v %v", failed, err)
		}
		if n := find("after"); n != 1 {
			t.Errorf("the conversation written again found %d times, want 1", n)
		}
		if n := find("before"); n != 0 {
			t.Errorf("a conversation of the deleted index found %d times", n)
		}

		dropLive()
		if n := total(t, e, "after"); n != 0 {
			t.Errorf("found %d in a deleted index", n)
		}
		checkAlias()
	})
}

// oneSentence indexes conversation id of tenant 1 with one sentence.
func oneSentence(id int64, text string) search.Op {
	return search.Op{TenantID: 1, ConversationID: id, Doc: &search.Doc{TenantID: 1, ConversationID: id, OwnerUserID: 1, Version: 1,
		Sentences: []search.Sentence{{Seq: 0, Text: text}}}}
}

// total is how many of tenant 1's conversations e finds for word.
func total(t *testing.T, e *Engine, word string) int64 {
	t.Helper()
	terms, _ := search.Parse(word)
	res, err := e.Search(t.Context(), search.Query{TenantID: 1, Terms: terms, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	return res.Total
}
