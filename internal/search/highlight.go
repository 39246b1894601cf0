package search

import (
	"html"
	"sort"
	"strings"
)

// Highlight tags.
const (
	PreTag  = "<em>"
	PostTag = "</em>"
)

// escaper escapes what could be mistaken for a tag; nothing else, so that
// apostrophes and quotes read as typed.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Mark wraps the byte ranges [start, end) of text in <em>…</em>, merging
// ranges that overlap or touch, and escapes the rest.
func Mark(text string, ranges [][2]int) string {
	sort.Slice(ranges, func(i, j int) bool { return ranges[i][0] < ranges[j][0] })
	var b strings.Builder
	pos := 0
	for i := 0; i < len(ranges); {
		start, end := ranges[i][0], ranges[i][1]
		for i++; i < len(ranges) && ranges[i][0] <= end; i++ {
			end = max(end, ranges[i][1])
		}
		start, end = max(start, pos), min(end, len(text))
		if start >= end {
			continue
		}
		b.WriteString(escaper.Replace(text[pos:start]))
		b.WriteString(PreTag)
		b.WriteString(escaper.Replace(text[start:end]))
		b.WriteString(PostTag)
		pos = end
	}
	b.WriteString(escaper.Replace(text[pos:]))
	return b.String()
}

// Canonical rewrites an engine's HTML-encoded highlights of one text (tags
// <em> and </em>) into the form of Mark: tags that touch are merged, so a
// word the engine highlighted character by character reads <em>预算</em>.
// The marks of every fragment are kept, so that highlights of the same
// text from two fields (sentences.text and its one-character subfield)
// make one snippet; the text is the first fragment's.
func Canonical(fragments ...string) string {
	var (
		text   string
		ranges [][2]int
	)
	for i, f := range fragments {
		plain, marks := unmark(f)
		if i == 0 {
			text = plain
		}
		if plain == text {
			ranges = append(ranges, marks...)
		}
	}
	return Mark(text, ranges)
}

// unmark splits an HTML-encoded highlight into its plain text and the byte
// ranges of that text it marks.
func unmark(fragment string) (string, [][2]int) {
	var (
		plain  strings.Builder
		ranges [][2]int
	)
	for fragment != "" {
		open := strings.Index(fragment, PreTag)
		if open < 0 {
			plain.WriteString(html.UnescapeString(fragment))
			break
		}
		plain.WriteString(html.UnescapeString(fragment[:open]))
		fragment = fragment[open+len(PreTag):]
		end := strings.Index(fragment, PostTag)
		if end < 0 {
			end = len(fragment)
		}
		start := plain.Len()
		plain.WriteString(html.UnescapeString(fragment[:end]))
		ranges = append(ranges, [2]int{start, plain.Len()})
		fragment = strings.TrimPrefix(fragment[end:], PostTag)
	}
	return plain.String(), ranges
}
