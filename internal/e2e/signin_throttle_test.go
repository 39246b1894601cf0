//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	openv1 "github.com/megaview/mgvcore/api/proto/mgv/open/v1"
)

// signinAnswer is one answer to POST /api/v1/auth/login as a client sees it.
type signinAnswer struct {
	status     int
	retryAfter string
	code       int
	reason     string
	msg        string
	took       time.Duration
}

// signin posts one login without failing the test (it runs in goroutines).
func signin(s *Service, account, password string) (_ signinAnswer, err error) {
	return signinFrom(s, "", account, password)
}

// signinFrom is signin from client address from, forwarded by a trusted
// proxy ("": the test's own address).
func signinFrom(s *Service, from, account, password string) (_ signinAnswer, err error) {
	body, _ := json.Marshal(map[string]string{"account": account, "password": password})
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, s.URL("/api/v1/auth/login"), strings.NewReader(string(body)))
	if err != nil {
		return signinAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return signinAnswer{}, err
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	var env struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
		Msg    string `json:"msg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return signinAnswer{}, err
	}
	return signinAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), code: env.Code,
		reason: env.Reason, msg: env.Msg, took: time.Since(start)}, nil
}

// hammer sends n wrong passwords for account, concurrent at a time,
// alternating between the instances, and returns the answers.
func hammer(t *testing.T, instances []*Service, account string, n, concurrent int) []signinAnswer {
	t.Helper()
	answers := make([]signinAnswer, n)
	sem := make(chan struct{}, concurrent)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a, err := signin(instances[i%len(instances)], account, "wrong password")
			if err != nil {
				t.Error(err)
			}
			answers[i] = a
		})
	}
	wg.Wait()
	return answers
}

// tally checks that answers are the budget's 401s and then 429s with
// Retry-After, and returns the 401s and one 429 (its hint zeroed).
func tally(t *testing.T, label string, answers []signinAnswer) (int, signinAnswer) {
	t.Helper()
	unauth, limited := 0, 0
	var refusal signinAnswer
	for _, a := range answers {
		switch a.status {
		case http.StatusUnauthorized:
			unauth++
			if a.reason != "UNAUTHENTICATED" || a.msg != "the account or the password is wrong" {
				t.Errorf("%s: 401 %+v", label, a)
			}
		case http.StatusTooManyRequests:
			limited++
			secs, err := strconv.Atoi(a.retryAfter)
			if err != nil || secs < 1 || secs > 900 || a.reason != "RATE_LIMITED" || a.code != 42901 ||
				a.msg != "too many sign-in attempts; retry after "+a.retryAfter+" s" {
				t.Errorf("%s: 429 %+v", label, a)
			}
			refusal = a
			refusal.retryAfter, refusal.msg, refusal.took = "", "", 0
		default:
			t.Errorf("%s: %+v", label, a)
		}
	}
	t.Logf("%s: %d answered 401, %d answered 429", label, unauth, limited)
	if unauth != 5 || unauth+limited != len(answers) {
		t.Errorf("%s: %d answered 401 and %d 429; want the budget of 5 401s, then 429", label, unauth, limited)
	}
	return unauth, refusal
}

// signinEnv is a service on MariaDB whose per-address request rate, which
// is not what these tests are about, is out of the way.
func signinEnv(t *testing.T) map[string]string {
	env := mysqlEnv(t)
	env["MGV_RATELIMIT_ANON_RPS"] = "10000"
	env["MGV_RATELIMIT_ANON_BURST"] = "10000"
	return env
}

// Sign-in throttling on two instances of one MariaDB database: a burst of
// wrong passwords is refused after the account's budget, whichever
// instance answers; an unknown account is answered as a known one; a
// success resets the account.
func TestSigninThrottleAcrossInstancesOnMariaDB(t *testing.T) {
	env := signinEnv(t)
	a := NewService(t, env)
	f := NewFixture(t, a)
	b := NewService(t, env)
	a.Start()
	b.Start()
	both := []*Service{a, b}

	// 200 wrong passwords for one account, 20 at a time, on both instances.
	known, knownRefusal := tally(t, "known account", hammer(t, both, *f.Reps[0].Email, 200, 20))
	unknownAccount := "nobody." + strings.Split(*f.Reps[0].Email, ".")[1] // same domain and tag
	unknown, unknownRefusal := tally(t, "unknown account", hammer(t, both, unknownAccount, 200, 20))
	if knownRefusal != unknownRefusal {
		t.Errorf("refusals differ: known %+v, unknown %+v", knownRefusal, unknownRefusal)
	}
	t.Logf("401s before the refusals: known %d, unknown %d", known, unknown)
	// Even the right password waits for the window now.
	if r, err := signin(b, *f.Reps[0].Email, f.Password); err != nil || r.status != http.StatusTooManyRequests {
		t.Fatalf("right password after the burst: %+v %v", r, err)
	}

	// The count is the fleet's: five failures on A, the sixth attempt on B
	// is refused.
	for i := range 5 {
		if r, _ := signin(a, *f.Reps[1].Email, "wrong password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d on A: %+v", i+1, r)
		}
	}
	if r, _ := signin(b, *f.Reps[1].Email, f.Password); r.status != http.StatusTooManyRequests || r.retryAfter == "" {
		t.Fatalf("sixth attempt on B: %+v", r)
	}
	// The instances share the buckets' key (derived from the fleet's
	// secret), and the table holds none as the plain SHA-256 of the
	// account or the address, which anyone reading it could compute.
	plain := func(kind, key string) string {
		sum := sha256.Sum256([]byte(kind + "\x00" + key))
		return hex.EncodeToString(sum[:])
	}
	for _, p := range []string{plain("account", "typed\x00"+*f.Reps[1].Email), plain("address", "127.0.0.1")} {
		var n int64
		if err := f.DB.Raw("SELECT COUNT(*) FROM signin_throttle WHERE bucket = ?", p).Scan(&n).Error; err != nil || n != 0 {
			t.Fatalf("signin_throttle holds the plain SHA-256 of an account or an address (%d rows, %v)", n, err)
		}
	}

	// A known account of a user made by the service (its password hashed
	// at the service's cost) and an unknown one take alike, attempt by
	// attempt, failures slowing down.
	admin := f.Token(t, f.Admin)
	email := "timed." + strings.Split(*f.Reps[0].Email, ".")[1]
	authCall(t, a, http.MethodPost, "/api/v1/users", admin, map[string]any{"name": "Timed", "email": email, "password": "timed user password"}).
		want(t, http.StatusCreated, "")
	for i := range 3 {
		k, err1 := signin(a, email, "wrong password")
		u, err2 := signin(b, "nobody-"+email, "wrong password")
		if err1 != nil || err2 != nil || k.status != u.status || k.msg != u.msg || k.code != u.code {
			t.Fatalf("attempt %d: known %+v %v, unknown %+v %v", i+1, k, err1, u, err2)
		}
		ratio := float64(k.took) / float64(u.took)
		t.Logf("attempt %d: known %v, unknown %v", i+1, k.took.Round(time.Millisecond), u.took.Round(time.Millisecond))
		if ratio < 0.33 || ratio > 3 {
			t.Errorf("attempt %d: known took %v, unknown %v", i+1, k.took, u.took)
		}
		if i == 2 && k.took < 400*time.Millisecond {
			t.Errorf("the third failure in a row took %v: failures do not slow down", k.took)
		}
	}

	// A success resets the account: four failures, a success, five more
	// failures are all 401, the next is 429.
	rep := *f.Reps[2].Email
	for i := range 4 {
		if r, _ := signin(both[i%2], rep, "wrong password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %+v", i+1, r)
		}
	}
	authLogin(t, b, rep, f.Password)
	for i := range 5 {
		if r, _ := signin(both[i%2], rep, "wrong password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d after the success: %+v", i+1, r)
		}
	}
	if r, _ := signin(a, rep, "wrong password"); r.status != http.StatusTooManyRequests {
		t.Fatalf("sixth failure after the success: %+v", r)
	}

	// gRPC CreateAppToken: an app key's budget, with a retry hint.
	var last error
	for i := range 6 {
		conn := both[i%2].GRPC()
		_, last = openv1.NewAuthServiceClient(conn).CreateAppToken(t.Context(), &openv1.CreateAppTokenRequest{AppKey: f.App.AppKey, AppSecret: "wrong secret"})
		if code := status.Code(last); i < 5 && code != codes.Unauthenticated {
			t.Fatalf("app attempt %d: %v", i+1, last)
		}
	}
	st := status.Convert(last)
	var hint *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			hint = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || hint == nil || hint.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("sixth app attempt: %v (retry hint %v)", last, hint)
	}
	// The rows are few: for each account typed and app key one from this
	// client and one in all, the same for the user found (or nobody's
	// account typed), one per address, and one for each client an account
	// signed in from.
	var rows int64
	if err := f.DB.Raw("SELECT COUNT(*) FROM signin_throttle").Scan(&rows).Error; err != nil || rows > 32 {
		t.Fatalf("signin_throttle rows: %d %v", rows, err)
	}
}

// TestSigninIsExactOnMariaDB: MariaDB's collation takes "lí.na@…" and an
// app key in capitals for the stored ones. Each such spelling had a budget
// of its own, and the right password signed in through one of them while
// the account itself was throttled. An account and an app are now found
// by their exact identifier only.
func TestSigninIsExactOnMariaDB(t *testing.T) {
	s := NewService(t, signinEnv(t))
	f := NewFixture(t, s)
	s.Start()
	email := *f.Reps[1].Email // <name>.<tag>@test.mgv
	accented := strings.Replace(email, "e", "é", 1)
	if r, err := signin(s, accented, f.Password); err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("the right password under %q: %+v %v; want 401", accented, r, err)
	}
	tally(t, "wrong passwords", hammer(t, []*Service{s}, email, 6, 1))
	for _, spelling := range []string{accented, strings.ToUpper(email), strings.Replace(email, "test", "tést", 1)} {
		if r, err := signin(s, spelling, f.Password); err != nil || r.status == http.StatusOK {
			t.Fatalf("the right password under %q while the account is throttled: %+v %v", spelling, r, err)
		}
	}

	auth := openv1.NewAuthServiceClient(s.GRPC())
	ctx := context.Background()
	upper := strings.ToUpper(f.App.AppKey)
	if _, err := auth.CreateAppToken(ctx, &openv1.CreateAppTokenRequest{AppKey: upper, AppSecret: f.AppSecret}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the right secret under app key %q: %v; want UNAUTHENTICATED", upper, err)
	}
	if _, err := auth.CreateAppToken(ctx, &openv1.CreateAppTokenRequest{AppKey: f.App.AppKey, AppSecret: f.AppSecret}); err != nil {
		t.Fatalf("the app's own key: %v", err)
	}
}

// Nobody can lock an account out, on a fleet: wrong passwords spread over
// 60 clients and two instances meet the account's total budget, so a
// client the account does not know waits; but where the owner signed in
// before, they still get in, on either instance.
func TestSigninAttackDoesNotLockTheOwnerOutOnMariaDB(t *testing.T) {
	env := signinEnv(t)
	env["MGV_HTTP_TRUSTED_PROXIES"] = "127.0.0.1/32"
	env["MGV_AUTH_SIGNIN_ACCOUNT_TOTAL_ATTEMPTS"] = "20"
	a := NewService(t, env)
	f := NewFixture(t, a)
	b := NewService(t, env)
	a.Start()
	b.Start()
	account, home := *f.Reps[0].Email, "203.0.113.7"
	if r, err := signinFrom(a, home, account, f.Password); err != nil || r.status != http.StatusOK {
		t.Fatalf("the owner signs in at home: %+v %v", r, err)
	}

	answers := make([]signinAnswer, 60)
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	for i := range answers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s := []*Service{a, b}[i%2]
			r, err := signinFrom(s, fmt.Sprintf("198.51.100.%d", i+1), account, "wrong password")
			if err != nil {
				t.Error(err)
			}
			answers[i] = r
		})
	}
	wg.Wait()
	failed, limited := 0, 0
	for _, r := range answers {
		switch r.status {
		case http.StatusUnauthorized:
			failed++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Errorf("a guess: %+v", r)
		}
	}
	if failed != 20 || limited != 40 {
		t.Fatalf("60 guesses from 60 clients: %d failed and %d refused; want the account's total of 20 and 40", failed, limited)
	}
	if r, _ := signinFrom(b, "192.0.2.99", account, f.Password); r.status != http.StatusTooManyRequests {
		t.Fatalf("a client the account does not know, during the attack: %+v", r)
	}
	for _, s := range []*Service{a, b} {
		if r, err := signinFrom(s, home, account, f.Password); err != nil || r.status != http.StatusOK {
			t.Fatalf("the owner at home during the attack: %+v %v", r, err)
		}
	}
}

// An account with an email and a phone, on the real binary: wrong
// passwords through either, and guesses of the current password in a
// password change, are counted together against the user, so the right
// password through the other way in fails once the user's budget is
// spent; and the answers through one account's email and phone are those
// through an unknown email and phone, so they tell nobody that the two
// are one account's.
func TestSigninEmailAndPhoneShareOneBudgetOnMariaDB(t *testing.T) {
	env := signinEnv(t)
	env["MGV_HTTP_TRUSTED_PROXIES"] = "127.0.0.1/32"
	s := NewService(t, env)
	f := NewFixture(t, s)
	s.Start()
	phones := map[int64]string{}
	for _, u := range f.Reps[:2] {
		phone := fmt.Sprintf("+86139%08d", rand.IntN(100_000_000))
		if err := f.DB.Model(&u).Update("phone", phone).Error; err != nil {
			t.Fatal(err)
		}
		phones[u.ID] = phone
	}
	email, phone := *f.Reps[0].Email, phones[f.Reps[0].ID]
	national := strings.TrimPrefix(phone, "+86")
	if r, err := signin(s, national, f.Password); err != nil || r.status != http.StatusOK {
		t.Fatalf("the right password through the phone %q: %+v %v", national, r, err)
	}
	for i := range 5 {
		account := email
		if i%2 == 1 {
			account = phone
		}
		if r, err := signin(s, account, "wrong password"); err != nil || r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d through %q: %+v %v; want 401", i+1, account, r, err)
		}
	}
	for _, account := range []string{phone, national, strings.ToUpper(email)} {
		r, err := signin(s, account, f.Password)
		if err != nil || r.status != http.StatusUnauthorized {
			t.Fatalf("the right password through %q while the account is over its budget: %+v %v; want 401", account, r, err)
		}
	}
	// From fresh addresses: six wrong passwords through an email, then
	// six through a phone, answered alike for one account's and for
	// nobody's.
	answers := func(addr string, accounts ...string) string {
		var out []string
		for _, account := range accounts {
			for range 6 {
				r, err := signinFrom(s, addr, account, "wrong password")
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%d %s", r.status, r.reason))
			}
		}
		return strings.Join(out, ", ")
	}
	other := f.Reps[2]
	otherPhone := fmt.Sprintf("+86137%08d", rand.IntN(100_000_000))
	if err := f.DB.Model(&other).Update("phone", otherPhone).Error; err != nil {
		t.Fatal(err)
	}
	known := answers("192.0.2.31", *other.Email, otherPhone)
	if unknown := answers("192.0.2.32", "nobody-"+*other.Email, fmt.Sprintf("+86136%08d", rand.IntN(100_000_000))); known != unknown {
		t.Fatalf("one account's email and phone:\n%s\nnobody's:\n%s", known, unknown)
	}

	// Guessing the current password in a password change spends the budget
	// of sign-ins through the phone.
	rep := f.Reps[1]
	token := f.Token(t, rep)
	for range 4 {
		if r, err := signin(s, phones[rep.ID], "wrong password"); err != nil || r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password through the phone: %+v %v; want 401", r, err)
		}
	}
	authCall(t, s, http.MethodPut, "/api/v1/me/password", token,
		map[string]string{"current_password": "wrong password", "new_password": "a new password 1"}).want(t, http.StatusBadRequest, "INVALID_ARGUMENT")
	authCall(t, s, http.MethodPut, "/api/v1/me/password", token,
		map[string]string{"current_password": f.Password, "new_password": "a new password 1"}).want(t, http.StatusTooManyRequests, "RATE_LIMITED")
}

// A number libphonenumber does not take as valid, stored before E.164
// normalisation, is answered through its spellings exactly as an unknown
// number of the same shape: no sixth guess tells whether it is an account.
func TestSigninStoredAndUnknownNumbersAnswerAlikeOnMariaDB(t *testing.T) {
	s := NewService(t, signinEnv(t))
	f := NewFixture(t, s)
	s.Start()
	known := fmt.Sprintf("12%08d", rand.IntN(100_000_000)) // no Chinese area code starts 12
	unknown := fmt.Sprintf("12%08d", (rand.IntN(100_000_000)+1)%100_000_000)
	if unknown == known {
		unknown = "1200000000"
	}
	if err := f.DB.Model(&f.Reps[0]).Update("phone", known).Error; err != nil {
		t.Fatal(err)
	}
	if r, err := signin(s, "+86"+known, f.Password); err != nil || r.status != http.StatusOK {
		t.Fatalf("the stored number through another spelling: %+v %v", r, err)
	}
	var answers [2][]string
	for i, number := range []string{known, unknown} {
		spellings := []string{number, number, number, number, number, "+86" + number, "0086 " + number, "0" + number}
		for _, account := range spellings {
			r, err := signin(s, account, "wrong password")
			if err != nil {
				t.Fatal(err)
			}
			answers[i] = append(answers[i], fmt.Sprintf("%d %s", r.status, r.reason))
		}
	}
	t.Logf("stored: %q", answers[0])
	if fmt.Sprint(answers[0]) != fmt.Sprint(answers[1]) {
		t.Fatalf("a stored and an unknown number are told apart:\n%q\n%q", answers[0], answers[1])
	}
	if last := answers[1][len(answers[1])-1]; last != "429 RATE_LIMITED" {
		t.Fatalf("the sixth guess through another spelling: %s; want 429", last)
	}
}
