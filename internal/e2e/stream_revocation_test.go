//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/http/controller"
	"github.com/megaview/mgvcore/internal/model"
)

// endsRefused waits for an open stream to end with code and reason, and
// returns how long after since it ended; past within it fails the test.
func (s *eventStream) endsRefused(t *testing.T, since time.Time, within time.Duration, what string, code codes.Code, reason string) time.Duration {
	t.Helper()
	for {
		select {
		case <-s.events: // what the stream sent before it ended
			continue
		case err := <-s.done:
			took := time.Since(since)
			wantRPC(t, what, err, code, reason)
			t.Logf("%s: the open stream ended %v after (%v)", what, took.Round(time.Millisecond), err)
			return took
		case <-time.After(time.Until(since.Add(within))):
			t.Fatalf("%s: the open stream still runs %v after", what, within)
		}
		return 0
	}
}

// An open event stream ends, with the refusal a new call would get, when
// its app is disabled or deleted, within the revocation deadline; the
// streams so ended give back their slots, per app and in all, so a deleted
// app's streams cannot use up the server's cap.
func TestEventStreamEndsWhenItsAppIsRevokedOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	// The server's cap is one app's: every stream ended must give its
	// slot back for the next app to stream at all.
	s.Env["MGV_EVENTS_MAX_STREAMS_PER_APP"] = "2"
	s.Env["MGV_EVENTS_MAX_STREAMS"] = "2"
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	admin := f.Token(t, f.Admin)
	p := newPartner(t, conn, f.AppToken(t))
	c := newAppClient(t, s)
	newApp := func(name string) (controller.AppSecretJSON, string) { return c.readerApp(s, admin, name) }
	begin := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	p.create("stream-revoked-0", f.Reps[0].ID, begin, 60_000, nil)
	// open opens the cap's two streams with tok; each receives the log's
	// newest event, and a third stream is refused.
	open := func(tok string, cursor int64) []*eventStream {
		t.Helper()
		sts := []*eventStream{streamEvents(t, conn, tok, cursor), streamEvents(t, conn, tok, cursor)}
		for _, st := range sts {
			st.next(t, 5*time.Second)
		}
		third := streamEvents(t, conn, tok, cursor)
		wantRPC(t, "a stream over the cap", third.end(t, 5*time.Second), codes.ResourceExhausted, "OVER_CAPACITY")
		return sts
	}
	var cursor int64
	for i, end := range []struct{ what, path string }{
		{"disabled app", "/disable"},
		{"deleted app", ""},
	} {
		app, tok := newApp(fmt.Sprintf("streamer %d", i))
		sts := open(tok, cursor)
		cursor++
		// Live: a new event reaches both.
		p.create(fmt.Sprintf("stream-revoked-%d", i+1), f.Reps[0].ID, begin, 60_000, nil)
		for _, st := range sts {
			st.next(t, 5*time.Second)
		}
		at := time.Now()
		method := http.MethodPost
		if end.path == "" {
			method = http.MethodDelete
		}
		authCall(t, s, method, fmt.Sprintf("/api/v1/apps/%d%s", app.ID, end.path), admin, nil).want(t, http.StatusOK, "")
		for _, st := range sts {
			st.endsRefused(t, at, revocationDeadline, end.what, codes.Unauthenticated, "TOKEN_REVOKED")
		}
		// A new call with the token gets the same refusal.
		wantRPC(t, end.what+", new call", streamEvents(t, conn, tok, 0).end(t, 5*time.Second), codes.Unauthenticated, "TOKEN_REVOKED")
	}
	// The four streams ended gave back their slots: a fresh app opens the
	// whole cap again.
	_, tok := newApp("streamer after")
	open(tok, 0)
}

// tokenExpiry reads the exp claim of a JWT.
func tokenExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("claims %s: %v", raw, err)
	}
	return time.Unix(claims.Exp, 0)
}

// A user's open event stream ends when the access token it was opened with
// expires, with the refusal a new call with that token gets, and not
// before.
func TestEventStreamEndsAtTokenExpiryOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	s.Env["MGV_AUTH_ACCESS_TOKEN_TTL"] = "4s"
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	p := newPartner(t, conn, f.AppToken(t))
	p.create("stream-expiry-1", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)

	login := func() authPair {
		var p authPair
		authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *f.Admin.Email, "password": f.Password}).
			want(t, http.StatusOK, "").decode(t, &p)
		if p.ExpiresIn != 4 {
			t.Fatalf("login answered expires_in %d, want the 4 s configured", p.ExpiresIn)
		}
		return p
	}
	session := login()
	exp := tokenExpiry(t, session.AccessToken)
	if left := time.Until(exp); left <= time.Second || left > 5*time.Second {
		t.Fatalf("the access token expires in %v, want the 4s configured", left)
	}
	st := streamEvents(t, conn, session.AccessToken, 0)
	st.next(t, 5*time.Second)
	st.endsRefused(t, exp, time.Second+500*time.Millisecond, "expired token", codes.Unauthenticated, "UNAUTHENTICATED")
	if early := time.Until(exp); early > 0 {
		t.Fatalf("the stream ended %v before its token expired", early)
	}
	wantRPC(t, "expired token, new call", streamEvents(t, conn, session.AccessToken, 0).end(t, 5*time.Second), codes.Unauthenticated, "UNAUTHENTICATED")
	// A fresh token streams again.
	fresh := login()
	streamEvents(t, conn, fresh.AccessToken, 0).next(t, 5*time.Second)
}

// uploaderApp creates, as admin, an app with the ingest scope.
func uploaderApp(t *testing.T, s *Service, admin string) controller.AppSecretJSON {
	t.Helper()
	var app controller.AppSecretJSON
	authCall(t, s, http.MethodPost, "/api/v1/apps", admin, map[string]any{"name": "uploader", "scopes": []string{"ingest"}}).
		want(t, http.StatusCreated, "").decode(t, &app)
	return app
}

// A transcript upload whose app is disabled while it streams is refused
// with TOKEN_REVOKED at its next chunk, and stores nothing.
func TestTranscriptUploadEndsWhenItsAppIsRevokedOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	admin := f.Token(t, f.Admin)
	app := uploaderApp(t, s, admin)
	p := newPartner(t, conn, newAppClient(t, s).mustToken(app.AppKey, app.AppSecret))
	id := p.create("upload-revoked", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)
	lines := transcript(4, "revoked")
	st, err := p.conv.PutTranscript(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *openv1.PutTranscriptRequest) {
		t.Helper()
		if err := st.Send(m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{Header: &openv1.TranscriptHeader{ConversationId: id}}})
	send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: lines[:2]}}})
	authCall(t, s, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/disable", app.ID), admin, nil).want(t, http.StatusOK, "")
	_ = st.Send(&openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Chunk{Chunk: &openv1.SentenceChunk{Sentences: lines[2:]}}})
	_, err = st.CloseAndRecv()
	wantRPC(t, "upload after the app was disabled", err, codes.Unauthenticated, "TOKEN_REVOKED")
	var conv model.Conversation
	if err := f.DB.First(&conv, id).Error; err != nil {
		t.Fatal(err)
	}
	if conv.TranscriptVersion != 0 {
		t.Fatalf("the revoked upload was stored (transcript version %d)", conv.TranscriptVersion)
	}
}

// Transcript uploads whose client went silent after the header, holding
// every stream slot of their app, end when the app's secret is rotated on
// another instance (no grace: the leaked token's holder is cut off), within
// the revocation deadline, with the refusal a new call would get, though
// their clients send nothing more: their slots come back, and the app,
// with its new secret, uploads at once rather than after grpc.stream_timeout.
func TestStalledTranscriptUploadsEndWhenTheirTokenIsRevokedOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_GRPC_MAX_STREAMS_PER_APP"] = "2"
	one, two, f := twoInstances(t, env, NewService)
	conn := two.GRPC()
	admin := f.Token(t, f.Admin)
	app := uploaderApp(t, one, admin)
	leaked := newPartner(t, conn, newAppClient(t, two).mustToken(app.AppKey, app.AppSecret))
	id := leaked.create("upload-stalled", f.Reps[0].ID, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), 60_000, nil)
	header := &openv1.PutTranscriptRequest{Payload: &openv1.PutTranscriptRequest_Header{Header: &openv1.TranscriptHeader{ConversationId: id}}}
	ended := make(chan error, 2)
	for range 2 {
		st, err := leaked.conv.PutTranscript(leaked.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(header); err != nil {
			t.Fatal(err)
		}
		// The client sends nothing more, nor closes its side: it only
		// waits for the server's answer.
		go func() { ended <- st.RecvMsg(new(openv1.PutTranscriptResponse)) }()
	}
	// Once their headers are read, both slots are taken: the app's third
	// stream is refused.
	time.Sleep(time.Second)
	third, err := leaked.conv.PutTranscript(leaked.ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = third.Send(header) // io.EOF once refused: CloseAndRecv has why
	_, err = third.CloseAndRecv()
	wantRPC(t, "a third stream while two are open", err, codes.ResourceExhausted, "OVER_CAPACITY")

	var rotated controller.AppSecretJSON
	at := time.Now()
	authCall(t, one, http.MethodPost, fmt.Sprintf("/api/v1/apps/%d/rotate-secret", app.ID), admin, nil).
		want(t, http.StatusOK, "").decode(t, &rotated)
	for range 2 {
		select {
		case err := <-ended:
			wantRPC(t, "a stalled upload of the rotated secret", err, codes.Unauthenticated, "TOKEN_REVOKED")
			t.Logf("a stalled upload ended %v after the rotation on the other instance: %v", time.Since(at).Round(time.Millisecond), err)
		case <-time.After(time.Until(at.Add(revocationDeadline))):
			t.Fatalf("a stalled upload of the rotated secret still holds its slot %v after the rotation", revocationDeadline)
		}
	}
	// The slots are back: the app's own upload, with its new secret, goes
	// through at once.
	owner := newPartner(t, conn, newAppClient(t, two).mustToken(app.AppKey, rotated.AppSecret))
	res, err := owner.put(id, transcript(4, "owner"), 2)
	if err != nil {
		t.Fatalf("the app's upload with its new secret: %v", err)
	}
	if res.GetSentenceCount() != 4 {
		t.Fatalf("stored %d sentences, want the owner's 4", res.GetSentenceCount())
	}
}

// A transcript download whose user signs out on another instance ends
// within the revocation deadline, with the connection closed under a
// partial answer: the server neither reads nor sends the rest. The client
// reads slowly, so the server spends most of the download blocked in a
// write, where only the download's write deadline would end it otherwise.
func TestTranscriptDownloadEndsWhenItsTokenIsRevokedOnMariaDB(t *testing.T) {
	env := mysqlEnv(t)
	env["MGV_RATELIMIT_ENABLED"] = "false"
	one, two, f := twoInstances(t, env, NewService)
	id := longTranscript(t, newPartner(t, two.GRPC(), f.AppToken(t)), "download-revoked", f.Reps[0].ID)
	session := authLogin(t, one, *f.Admin.Email, f.Password)

	download := slowDownload(t, two, id, session.AccessToken)
	time.Sleep(2 * time.Second)
	at := time.Now()
	authCall(t, one, http.MethodPost, "/api/v1/auth/logout", session.AccessToken, nil).want(t, http.StatusOK, "")
	// What the server had written into the sockets before the cut still
	// arrives, at the client's pace: a few seconds more.
	const drain = 5 * time.Second
	select {
	case got := <-download:
		took := time.Since(at)
		t.Logf("the download ended %v after the sign-out on the other instance, with %d MB of about 40", took.Round(time.Millisecond), got/mib)
		if got >= 36*mib {
			t.Fatalf("the download got the whole transcript (%d bytes) after its token was revoked", got)
		}
	case <-time.After(revocationDeadline + drain):
		t.Fatalf("the download still runs %v after its token was revoked on the other instance", revocationDeadline+drain)
	}
	// The same token reads nothing more on either instance.
	for _, s := range []*Service{one, two} {
		authCall(t, s, http.MethodGet, fmt.Sprintf("/api/v1/conversations/%d/transcript", id), session.AccessToken, nil).
			want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
	}
}
