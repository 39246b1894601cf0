package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/identity"
	"github.com/megaview/mgvcore/internal/model"
)

// loginAnswer is what a client learns from one sign-in: the reason and the
// message (the same for a known and an unknown account), or "OK".
func loginAnswer(t *testing.T, w *orgWorld, ctx context.Context, account, password string) string {
	t.Helper()
	_, err := w.auth.Login(ctx, identity.LoginRequest{Account: account, Password: password})
	if err == nil {
		return "OK"
	}
	e := errs.From(err)
	return e.Reason + ": " + e.Message
}

func TestSigninThrottlePerAccount(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.1")
	// A known and an unknown account get the same answers and the same
	// delays, attempt by attempt.
	var answers [2][]string
	var delays [2][]time.Duration
	for i, account := range []string{"rep1@acme.test", "nobody@acme.test"} {
		for range 8 {
			answers[i] = append(answers[i], loginAnswer(t, w, ctx, account, "wrong password"))
		}
		delays[i] = w.sleeps.Take()
	}
	if !slices.Equal(answers[0], answers[1]) || !slices.Equal(delays[0], delays[1]) {
		t.Fatalf("known and unknown accounts are told apart:\n%q %v\n%q %v", answers[0], delays[0], answers[1], delays[1])
	}
	for i, a := range answers[0] {
		want := "UNAUTHENTICATED: the account or the password is wrong"
		if i >= 5 {
			want = "RATE_LIMITED: too many sign-in attempts; retry after 900 s"
		}
		if a != want {
			t.Fatalf("attempt %d: %s, want %s", i+1, a, want)
		}
	}
	// Failures slow down: none for the first, then doubling.
	if want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}; !slices.Equal(delays[0], want) {
		t.Fatalf("delays %v, want %v", delays[0], want)
	}
	// Over the budget even the right password is refused, with a retry hint
	// and without a password check.
	before := w.hasher.compares.Load()
	_, err := w.auth.Login(ctx, identity.LoginRequest{Account: "REP1@acme.test ", Password: w.password})
	e := errs.From(err)
	if e.Reason != errs.ReasonRateLimited || e.Status != 429 || e.Metadata["retry_after_seconds"] != "900" || w.hasher.compares.Load() != before {
		t.Fatalf("right password over the budget: %v %v, %d comparisons", err, e.Metadata, w.hasher.compares.Load()-before)
	}
	// Another account from the same address is not refused.
	if a := loginAnswer(t, w, ctx, "rep2@acme.test", w.password); a != "OK" {
		t.Fatalf("another account: %s", a)
	}
	// The retry hint counts down; the window's end lets the account in.
	w.clock.Add(10 * time.Minute)
	if _, err := w.auth.Login(ctx, identity.LoginRequest{Account: "rep1@acme.test", Password: w.password}); errs.From(err).Metadata["retry_after_seconds"] != "300" {
		t.Fatalf("after 10 min: %v", err)
	}
	w.clock.Add(5 * time.Minute)
	if a := loginAnswer(t, w, ctx, "rep1@acme.test", w.password); a != "OK" {
		t.Fatalf("after the window: %s", a)
	}
}

func TestSigninSuccessResetsTheAccount(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.2")
	for round := range 3 {
		for i := range 4 {
			if a := loginAnswer(t, w, ctx, "13900000002", "wrong password"); a != "UNAUTHENTICATED: the account or the password is wrong" {
				t.Fatalf("round %d, failure %d: %s", round, i+1, a)
			}
		}
		// Any spelling of the number is the same account.
		if a := loginAnswer(t, w, ctx, "+86 139 0000 0002", w.password); a != "OK" {
			t.Fatalf("round %d: the right password: %s", round, a)
		}
	}
	// The phone's spellings share one budget.
	for _, account := range []string{"13900000002", "+8613900000002", "139-0000-0002", "+86 (139) 0000 0002", "8613900000002"} {
		loginAnswer(t, w, ctx, account, "wrong password")
	}
	if a := loginAnswer(t, w, ctx, "13900000002", w.password); a[:12] != "RATE_LIMITED" {
		t.Fatalf("after five failures in five spellings: %s", a)
	}
}

func TestSigninThrottlePerAddress(t *testing.T) {
	w := newOrgWorld(t)
	policy := identity.ThrottlePolicy{Window: time.Minute, PerAccount: 3, PerAccountTotal: 3, PerAddress: 6, SlowBase: time.Millisecond, SlowMax: time.Millisecond}
	auth, err := identity.NewAuth(identity.AuthDeps{
		Users: w.users, Tenants: nil, Departments: w.departments, Tokens: w.tokens, Hasher: w.hasher, Now: w.clock.Now,
		Throttle: w.throttle, ThrottleKey: throttleKey, ThrottlePolicy: policy, ClientAddr: clientAddr, Sleep: w.sleeps.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	try := func(addr, account string) string {
		_, err := auth.Login(fromAddr(context.Background(), addr), identity.LoginRequest{Account: account, Password: "wrong password"})
		return errs.ReasonOf(err)
	}
	// An account's refusals do not spend the address's budget.
	for range 10 {
		try("198.51.100.1", "a@acme.test")
	}
	// Six failures from one address, each account under its own budget.
	var got []string
	for i := range 7 {
		got = append(got, try("198.51.100.1", "user"+strconv.Itoa(i)+"@acme.test"))
	}
	want := []string{"UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"}
	if !slices.Equal(got, want) {
		t.Fatalf("one address, new accounts: %v, want %v", got, want)
	}
	// Another address is not refused; the first is after its window.
	if r := try("198.51.100.2", "user9@acme.test"); r != "UNAUTHENTICATED" {
		t.Fatalf("another address: %s", r)
	}
	w.clock.Add(time.Minute)
	if r := try("198.51.100.1", "user9@acme.test"); r != "UNAUTHENTICATED" {
		t.Fatalf("after the window: %s", r)
	}
}

// Nobody can lock an account out. Wrong passwords from one client meet the
// account's budget from that client; spread over many clients they meet
// the account's total budget, which a client the owner signed in from is
// exempt from: the owner still gets in there, until the client is no
// longer known.
func TestSigninCannotLockTheOwnerOut(t *testing.T) {
	w := newOrgWorld(t) // DefaultThrottle: 5 per client, 50 in all, known for 30 days
	try := func(addr, password string) string {
		_, err := w.auth.Login(fromAddr(context.Background(), addr), identity.LoginRequest{Account: "rep1@acme.test", Password: password})
		if err == nil {
			return "OK"
		}
		return errs.ReasonOf(err)
	}
	const home = "203.0.113.7"
	if r := try(home, w.password); r != "OK" {
		t.Fatalf("the owner signs in: %s", r)
	}
	// One attacking client: its budget of 5, then refused.
	var got []string
	for range 8 {
		got = append(got, try("198.51.100.1", "wrong password"))
	}
	if want := []string{"UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"}; !slices.Equal(got, want) {
		t.Fatalf("one client: %v, want %v", got, want)
	}
	// Many attacking clients: 45 more guesses fill the total of 50.
	failed, limited := 0, 0
	for i := range 60 {
		switch r := try("198.51.100."+strconv.Itoa(10+i), "wrong password"); r {
		case "UNAUTHENTICATED":
			failed++
		case "RATE_LIMITED":
			limited++
		default:
			t.Fatalf("guess %d: %s", i, r)
		}
	}
	if failed != 45 || limited != 15 {
		t.Fatalf("spread guesses: %d failed and %d refused; want 45 and 15", failed, limited)
	}
	// The owner, where they signed in before, still gets in, and their
	// own mistakes count only against that client.
	if r := try(home, "wrong password"); r != "UNAUTHENTICATED" {
		t.Fatalf("the owner's typo at home: %s", r)
	}
	if r := try(home, w.password); r != "OK" {
		t.Fatalf("the owner at home while the account is attacked: %s", r)
	}
	// The client is known to the user, whichever way in they take.
	if _, err := w.auth.Login(fromAddr(context.Background(), home), identity.LoginRequest{Account: *w.reps[0].Phone, Password: w.password}); err != nil {
		t.Fatalf("the owner at home, through their phone, while the account is attacked: %v", err)
	}
	// A client the account does not know waits for the window.
	if r := try("192.0.2.99", w.password); r != "RATE_LIMITED" {
		t.Fatalf("a new client during the attack: %s", r)
	}
	w.clock.Add(15 * time.Minute)
	if r := try("192.0.2.99", w.password); r != "OK" {
		t.Fatalf("a new client after the window: %s", r)
	}
	// A client is known for 30 days after its last sign-in.
	forgottenAfterAMonth(t, w, try, home)
}

// forgottenAfterAMonth: 31 days on, home's last sign-in is too old for it
// to be known, so once guesses from elsewhere spend the account's total,
// the owner at home is refused too.
func forgottenAfterAMonth(t *testing.T, w *orgWorld, try func(addr, password string) string, home string) {
	t.Helper()
	w.clock.Add(31 * 24 * time.Hour)
	for i := range 60 {
		try("198.51.100."+strconv.Itoa(100+i), "wrong password")
	}
	if r := try(home, w.password); r != "RATE_LIMITED" {
		t.Fatalf("a client last signed in from 31 days ago: %s", r)
	}
}

func TestAppTokenThrottle(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "203.0.113.7")
	try := func(key, secret string) string {
		_, err := w.auth.CreateAppToken(ctx, identity.AppTokenRequest{AppKey: key, AppSecret: secret})
		if err == nil {
			return "OK"
		}
		return errs.From(err).Reason + ": " + errs.From(err).Message
	}
	var known, unknown []string
	for range 7 {
		known = append(known, try(w.app.AppKey, "wrong secret"))
		unknown = append(unknown, try("ak_nobody", "wrong secret"))
	}
	if !slices.Equal(known, unknown) || known[4] != "UNAUTHENTICATED: the app key or the app secret is wrong" || known[5][:12] != "RATE_LIMITED" {
		t.Fatalf("known app %q\nunknown app %q", known, unknown)
	}
	w.clock.Add(15 * time.Minute)
	if a := try(w.app.AppKey, w.appSecret); a != "OK" {
		t.Fatalf("after the window: %s", a)
	}
}

func TestPhonesAreE164(t *testing.T) {
	w := newOrgWorld(t)
	admin := w.user(w.admin)
	if *w.manager.Phone != "+8613900000001" || *w.reps[0].Phone != "+8613900000002" {
		t.Fatalf("stored phones %s %s", *w.manager.Phone, *w.reps[0].Phone)
	}
	u, err := w.org.CreateUser(admin, identity.CreateUserRequest{Name: "Landline", Email: " Land.Line@ACME.test ", Phone: "(010) 6552-9988", Password: "long enough"})
	if err != nil {
		t.Fatal(err)
	}
	if *u.Phone != "+861065529988" || *u.Email != "land.line@acme.test" {
		t.Fatalf("stored %s %s", *u.Phone, *u.Email)
	}
	for _, account := range []string{"+86 10 6552 9988", "010-65529988", "LAND.LINE@acme.test"} {
		if a := loginAnswer(t, w, context.Background(), account, "long enough"); a != "OK" {
			t.Fatalf("%s: %s", account, a)
		}
	}
	for _, phone := range []string{"+86 139 0000 0002", "8613900000002"} {
		if _, err := w.org.CreateUser(admin, identity.CreateUserRequest{Name: "Dup", Email: "dup@acme.test", Phone: phone, Password: "long enough"}); !errs.IsAlreadyExists(err) {
			t.Fatalf("%s: %v, want ALREADY_EXISTS", phone, err)
		}
	}
	for _, phone := range []string{"139-0000", "12345", "+999 1234567", "电话"} {
		if _, err := w.org.CreateUser(admin, identity.CreateUserRequest{Name: "Bad", Email: "bad@acme.test", Phone: phone, Password: "long enough"}); errs.ReasonOf(err) != errs.ReasonInvalidArgument {
			t.Fatalf("%s: %v, want INVALID_ARGUMENT", phone, err)
		}
	}
}

// Users stored before E.164 normalisation still sign in, still hold their
// number, and get the E.164 form at their next change.
func TestPhonesStoredBeforeE164(t *testing.T) {
	w := newOrgWorld(t)
	ctx := context.Background()
	legacy := func(u *model.User, phone string) {
		t.Helper()
		before := *u
		u.Phone = &phone
		if err := w.users.Update(ctx, &before, u); err != nil {
			t.Fatal(err)
		}
	}
	legacy(w.reps[1], "13812345678")
	legacy(w.reps[2], "12345") // not a number the library takes
	for _, account := range []string{"+86 138 1234 5678", "13812345678"} {
		if a := loginAnswer(t, w, ctx, account, w.password); a != "OK" {
			t.Fatalf("%s: %s", account, a)
		}
	}
	admin := w.user(w.admin)
	if _, err := w.org.CreateUser(admin, identity.CreateUserRequest{Name: "Dup", Email: "dup@acme.test", Phone: "+8613812345678", Password: "long enough"}); !errs.IsAlreadyExists(err) {
		t.Fatalf("a number stored in its old form: %v, want ALREADY_EXISTS", err)
	}
	u, err := w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[1].ID, Role: ptr("manager")})
	if err != nil || *u.Phone != "+8613812345678" {
		t.Fatalf("update: %v %v", u, err)
	}
	u, err = w.org.UpdateUser(admin, identity.UpdateUserRequest{ID: w.reps[2].ID, Role: ptr("manager")})
	if err != nil || *u.Phone != "12345" {
		t.Fatalf("update of a user with an old unparseable number: %v %v", u, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSpellingsOfAStoredPhoneShareItsBudget: a phone stored before E.164
// normalisation, which the library does not take, is found by many
// spellings, and each had a budget of its own: the right password got in
// through a new spelling while the number itself was throttled.
func TestSpellingsOfAStoredPhoneShareItsBudget(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.7")
	phone := "1234567890"
	before := *w.reps[2]
	w.reps[2].Phone = &phone
	if err := w.users.Update(ctx, &before, w.reps[2]); err != nil {
		t.Fatal(err)
	}
	spellings := []string{"1234567890", "+861234567890", "0086 1234567890", "01234567890", "+86(0)1234567890"}
	for _, account := range spellings {
		if a := loginAnswer(t, w, ctx, account, w.password); a != "OK" {
			t.Fatalf("%q does not find the stored number: %s", account, a)
		}
	}
	for i := range 5 {
		loginAnswer(t, w, ctx, spellings[i%len(spellings)], "wrong password")
	}
	for _, account := range spellings {
		if a := loginAnswer(t, w, ctx, account, w.password); a == "OK" {
			t.Fatalf("the right password through %q while the number is throttled", account)
		}
	}
}

// TestEmailAndPhoneOfOneAccountShareItsBudget: an account that signs in by
// email and by phone had a budget per way in, so guesses through its phone
// went on after its email was throttled, and the right password got in by
// phone while the account was over its budget.
func TestEmailAndPhoneOfOneAccountShareItsBudget(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.8")
	rep := w.reps[0]
	if rep.Email == nil || rep.Phone == nil {
		t.Fatal("the fixture's rep1 needs an email and a phone")
	}
	for i := range 5 {
		account := *rep.Email
		if i%2 == 1 {
			account = *rep.Phone
		}
		if a := loginAnswer(t, w, ctx, account, "wrong password"); a != "UNAUTHENTICATED: the account or the password is wrong" {
			t.Fatalf("attempt %d through %q: %s", i+1, account, a)
		}
	}
	for _, account := range []string{*rep.Email, *rep.Phone, "0086 139-0000-0002"} {
		if a := loginAnswer(t, w, ctx, account, w.password); a == "OK" {
			t.Fatalf("the right password through %q while the account is throttled", account)
		}
	}
	// Guessing the current password when changing it spends the same
	// budget: the sixth guess is refused without a password check.
	w2 := newOrgWorld(t)
	rep = w2.reps[0]
	ctx = fromAddr(context.Background(), "192.0.2.9")
	for range 4 {
		loginAnswer(t, w2, ctx, *rep.Phone, "wrong password")
	}
	as := fromAddr(w2.user(rep), "192.0.2.9")
	_, err := w2.auth.ChangePassword(as, identity.ChangePasswordRequest{CurrentPassword: "wrong password", NewPassword: "a new password"})
	if errs.From(err).Reason != errs.ReasonInvalidArgument {
		t.Fatalf("fifth guess, through a password change: %v", err)
	}
	before := w2.hasher.compares.Load()
	_, err = w2.auth.ChangePassword(as, identity.ChangePasswordRequest{CurrentPassword: w2.password, NewPassword: "a new password"})
	if errs.From(err).Reason != errs.ReasonRateLimited || w2.hasher.compares.Load() != before {
		t.Fatalf("sixth guess, through a password change: %v, %d comparisons", err, w2.hasher.compares.Load()-before)
	}
}

// TestUnknownSpellingsOfANumberShareOneBudget: a number libphonenumber
// does not take as valid shared one budget across its spellings when a
// user had it (from before E.164 normalisation), but not when nobody had
// it, so the answer to a sixth guess told whether the account existed.
func TestUnknownSpellingsOfANumberShareOneBudget(t *testing.T) {
	w := newOrgWorld(t)
	stored := "1234567890"
	before := *w.reps[2]
	w.reps[2].Phone = &stored
	if err := w.users.Update(context.Background(), &before, w.reps[2]); err != nil {
		t.Fatal(err)
	}
	var answers [2][]string
	for i, number := range []string{"1234567890", "1234567891"} {
		ctx := fromAddr(context.Background(), "192.0.2."+strconv.Itoa(20+i))
		for range 5 {
			answers[i] = append(answers[i], loginAnswer(t, w, ctx, number, "wrong password"))
		}
		for _, spelling := range []string{"+86" + number, "0086 " + number, "0" + number} {
			answers[i] = append(answers[i], loginAnswer(t, w, ctx, spelling, "wrong password"))
		}
	}
	if !slices.Equal(answers[0], answers[1]) {
		t.Fatalf("a stored and an unknown number are told apart:\n%q\n%q", answers[0], answers[1])
	}
	if last := answers[1][len(answers[1])-1]; last != "RATE_LIMITED: too many sign-in attempts; retry after 900 s" {
		t.Fatalf("the sixth guess at an unknown number through another spelling: %s", last)
	}
}

// TestSignInBudgetsTellNoAccountsApart: the answers to wrong passwords
// through an account's email and then its phone are those through an
// unknown email and then an unknown phone: a budget keyed by the user,
// spent through the email, used to refuse the phone at once, and only
// when both were one real account's. The user's budget still holds: past
// it, the right password fails through either, answered as a wrong one.
func TestSignInBudgetsTellNoAccountsApart(t *testing.T) {
	w := newOrgWorld(t)
	rep := w.reps[0]
	answers := func(addr string, accounts ...string) []string {
		ctx := fromAddr(context.Background(), addr)
		var out []string
		for _, account := range accounts {
			for range 6 {
				out = append(out, loginAnswer(t, w, ctx, account, "wrong password"))
			}
		}
		return out
	}
	known := answers("192.0.2.20", *rep.Email, *rep.Phone)
	unknown := answers("192.0.2.21", "nobody@acme.test", "+86 139 9999 0001")
	if !slices.Equal(known, unknown) {
		t.Fatalf("through one account's email and phone:\n%q\nthrough unknown ones:\n%q", known, unknown)
	}
	// Each wrong password costs the store as many counts for an account
	// as for nobody's.
	cost := func(addr, account string) int64 {
		before := w.throttle.hits.Load()
		loginAnswer(t, w, fromAddr(context.Background(), addr), account, "wrong password")
		return w.throttle.hits.Load() - before
	}
	if known, unknown := cost("192.0.2.23", *rep.Email), cost("192.0.2.24", "nobody-else@acme.test"); known != unknown {
		t.Fatalf("a wrong password costs %d counts for an account, %d for nobody's", known, unknown)
	}
	ctx := fromAddr(context.Background(), "192.0.2.22")
	for range 5 {
		loginAnswer(t, w, ctx, *rep.Email, "wrong password")
	}
	if a := loginAnswer(t, w, ctx, *rep.Phone, w.password); a != "UNAUTHENTICATED: the account or the password is wrong" {
		t.Fatalf("the right password through the phone of an account over its budget: %s", a)
	}
}

// The throttle's buckets are keyed hashes: no row of signin_throttle is
// the plain SHA-256 of an account, an app key or an address, which anyone
// reading the table could compute from an email (an erased person's) to
// learn that it tried to sign in lately. Instances sharing the key share
// an account's budget; under another key (another secret) the budget is
// another.
func TestSigninThrottleBucketsAreKeyed(t *testing.T) {
	w := newOrgWorld(t)
	ctx := fromAddr(context.Background(), "192.0.2.9")
	account, addr := "rep1@acme.test", "192.0.2.9"
	withKey := func(key string) *identity.Auth {
		t.Helper()
		auth, err := identity.NewAuth(identity.AuthDeps{
			Users: w.users, Tenants: w.tenants, Departments: w.departments, Refresh: w.refresh, Apps: w.appRepo,
			Tokens: w.tokens, Hasher: w.hasher, RefreshTTL: time.Hour, Now: w.clock.Now,
			Throttle: w.throttle, ThrottleKey: key, ClientAddr: clientAddr, Sleep: w.sleeps.Sleep, Revocations: w.revocations,
		})
		if err != nil {
			t.Fatal(err)
		}
		return auth
	}
	try := func(auth *identity.Auth) string {
		_, err := auth.Login(ctx, identity.LoginRequest{Account: account, Password: "wrong password"})
		return errs.ReasonOf(err)
	}
	// Five failures spend the budget from this client on one instance;
	// another with the same key refuses the sixth.
	for range 5 {
		if r := try(w.auth); r != errs.ReasonUnauthenticated {
			t.Fatalf("before the budget was spent: %s", r)
		}
	}
	if r := try(withKey(throttleKey)); r != errs.ReasonRateLimited {
		t.Fatalf("an instance with the same key: %s, want RATE_LIMITED", r)
	}
	if r := try(withKey(throttleKey + "x")); r != errs.ReasonUnauthenticated {
		t.Fatalf("under another key: %s, want UNAUTHENTICATED (its own budget)", r)
	}
	var stored []string
	if err := w.db.Raw("SELECT bucket FROM signin_throttle").Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	plain := func(kind, key string) string {
		sum := sha256.Sum256([]byte(kind + "\x00" + key))
		return hex.EncodeToString(sum[:])
	}
	typed := "typed\x00" + account
	for _, p := range []string{plain("account", typed), plain("account@client", typed+"\x00"+addr), plain("address", addr)} {
		if slices.Contains(stored, p) {
			t.Fatalf("signin_throttle holds the plain SHA-256 of an account or address: %s", p)
		}
	}
	if len(stored) == 0 {
		t.Fatal("no bucket was stored")
	}
	if _, err := identity.NewAuth(identity.AuthDeps{Hasher: w.hasher, Throttle: w.throttle}); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("a throttle without a key: %v, want it refused", err)
	}
}

// A client marked known by a version that hashed the buckets plainly is
// still known, while the mark lasts, once the buckets are keyed: an
// account attacked over its total budget at the upgrade would otherwise
// lock its owner out at home until the window passed.
func TestAClientKnownBeforeKeyedBucketsStaysKnown(t *testing.T) {
	w := newOrgWorld(t) // DefaultThrottle: 5 per client, 50 in all, known for 30 days
	const home = "203.0.113.7"
	u := w.reps[0]
	owner := "user\x00" + strconv.FormatInt(u.TenantID, 10) + "\x00" + strconv.FormatInt(u.ID, 10)
	sum := sha256.Sum256([]byte("known\x00account\x00" + owner + "\x00" + home))
	if _, _, err := w.throttle.Hit(context.Background(), hex.EncodeToString(sum[:]), "known", w.clock.Now(), w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(24 * time.Hour)
	try := func(addr, password string) string {
		_, err := w.auth.Login(fromAddr(context.Background(), addr), identity.LoginRequest{Account: "rep1@acme.test", Password: password})
		if err == nil {
			return "OK"
		}
		return errs.ReasonOf(err)
	}
	for i := range 60 {
		try("198.51.100."+strconv.Itoa(10+i), "wrong password")
	}
	if r := try("192.0.2.99", w.password); r != "RATE_LIMITED" {
		t.Fatalf("a client the account does not know, during the attack: %s", r)
	}
	if r := try(home, w.password); r != "OK" {
		t.Fatalf("the owner at home, known before the buckets were keyed, during the attack: %s", r)
	}
	// That sign-in marked home under the key, for 30 days.
	forgottenAfterAMonth(t, w, try, home)
}
