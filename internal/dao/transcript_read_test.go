package dao_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/dao"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/logic/conversation"
	"github.com/megaview/mgvcore/internal/model"
)

// partCounter records what each part read returned.
type partCounter struct {
	*dao.Conversations
	mu    sync.Mutex
	reads int
	most  int
}

func (p *partCounter) TranscriptPart(ctx context.Context, tenantID, id int64, part int) (int64, []model.Sentence, error) {
	v, run, err := p.Conversations.TranscriptPart(ctx, tenantID, id, part)
	p.mu.Lock()
	p.reads++
	p.most = max(p.most, len(run))
	p.mu.Unlock()
	return v, run, err
}

// longTranscript is n sentences of text bytes each (at least 16), every
// seventh one mentioning the budget, 20 ms apart, so that up to 3,000 of
// them fit in the fixture's call of a minute.
func longTranscript(n, text int) []conversation.SentenceInput {
	out := make([]conversation.SentenceInput, n)
	for i := range out {
		words := fmt.Sprintf("line %05d ", i)
		if i%7 == 0 {
			words += "the BUDGET "
		}
		out[i] = conversation.SentenceInput{Seq: int64(i), SpeakerKey: fmt.Sprint(i % 2), StartMS: int64(i) * 20, EndMS: int64(i)*20 + 18,
			Text: words + strings.Repeat("x", max(0, text-len(words)))}
	}
	return out
}

// readAll follows the page tokens to the end and returns every sentence,
// the summed match count and the page sizes.
func readAll(t *testing.T, r *conversation.Reader, ctx context.Context, req conversation.TranscriptPageRequest) ([]conversation.TranscriptSentence, int, []int) {
	t.Helper()
	var all []conversation.TranscriptSentence
	var sizes []int
	matches := 0
	for {
		page, err := r.TranscriptPage(ctx, req)
		if err != nil {
			t.Fatalf("page %d: %v", len(sizes)+1, err)
		}
		all = append(all, page.Sentences...)
		sizes = append(sizes, len(page.Sentences))
		matches += page.MatchCount
		if page.NextPageToken == "" {
			return all, matches, sizes
		}
		if len(sizes) > 100 {
			t.Fatal("more than 100 pages")
		}
		req.PageToken = page.NextPageToken
	}
}

func checkWhole(t *testing.T, what string, got []conversation.TranscriptSentence, want []conversation.SentenceInput) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d sentences, want %d", what, len(got), len(want))
	}
	for i, s := range got {
		w := want[i]
		if s.Seq != w.Seq || s.Text != w.Text || s.SpeakerKey != w.SpeakerKey || s.StartMS != w.StartMS || s.EndMS != w.EndMS ||
			s.Matches != (i%7 == 0) {
			t.Fatalf("%s: sentence %d is %+v, want %+v (matching %v)", what, i, s, w, i%7 == 0)
		}
	}
}

func TestTranscriptIsReadAPartAtATime(t *testing.T) {
	o := newOrg(t)
	counter := &partCounter{Conversations: dao.NewConversations(o.db)}
	r := conversation.NewReader(counter)
	ctx := o.app()
	id := o.create(t, "long", o.reps[0], time.Now().Add(-time.Hour), nil)
	want := longTranscript(2500, 40)
	if _, err := o.ingest.PutTranscript(ctx, id, want); err != nil {
		t.Fatal(err)
	}
	wantMatches := (2500 + 6) / 7

	// Streamed: every sentence in order, one part of at most 1,000 per read.
	var got []conversation.TranscriptSentence
	matches, err := r.StreamTranscript(ctx, id, "budget", func(s conversation.TranscriptSentence) error {
		got = append(got, s)
		return nil
	})
	if err != nil || matches != wantMatches {
		t.Fatalf("stream: %d matches (want %d), %v", matches, wantMatches, err)
	}
	checkWhole(t, "stream", got, want)
	if counter.reads != 4 || counter.most != 1000 {
		t.Errorf("the stream read %d times, at most %d sentences at once; want 3 parts and the end, 1,000", counter.reads, counter.most)
	}

	// An emit error ends the stream.
	stop := errors.New("client gone")
	n := 0
	if _, err := r.StreamTranscript(ctx, id, "", func(conversation.TranscriptSentence) error {
		if n++; n == 1200 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 1200 {
		t.Errorf("after an emit error: %v, %d emitted", err, n)
	}

	// Pages: the whole transcript by default, else page_size at a time,
	// ending exactly at the end with no token.
	for _, c := range []struct {
		size  int
		pages []int
	}{
		{0, []int{2500}},
		{2500, []int{2500}},
		{1000, []int{1000, 1000, 500}},
		{999, []int{999, 999, 502}},
		{1250, []int{1250, 1250}},
	} {
		all, matches, sizes := readAll(t, r, ctx, conversation.TranscriptPageRequest{ID: id, Q: "budget", PageSize: c.size})
		checkWhole(t, fmt.Sprintf("page_size %d", c.size), all, want)
		if fmt.Sprint(sizes) != fmt.Sprint(c.pages) || matches != wantMatches {
			t.Errorf("page_size %d: pages %v with %d matches, want %v with %d", c.size, sizes, matches, c.pages, wantMatches)
		}
	}
}

func TestTranscriptPagesStayWithinTheirByteBound(t *testing.T) {
	o := newOrg(t)
	ctx := o.app()
	id := o.create(t, "wide", o.reps[0], time.Now().Add(-time.Hour), nil)
	want := longTranscript(1500, conversation.MaxSentenceTextBytes)
	if _, err := o.ingest.PutTranscript(ctx, id, want); err != nil {
		t.Fatal(err)
	}
	all, _, sizes := readAll(t, o.read, ctx, conversation.TranscriptPageRequest{ID: id, Q: "budget"})
	checkWhole(t, "pages", all, want)
	perPage := conversation.MaxTranscriptPageBytes / (conversation.MaxSentenceTextBytes + 1 + 32)
	if len(sizes) != 2 || sizes[0] != perPage {
		t.Errorf("pages of %v sentences of 4 KiB, want %d and the rest", sizes, perPage)
	}
}

func TestTranscriptPageTokens(t *testing.T) {
	o := newOrg(t)
	ctx := o.app()
	id := o.create(t, "paged", o.reps[0], time.Now().Add(-time.Hour), nil)
	other := o.create(t, "other", o.reps[0], time.Now().Add(-time.Hour), nil)
	for _, c := range []int64{id, other} {
		if _, err := o.ingest.PutTranscript(ctx, c, longTranscript(30, 20)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: id, PageSize: 10})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %+v %v", first, err)
	}
	bad := func(what string, req conversation.TranscriptPageRequest, status int, field string) {
		t.Helper()
		_, err := o.read.TranscriptPage(ctx, req)
		if e := errs.From(err); e.Status != status || e.Metadata["field"] != field {
			t.Errorf("%s: %v (field %q), want %d naming %q", what, err, e.Metadata["field"], status, field)
		}
	}
	bad("negative page_size", conversation.TranscriptPageRequest{ID: id, PageSize: -1}, http.StatusBadRequest, "page_size")
	bad("page_size over the maximum", conversation.TranscriptPageRequest{ID: id, PageSize: conversation.MaxTranscriptSentences + 1}, http.StatusBadRequest, "page_size")
	bad("garbage token", conversation.TranscriptPageRequest{ID: id, PageToken: "not a token"}, http.StatusBadRequest, "page_token")
	bad("another conversation's token", conversation.TranscriptPageRequest{ID: other, PageToken: first.NextPageToken}, http.StatusBadRequest, "page_token")
	forged := access.EncodePageToken(map[string]any{"c": id, "v": 1, "p": -3, "s": 5})
	bad("a negative part", conversation.TranscriptPageRequest{ID: id, PageToken: forged}, http.StatusBadRequest, "page_token")
	// A token does not open a conversation outside the caller's scope.
	if _, err := o.read.TranscriptPage(o.as(o.reps[1]), conversation.TranscriptPageRequest{ID: id, PageToken: first.NextPageToken}); reason(err) != errs.ReasonConversationNotFound {
		t.Errorf("token used out of scope: %v", err)
	}

	// The transcript is replaced between pages: the old token is refused,
	// never answered with the new transcript's sentences.
	if _, err := o.ingest.PutTranscript(ctx, id, longTranscript(25, 30)); err != nil {
		t.Fatal(err)
	}
	_, err = o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: id, PageSize: 10, PageToken: first.NextPageToken})
	if e := errs.From(err); e.Status != http.StatusConflict || e.Reason != errs.ReasonConflict {
		t.Errorf("token of a replaced transcript: %v, want 409 CONFLICT", err)
	}
	all, _, _ := readAll(t, o.read, ctx, conversation.TranscriptPageRequest{ID: id, PageSize: 10})
	if len(all) != 25 || len(all[0].Text) != 30 {
		t.Errorf("a fresh read after the replacement: %d sentences", len(all))
	}

	// No transcript yet: one empty page.
	empty := o.create(t, "empty", o.reps[0], time.Now().Add(-time.Hour), nil)
	if p, err := o.read.TranscriptPage(ctx, conversation.TranscriptPageRequest{ID: empty}); err != nil || p.Sentences == nil || len(p.Sentences) != 0 || p.NextPageToken != "" {
		t.Errorf("no transcript: %+v %v", p, err)
	}
}
