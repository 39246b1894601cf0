//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
	"github.com/megaview/mgvcore/internal/logic/identity"
)

// authResult is one /api/v1 answer: the status and the decoded envelope.
type authResult struct {
	Status   int
	Code     int               `json:"code"`
	Msg      string            `json:"msg"`
	Reason   string            `json:"reason"`
	Metadata map[string]string `json:"metadata"`
	Data     json.RawMessage   `json:"data"`
}

// authCall sends a JSON request to the service, with a bearer token unless
// token is empty.
func authCall(t *testing.T, s *Service, method, path, token string, body any) authResult {
	t.Helper()
	r, err := tryCall(s, method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryCall is authCall for any goroutine: it reports what went wrong
// instead of ending the test.
func tryCall(s *Service, method, path, token string, body any) (authResult, error) {
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return authResult{}, err
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, s.URL(path), rd)
	if err != nil {
		return authResult{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return authResult{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	r := authResult{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return authResult{}, fmt.Errorf("%s %s: %d, undecodable body: %w", method, path, resp.StatusCode, err)
	}
	return r, nil
}

// want checks the status and, for errors, the reason; it returns r.
func (r authResult) want(t *testing.T, status int, reason string) authResult {
	t.Helper()
	if r.Status != status || (reason != "" && r.Reason != reason) {
		t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Reason, r.Msg, status, reason)
	}
	return r
}

// decode reads the data of the envelope into v.
func (r authResult) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
}

type authPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

func authLogin(t *testing.T, s *Service, account, password string) authPair {
	t.Helper()
	var p authPair
	authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": account, "password": password}).
		want(t, http.StatusOK, "").decode(t, &p)
	if p.AccessToken == "" || p.RefreshToken == "" || p.ExpiresIn != 900 || p.TokenType != "Bearer" {
		t.Fatalf("login answered %+v", p)
	}
	return p
}

func authRefresh(t *testing.T, s *Service, token string) authResult {
	t.Helper()
	return authCall(t, s, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
}

// meID is the user id /me answers for token.
func authMeID(t *testing.T, s *Service, token string) int64 {
	t.Helper()
	var me struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	authCall(t, s, http.MethodGet, "/api/v1/me", token, nil).want(t, http.StatusOK, "").decode(t, &me)
	return me.User.ID
}

// grpcReason is the ErrorInfo reason of a gRPC error.
func authGRPCReason(err error) (codes.Code, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.Reason
		}
	}
	return st.Code(), ""
}

func authBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func TestAuthLoginRefreshAndReuseOnMariaDB(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	rep := f.Reps[0]

	// By email, in any case.
	p := authLogin(t, s, strings.ToUpper(*rep.Email), f.Password)
	if id := authMeID(t, s, p.AccessToken); id != rep.ID {
		t.Fatalf("/me is user %d, want %d", id, rep.ID)
	}

	// By phone, for a user an admin created with one.
	admin := f.Token(t, f.Admin)
	phone := fmt.Sprintf("+86139%08d", f.Tenant.ID)
	var created struct {
		ID int64 `json:"id"`
	}
	authCall(t, s, http.MethodPost, "/api/v1/users", admin, map[string]any{
		"name": "电话 Phone User", "phone": phone, "password": "phone user password", "department_id": f.East.ID,
	}).want(t, http.StatusCreated, "").decode(t, &created)
	byPhone := authLogin(t, s, phone[:3]+" "+phone[3:6]+"-"+phone[6:], "phone user password")
	if id := authMeID(t, s, byPhone.AccessToken); id != created.ID {
		t.Fatalf("/me by phone is user %d, want %d", id, created.ID)
	}

	// Wrong password, unknown account, missing fields.
	authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *rep.Email, "password": "wrong password"}).
		want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": "nobody@nowhere.test", "password": f.Password}).
		want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	r := authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"password": f.Password}).
		want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	if r.Metadata["field"] != "account" {
		t.Fatalf("missing account names %q", r.Metadata["field"])
	}

	// A refresh token works once; presenting it again revokes its family.
	other := authLogin(t, s, *rep.Email, f.Password) // another login: another family
	var second authPair
	authRefresh(t, s, p.RefreshToken).want(t, http.StatusOK, "").decode(t, &second)
	if second.RefreshToken == p.RefreshToken || authMeID(t, s, second.AccessToken) != rep.ID {
		t.Fatalf("refresh answered %+v", second)
	}
	authRefresh(t, s, p.RefreshToken).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	authRefresh(t, s, second.RefreshToken).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	// The access token refreshed from the reused token, perhaps a thief's,
	// is refused, as are the user's others.
	for _, tok := range []string{second.AccessToken, other.AccessToken} {
		r := authCall(t, s, http.MethodGet, "/api/v1/me", tok, nil).want(t, http.StatusUnauthorized, "TOKEN_REVOKED")
		if !strings.Contains(r.Msg, "used twice") {
			t.Fatalf("refusal after a refresh token's reuse says %q", r.Msg)
		}
	}
	// The user's other login refreshes and goes on with its new access
	// token; another user is untouched.
	var again authPair
	authRefresh(t, s, other.RefreshToken).want(t, http.StatusOK, "").decode(t, &again)
	if authMeID(t, s, again.AccessToken) != rep.ID {
		t.Fatal("the other login's refreshed token is not the user's")
	}
	if authMeID(t, s, byPhone.AccessToken) != created.ID {
		t.Fatal("another user's token changed hands")
	}
	authRefresh(t, s, byPhone.RefreshToken).want(t, http.StatusOK, "")

	// Concurrent refreshes of one token: exactly one wins.
	fresh := authLogin(t, s, *rep.Email, f.Password)
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			// Not authCall: t.Fatal belongs to the test's goroutine.
			body := strings.NewReader(`{"refresh_token":"` + fresh.RefreshToken + `"}`)
			resp, err := http.Post(s.URL("/api/v1/auth/refresh"), "application/json", body)
			if err != nil {
				t.Error(err)
				return
			}
			closeBody(t, resp)
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	wins := 0
	for st := range statuses {
		switch st {
		case http.StatusOK:
			wins++
		case http.StatusUnauthorized:
		default:
			t.Fatalf("concurrent refresh answered %d", st)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent refreshes won, want 1", wins)
	}

	// A disabled user can neither sign in nor refresh.
	victim := authLogin(t, s, *f.Reps[3].Email, f.Password)
	authCall(t, s, http.MethodPut, fmt.Sprintf("/api/v1/users/%d", f.Reps[3].ID), admin, map[string]string{"status": "disabled"}).
		want(t, http.StatusOK, "")
	authCall(t, s, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"account": *f.Reps[3].Email, "password": f.Password}).
		want(t, http.StatusUnauthorized, "USER_DISABLED")
	authRefresh(t, s, victim.RefreshToken).want(t, http.StatusUnauthorized, "")
}

func TestAuthRefusesBadTokens(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	good := f.Token(t, f.Reps[0])
	parts := strings.Split(good, ".")

	expired, err := identity.NewTokens(testJWTSecret, -time.Minute, time.Hour).IssueAccess(&f.Reps[0], "", "standard", 0)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := identity.NewTokens("not-the-secret-of-the-service-0123456789", time.Hour, time.Hour).IssueAccess(&f.Admin, "", "standard", 0)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	promoted := parts[0] + "." + b64(bytes.Replace(payload, []byte(`"role":"rep"`), []byte(`"role":"admin"`), 1)) + "." + parts[2]

	tests := []struct{ name, token, msg string }{
		{"expired", expired, "expired"},
		{"signed with another secret", forged, "not valid"},
		{"alg none", algNone, "not valid"},
		{"payload changed after signing", promoted, "not valid"},
		{"not a JWT", "garbage", "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := authCall(t, s, http.MethodGet, "/api/v1/me", tt.token, nil).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
			if !strings.Contains(r.Msg, tt.msg) {
				t.Fatalf("message %q, want it to say %q", r.Msg, tt.msg)
			}
		})
	}
	authCall(t, s, http.MethodGet, "/api/v1/users", "", nil).want(t, http.StatusUnauthorized, "UNAUTHENTICATED")
	if authMeID(t, s, good) != f.Reps[0].ID {
		t.Fatal("the untampered token does not work")
	}

	// The same refusals on gRPC.
	org := openv1.NewOrgServiceClient(s.GRPC())
	for _, tok := range []string{algNone, expired, forged} {
		_, err := org.ListUsers(authBearer(t.Context(), tok), &openv1.ListUsersRequest{})
		if code, reason := authGRPCReason(err); code != codes.Unauthenticated || reason != "UNAUTHENTICATED" {
			t.Fatalf("gRPC with a bad token: %v", err)
		}
	}
	if _, err := org.ListUsers(t.Context(), &openv1.ListUsersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC without a token: %v", err)
	}
}

func TestAuthAppTokenOverGRPC(t *testing.T) {
	s := NewService(t, mysqlEnv(t))
	f := NewFixture(t, s)
	s.Start()
	conn := s.GRPC()
	auth := openv1.NewAuthServiceClient(conn)

	res, err := auth.CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: f.App.AppKey, AppSecret: f.AppSecret})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExpiresIn != 7200 || res.TokenType != "Bearer" || res.AccessToken == "" {
		t.Fatalf("CreateAppToken answered %+v", res)
	}
	users, err := openv1.NewOrgServiceClient(conn).ListUsers(authBearer(t.Context(), res.AccessToken), &openv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if users.Total != 6 {
		t.Fatalf("the app sees %d users, want the tenant's 6", users.Total)
	}

	tests := []struct {
		name        string
		key, secret string
		code        codes.Code
		reason      string
	}{
		{"wrong secret", f.App.AppKey, f.AppSecret + "x", codes.Unauthenticated, "UNAUTHENTICATED"},
		{"unknown key", "ak_unknown", f.AppSecret, codes.Unauthenticated, "UNAUTHENTICATED"},
		{"no key", "", f.AppSecret, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"no secret", f.App.AppKey, "", codes.InvalidArgument, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: tt.key, AppSecret: tt.secret})
			if code, reason := authGRPCReason(err); code != tt.code || reason != tt.reason {
				t.Fatalf("got %v, want %s %s", err, tt.code, tt.reason)
			}
		})
	}
}
