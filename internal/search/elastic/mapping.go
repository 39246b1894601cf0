package elastic

import (
	"context"
	"fmt"
	"strings"

	olivere "github.com/olivere/elastic/v7"
)

// MappingVersion is the version of the index layout below. A change to the
// mapping or the analysis bumps it; `mgvcore reindex` then builds an index
// of the new version and swaps the alias, with no downtime.
//
// Version 2 scores without index-wide statistics (see package search's
// Norm): the text fields use the boolean similarity, and each sentence
// carries its length factor, norm. Version 3 adds, on the bigram profile,
// sentences.text.uni, the sentence indexed one character at a time, on
// which one-character Chinese words are found (see uniField).
const MappingVersion = 3

// similarity is the similarity of the text fields: a matching clause
// scores its boost, whatever the term's document frequency (IDF) and the
// average field length over the shard, which every tenant's sentences
// make. Term frequency and length come in through the query (Body).
// (The scripted similarity would need a script language, and the
// distributions here have no lang-painless.)
const similarity = "mgv_tenant_local"

// Analysis profiles. Both match a Chinese word only where its characters
// stand together (match_phrase on the word's tokens): with bigrams 预算 is
// one token; with the standard tokenizer alone it is 预 followed by 算.
const (
	// ProfileBigram needs the analysis-common module of the default
	// distribution: CJK width folding and bigrams, lowercase, Porter
	// stemming for English.
	ProfileBigram = "cjk_bigram"
	// ProfileStandard is what every distribution ships (the minimal
	// integ-test build has no analysis-common): the standard tokenizer,
	// one token per Han character, and lowercase. No stemming.
	ProfileStandard = "standard"
)

// analysis returns the analyzer settings of a profile. The bigram profile
// has a second analyzer, mgv_uni, for sentences.text.uni: the same
// analysis without the bigrams, so that the Latin words of a term holding
// a one-character Chinese word (买iPhones) are stemmed as on the main
// field.
func analysis(profile string) map[string]any {
	if profile != ProfileBigram {
		return map[string]any{"analyzer": map[string]any{
			"mgv_text": map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase"}},
		}}
	}
	return map[string]any{"analyzer": map[string]any{
		"mgv_text":  map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"cjk_width", "lowercase", "cjk_bigram", "porter_stem"}},
		uniAnalyzer: map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"cjk_width", "lowercase", "porter_stem"}},
	}}
}

// uniAnalyzer is the analyzer of uniField.
const uniAnalyzer = "mgv_uni"

// textField is the sentence text, analyzed by the profile; uniField is its
// subfield that the bigram profile indexes one character at a time.
//
// A one-character Chinese word (贵 "expensive") is a unigram, which the
// bigram field holds only where the character stood alone (太贵了 is 太贵,
// 贵了): a term holding one (search.HasLoneHan) is matched on the subfield
// too. Bigrams stay the main field's tokens, for the phrases: with
// cjk_bigram's unigrams there, 好用 would match 很好，用户 across the comma.
// The standard profile has no subfield, as its main field is already one
// token per character; a query naming the subfield on such an index, or on
// an index of an older version, matches nothing there (no error) and finds
// what the main field finds.
const (
	textField = "sentences.text"
	uniField  = "sentences.text.uni"
)

// textMapping is the mapping of sentences.text. The subfield keeps
// positions for match_phrase and the intervals that count repeats, but no
// offsets (the highlighter re-analyzes the few sentences it marks) and no
// norms (the boolean similarity reads none), which is what an index of
// mostly Chinese text grows by: a posting per character.
func textMapping(profile string) map[string]any {
	text := map[string]any{"type": "text", "analyzer": "mgv_text", "index_options": "offsets", "similarity": similarity}
	if profile == ProfileBigram {
		text["fields"] = map[string]any{"uni": map[string]any{
			"type": "text", "analyzer": uniAnalyzer, "index_options": "positions", "norms": false, "similarity": similarity,
		}}
	}
	return text
}

// detectProfile asks the cluster whether it has the bigram filters.
func detectProfile(ctx context.Context, c *olivere.Client) (string, error) {
	_, err := c.IndexAnalyze().Tokenizer("standard").Filter("cjk_width", "cjk_bigram", "porter_stem").Text("预算").Do(ctx)
	switch {
	case err == nil:
		return ProfileBigram, nil
	case olivere.IsStatusCode(err, 400):
		return ProfileStandard, nil
	}
	return "", err
}

// indexBody is the settings and mappings of a new index: one document per
// conversation, its metadata at the root and one nested document per
// sentence. Nested sentences give, on any 7.x, what the design needs from
// one query: a match is a sentence holding every term (the nested query),
// results are conversations ranked by their best sentence (score_mode max),
// the best three sentences come highlighted (inner_hits), totals and facets
// count conversations exactly, and search_after pages deeply. (Field
// collapsing cannot be combined with search_after on 7.x, and has_child
// needs the parent-join module.)
func indexBody(o Options, profile string, bulkLoad bool) map[string]any {
	refresh, replicas := o.refreshInterval(), o.Replicas
	if bulkLoad {
		refresh, replicas = "-1", 0
	}
	long := map[string]any{"type": "long"}
	kw := map[string]any{"type": "keyword"}
	return map[string]any{
		"settings": map[string]any{
			"number_of_shards":                   o.Shards,
			"number_of_replicas":                 replicas,
			"refresh_interval":                   refresh,
			"index.mapping.nested_objects.limit": 200_000,
			"analysis":                           analysis(profile),
			"similarity":                         map[string]any{similarity: map[string]any{"type": "boolean"}},
		},
		"mappings": map[string]any{
			"dynamic": "strict",
			"_meta":   map[string]any{"mapping_version": MappingVersion, "analysis": profile},
			"properties": map[string]any{
				"tenant_id":       long,
				"conversation_id": long,
				"owner_user_id":   long,
				"department_path": kw,
				"deal_id":         long,
				"title":           map[string]any{"type": "text", "analyzer": "mgv_text", "similarity": similarity},
				"channel":         kw,
				"direction":       kw,
				"begin_time":      map[string]any{"type": "date", "format": "epoch_millis"},
				"duration_ms":     long,
				"language":        kw,
				"version":         long,
				"sentences": map[string]any{
					"type": "nested",
					"properties": map[string]any{
						"seq":         map[string]any{"type": "integer"},
						"speaker_key": kw,
						"affiliation": kw,
						"start_ms":    long,
						"end_ms":      map[string]any{"type": "long", "index": false},
						"text":        textMapping(profile),
						"norm":        normField,
					},
				},
			},
		},
	}
}

// normField is the mapping of sentences.norm, search.Norm of the text: a
// doc value only, read by the query's field_value_factor.
var normField = map[string]any{"type": "float", "index": false}

// refreshInterval is the refresh interval as Elasticsearch reads it: in
// milliseconds, since it takes neither Go's "1m0s" nor fractions.
func (o Options) refreshInterval() string {
	return fmt.Sprintf("%dms", o.RefreshInterval.Milliseconds())
}

// versionOf reads the mapping version from an index name
// "<alias>_v<N>[_<suffix>]".
func versionOf(alias, index string) int {
	rest, ok := strings.CutPrefix(index, alias+"_v")
	if !ok {
		return 0
	}
	var v int
	_, _ = fmt.Sscanf(rest, "%d", &v)
	return v
}
