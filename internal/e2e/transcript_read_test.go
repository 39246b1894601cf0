//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/conversation"
)

// transcriptStats is what a reader checked of a whole transcript.
type transcriptStats struct {
	sentences, matching, matchCount int
	bytes                           int64
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decodeTranscript walks a transcript answer a sentence at a time, as a
// client short of memory would, checking the envelope and the seq order.
func decodeTranscript(r io.Reader, id int64) (transcriptStats, error) {
	cr := &countingReader{r: r}
	dec := json.NewDecoder(cr)
	var st transcriptStats
	want := []any{json.Delim('{'), "code", 0.0, "msg", "ok", "data", json.Delim('{'), "conversation_id", float64(id), "sentences", json.Delim('[')}
	for i, w := range want {
		tok, err := dec.Token()
		if err != nil || tok != w {
			return st, fmt.Errorf("token %d: %v (%v), want %v", i, tok, err, w)
		}
	}
	for prev := int64(-1); dec.More(); st.sentences++ {
		var s TranscriptSentence
		if err := dec.Decode(&s); err != nil {
			return st, fmt.Errorf("sentence %d: %w", st.sentences, err)
		}
		if s.Seq <= prev {
			return st, fmt.Errorf("seq %d after %d", s.Seq, prev)
		}
		prev = s.Seq
		if s.Matches {
			st.matching++
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return st, err
	}
	if tok, err := dec.Token(); err != nil || tok != "match_count" {
		return st, fmt.Errorf("after the sentences: %v %v", tok, err)
	}
	if err := dec.Decode(&st.matchCount); err != nil {
		return st, err
	}
	// The rest of the envelope, to the end of the body.
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
	}
	st.bytes = cr.n
	return st, nil
}

// TranscriptSentence is a sentence of the HTTP answer.
type TranscriptSentence struct {
	Seq     int64  `json:"seq"`
	Text    string `json:"text"`
	Matches bool   `json:"matches"`
}

// readTranscriptHTTP downloads and checks a transcript.
func readTranscriptHTTP(s *Service, token string, id int64, q string) (transcriptStats, error) {
	req, err := http.NewRequest(http.MethodGet, s.URL(fmt.Sprintf("/api/v1/conversations/%d/transcript?q=%s", id, url.QueryEscape(q))), nil)
	if err != nil {
		return transcriptStats{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return transcriptStats{}, err
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	if resp.StatusCode != http.StatusOK {
		return transcriptStats{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	return decodeTranscript(resp.Body, id)
}

// readTranscriptGRPC follows GetTranscript's pages to the end.
func readTranscriptGRPC(p *partner, id int64, q string) (st transcriptStats, pages int, err error) {
	req := &openv1.GetTranscriptRequest{ConversationId: id, Q: q}
	prev := int64(-1)
	for {
		res, err := p.conv.GetTranscript(p.ctx, req)
		if err != nil {
			return st, pages, fmt.Errorf("page %d: %w", pages+1, err)
		}
		pages++
		for _, s := range res.GetSentences() {
			if s.GetSeq() <= prev {
				return st, pages, fmt.Errorf("seq %d after %d", s.GetSeq(), prev)
			}
			prev = s.GetSeq()
			st.sentences++
			st.bytes += int64(len(s.GetText()))
			if s.GetMatches() {
				st.matching++
			}
		}
		if res.GetNextPageToken() == "" {
			return st, pages, nil
		}
		req.PageToken = res.GetNextPageToken()
	}
}

// concurrently runs n copies of read and returns the peak RSS of pid while
// they ran.
func concurrently(t *testing.T, pid, n int, read func() error) int64 {
	t.Helper()
	stop := make(chan struct{})
	peak := peakRSS(pid, stop)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- read() })
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return <-peak
}

// Transcript reads on MariaDB: a 3-hour call and a transcript of the
// maximum size, each read whole by 8 HTTP clients at once and by 8 gRPC
// clients following the pages, in a process that did not write them. The
// resident set grows by a fraction of what 8 readers holding the
// transcript would take; every reader gets every sentence in order with
// q's matches marked and counted. A download slower than the request
// timeout still completes: it has the download's time.
func TestTranscriptReadMemoryOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_RATELIMIT_ENABLED"] = "false"
	env["MGV_LOG_LEVEL"] = "warn"
	env["MGV_HTTP_REQUEST_TIMEOUT"] = "2s"
	env["MGV_HTTP_READ_TIMEOUT"] = "2s"
	writer := NewService(t, env)
	f := NewFixture(t, writer)
	writer.Start()
	p := newPartner(t, writer.GRPC(), f.AppToken(t))

	call := transcript(5000, "3h")
	// The most sentences, each as long as the bound on a transcript's
	// indexed text lets all of them be (3,355 bytes; a sentence may hold
	// 4,096).
	largest := transcript(20_000, "max")
	for _, s := range largest {
		s.Text += " " + strings.Repeat("x", int(conversation.MaxTranscriptTextBytes/20_000)-1-len(s.Text))
	}
	cases := []struct {
		name      string
		sentences []*openv1.Sentence
		id        int64
		matching  int
	}{{name: "3-hour call", sentences: call}, {name: "largest transcript", sentences: largest}}
	for i := range cases {
		c := &cases[i]
		c.id = p.create("read-"+c.name, f.Reps[0].ID, time.Now().Add(-4*time.Hour), c.sentences[len(c.sentences)-1].EndMs, nil)
		if _, err := p.put(c.id, c.sentences, 1000); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, s := range c.sentences {
			if strings.Contains(s.Text, "预算") {
				c.matching++
			}
		}
	}
	writer.Kill()

	// A process that has not handled the transcripts before, and does not
	// index them either (the writer's indexing jobs would otherwise run
	// here while it is measured).
	env["MGV_SEARCH_INDEXER"] = "false"
	s := NewService(t, env)
	s.Start()
	p = newPartner(t, s.GRPC(), f.AppToken(t))
	token := f.Token(t, f.Reps[0])
	pid := s.PID()
	idle := rss(pid)
	t.Logf("idle RSS %d MiB", idle/mib)
	for _, c := range cases {
		size, err := readTranscriptHTTP(s, token, c.id, "预算")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		check := func(how string, st transcriptStats, counted bool) {
			t.Helper()
			if st.sentences != len(c.sentences) || st.matching != c.matching || (counted && st.matchCount != c.matching) {
				t.Fatalf("%s, %s: %d sentences, %d marked, match_count %d; want %d with %d matching",
					c.name, how, st.sentences, st.matching, st.matchCount, len(c.sentences), c.matching)
			}
		}
		check("one HTTP read", size, true)
		before := rss(pid)
		httpPeak := concurrently(t, pid, 8, func() error {
			st, err := readTranscriptHTTP(s, token, c.id, "预算")
			if err == nil {
				check("8 HTTP reads", st, true)
			}
			return err
		})
		var pages int
		grpcPeak := concurrently(t, pid, 8, func() error {
			st, n, err := readTranscriptGRPC(p, c.id, "预算")
			if err == nil {
				check("8 paged gRPC reads", st, false)
				pages = n
			}
			return err
		})
		mb := func(b int64) float64 { return float64(b) / mib }
		t.Logf("%s: %d sentences, %.1f MB as JSON; RSS before %.0f MiB, peak with 8 HTTP readers %.0f MiB (+%.0f, %.2f× the transcript), with 8 gRPC readers (%d pages each) %.0f MiB (+%.0f, %.2f×)",
			c.name, len(c.sentences), mb(size.bytes), mb(before), mb(httpPeak), mb(httpPeak-before), float64(httpPeak-before)/float64(size.bytes),
			pages, mb(grpcPeak), mb(grpcPeak-before), float64(grpcPeak-before)/float64(size.bytes))
		// Eight readers that each held the transcript, its decoding and its
		// encoding would take well over 8× its size; a part at a time takes
		// a fraction of one. The bound leaves room for the collector's
		// slack and a loaded machine.
		if limit := 2*size.bytes + 64*mib; httpPeak-idle > limit || grpcPeak-idle > limit {
			t.Errorf("%s: RSS grew to +%.0f MiB (HTTP) / +%.0f MiB (gRPC) over idle, want at most +%.0f MiB",
				c.name, mb(httpPeak-idle), mb(grpcPeak-idle), mb(limit))
		}
	}

	// A reader taking longer than the 2 s request and read timeouts still
	// gets the largest transcript whole.
	conn, err := net.Dial("tcp", s.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, conn)
	_ = conn.(*net.TCPConn).SetReadBuffer(64 << 10)
	began := time.Now()
	if _, err := fmt.Fprintf(conn, "GET /api/v1/conversations/%d/transcript HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", cases[1].id, token); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(&slowReader{r: conn, pause: 4 * time.Millisecond}, 64<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeTranscript(resp.Body, cases[1].id)
	if err != nil || st.sentences != len(largest) {
		t.Fatalf("a slow reader got %d sentences after %v: %v", st.sentences, time.Since(began), err)
	}
	t.Logf("a slow reader got the largest transcript whole in %v (request and read timeouts 2s)", time.Since(began).Round(time.Millisecond))
}

// slowReader pauses before every read.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 64<<10)])
}
