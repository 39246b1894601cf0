package tracker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

func TestInputValidation(t *testing.T) {
	long := strings.Repeat("字", 65)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("kw", i)
	}
	tests := []struct {
		name  string
		in    Input
		field string // "" when valid
		want  []string
	}{
		{"valid, defaults to anyone", Input{Name: " Pricing ", Keywords: []string{"price", " free   trial ", "预算"}}, "", []string{"price", "free trial", "预算"}},
		{"duplicates dropped", Input{Name: "x", Keywords: []string{"Price", "price", "PRICE!"}}, "", []string{"Price"}},
		{"exactly 64 characters", Input{Name: "x", Keywords: []string{strings.Repeat("字", 64)}}, "", []string{strings.Repeat("字", 64)}},
		{"name required", Input{Name: "  ", Keywords: []string{"a"}}, "name", nil},
		{"name too long", Input{Name: strings.Repeat("n", 256), Keywords: []string{"a"}}, "name", nil},
		{"NUL in the name", Input{Name: "nul\x00x", Keywords: []string{"a"}}, "name", nil},
		{"NUL in a keyword", Input{Name: "x", Keywords: []string{"a", "nul\x00x"}}, "keywords[1]", nil},
		{"no keywords", Input{Name: "x"}, "keywords", nil},
		{"too many keywords", Input{Name: "x", Keywords: many}, "keywords", nil},
		{"empty keyword", Input{Name: "x", Keywords: []string{"a", " "}}, "keywords[1]", nil},
		{"keyword too long", Input{Name: "x", Keywords: []string{long}}, "keywords[0]", nil},
		{"keyword of punctuation only", Input{Name: "x", Keywords: []string{"?!"}}, "keywords[0]", nil},
		{"bad affiliation", Input{Name: "x", Keywords: []string{"a"}, Affiliation: "customer"}, "affiliation", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row, err := trackerRow(tc.in, nil)
			if tc.field != "" {
				if errs.ReasonOf(err) != errs.ReasonInvalidArgument || errs.From(err).Metadata["field"] != tc.field {
					t.Fatalf("want INVALID_ARGUMENT on %s, got %v", tc.field, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			_ = json.Unmarshal([]byte(row.Keywords), &got)
			if !slices.Equal(got, tc.want) || row.Affiliation != model.AffiliationAnyone || strings.TrimSpace(row.Name) != row.Name {
				t.Errorf("got %+v keywords %q", row, got)
			}
		})
	}
}
