//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// TestClientGoneIsNotAServerError: a client that hangs up in the middle of
// its request body, or while a large answer is being written, is logged
// and counted as 499 CANCELED, never as a 500 or at error level, and the
// operation's circuit breaker does not count it (it would open after two
// failures here).
func TestClientGoneIsNotAServerError(t *testing.T) {
	s := NewService(t, map[string]string{"MGV_BREAKER_CONSECUTIVE_FAILURES": "2"})
	f := NewFixture(t, s)
	s.Start()
	token := f.Token(t, f.Admin)

	// A transcript whose answer (about 6 MB) is larger than the socket
	// buffers can hold (at most 4 MB here), so that writing it blocks.
	p := newPartner(t, s.GRPC(), f.AppToken(t))
	id := p.create("client-gone", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 3_600_000, nil)
	long := make([]*openv1.Sentence, 1500)
	for i := range long {
		long[i] = &openv1.Sentence{Seq: int64(i), SpeakerKey: "rep", StartMs: int64(i) * 2000, EndMs: int64(i)*2000 + 1900,
			Text: strings.Repeat("words ", 660)}
	}
	if _, err := p.put(id, long, 100); err != nil {
		t.Fatal(err)
	}

	const rounds = 3
	for range rounds {
		// Mid-request: the body is declared, half sent, and the
		// connection closed.
		conn := dialSmall(t, s.HTTPAddr)
		body := `{"query":"预算"}`
		if _, err := fmt.Fprintf(conn, "POST /api/v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			token, len(body)+100, body); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		closeOrFail(t, conn)

		// Mid-response: read the status line, then reset the
		// connection while the server is still writing.
		conn = dialSmall(t, s.HTTPAddr)
		if _, err := fmt.Fprintf(conn, "GET /api/v1/conversations/%d/transcript HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", id, token); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(line, " 200 ") {
			t.Fatalf("status line %q: %v", line, err)
		}
		time.Sleep(300 * time.Millisecond) // the server fills the buffers and blocks
		_ = conn.(*net.TCPConn).SetLinger(0)
		closeOrFail(t, conn)
	}

	search := openv1.SearchService_SearchTranscripts_FullMethodName
	get := openv1.ConversationService_GetTranscript_FullMethodName
	// goneLogged counts the access log lines of 499 CANCELED, and fails on
	// any of the two operations logged as a server error.
	goneLogged := func(final bool) int {
		n := 0
		for _, l := range strings.Split(s.Stderr.String(), "\n") {
			if !strings.Contains(l, search) && !strings.Contains(l, get) {
				continue
			}
			if final && (strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"status":500`)) {
				t.Errorf("logged as a server error: %s", l)
			}
			if strings.Contains(l, `"status":499`) && strings.Contains(l, `"reason":"CANCELED"`) && strings.Contains(l, `"level":"info"`) {
				n++
			}
		}
		return n
	}
	metrics := ""
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics = metricsText(t, s)
		if strings.Contains(metrics, requestsLine(search, 499, rounds)) && strings.Contains(metrics, requestsLine(get, 499, rounds)) &&
			goneLogged(false) == 2*rounds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %d times 499 for each operation in the metrics and the log:\n%s\nlogs:\n%s",
				rounds, grepLines(metrics, "mgv_requests_total"), s.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	goneLogged(true)
	for _, l := range strings.Split(metrics, "\n") {
		// WaitReady polls /readyz from the moment the port is open, and
		// its 503 before the service is ready is the probe working.
		if strings.HasPrefix(l, "mgv_requests_total") && strings.Contains(l, `code="5`) && !strings.Contains(l, `operation="GET /readyz"`) {
			t.Errorf("a server error is counted: %s", l)
		}
		if strings.HasPrefix(l, "mgv_breaker_transitions_total") && (strings.Contains(l, search) || strings.Contains(l, get)) {
			t.Errorf("the breaker counted a client that left: %s", l)
		}
	}

	// The operations still answer: no breaker opened.
	resp, err := authGet(s.URL(fmt.Sprintf("/api/v1/conversations/%d/transcript", id)), token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Error(err)
	}
	closeBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the clients left: %d", resp.StatusCode)
	}
}

// dialSmall connects with a small receive buffer, so that a large answer
// stays in the server's hands until the client reads it.
func dialSmall(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func requestsLine(operation string, code, n int) string {
	return fmt.Sprintf(`mgv_requests_total{code="%d",operation="%s",transport="http"} %d`, code, operation, n)
}

func metricsText(t *testing.T, s *Service) string {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBody(t, resp)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func authGet(url, token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}
