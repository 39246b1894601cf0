package identity

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/logic/access"
	"github.com/megaview/mgvcore/internal/model"
)

// MaxSecretGrace bounds how long a rotated app secret keeps working.
const MaxSecretGrace = 7 * 24 * time.Hour

// Apps are a tenant's open-platform apps as its admins manage them. Every
// change that takes power from an app (disable, delete, new scopes, new
// secret) raises the app's token version, so its tokens are refused on
// every instance within a poll; a rotation with a grace period raises it
// for the tokens of the old secret only when the grace ends.
type Apps struct {
	apps        AppRepo
	tenants     TenantRepo
	tx          Transactor
	max         int
	hasher      Hasher
	revocations *Revocations
	now         func() time.Time
}

// DefaultMaxAppsPerTenant is the cap on a tenant's apps when none is set.
const DefaultMaxAppsPerTenant = 50

// AppsDeps are what Apps needs.
type AppsDeps struct {
	Apps AppRepo
	// Tenants gives an app its tenant's rate tier; nil leaves the tier
	// each app was stored with.
	Tenants TenantRepo
	// Tx runs a create's count of the tenant's apps and its insert in one
	// transaction, so that racing creates cannot pass the cap together.
	Tx     Transactor
	Hasher Hasher
	// MaxPerTenant caps a tenant's apps, disabled ones included (deleted
	// ones are gone); 0 is DefaultMaxAppsPerTenant.
	MaxPerTenant int
	// Revocations ends the tokens of apps that lose power; nil leaves
	// them to expire.
	Revocations *Revocations
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewApps builds the use cases.
func NewApps(d AppsDeps) *Apps {
	limit := d.MaxPerTenant
	if limit <= 0 {
		limit = DefaultMaxAppsPerTenant
	}
	return &Apps{apps: d.Apps, tenants: d.Tenants, tx: d.Tx, max: limit, hasher: d.Hasher, revocations: d.Revocations, now: storeClock(d.Now)}
}

// CreateAppRequest names a new app and its scopes.
type CreateAppRequest struct {
	Name   string
	Scopes []string
}

// UpdateAppRequest changes an app; nil fields stay as they are.
type UpdateAppRequest struct {
	ID     int64
	Name   *string
	Scopes *[]string
}

// RotateSecretRequest gives an app a new secret; the old one keeps working
// for Grace (zero: it stops at once, with every token it got).
type RotateSecretRequest struct {
	ID    int64
	Grace time.Duration
}

// AppSecret is an app with its secret, which exists only in this answer.
type AppSecret struct {
	App    *model.App
	Secret string
}

// Create adds an app with a new key and secret, unless the tenant has
// MaxPerTenant apps already: 409 APP_QUOTA_EXCEEDED.
func (m *Apps) Create(ctx context.Context, req CreateAppRequest) (*AppSecret, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return nil, err
	}
	name, err := orgName("name", req.Name)
	if err == nil {
		err = orgNewName("name", name, "")
	}
	if err != nil {
		return nil, err
	}
	scopes, err := appScopes(req.Scopes)
	if err != nil {
		return nil, err
	}
	if err := m.nameFree(ctx, s.TenantID, 0, name); err != nil {
		return nil, err
	}
	secret, hash, err := newAppSecret(m.hasher)
	if err != nil {
		return nil, err
	}
	now := m.now()
	app := &model.App{
		TenantID: s.TenantID, Name: name, AppKey: "ak_" + randomHex(12), SecretHash: hash, Scopes: scopes,
		RateTier: "standard", Status: model.AppActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := m.tiered(ctx, s.TenantID, app); err != nil {
		return nil, err
	}
	err = m.tx.InTx(ctx, func(ctx context.Context) error {
		n, err := m.apps.CountLocked(ctx, s.TenantID)
		if err != nil {
			return err
		}
		if n >= int64(m.max) {
			return errs.Of(errs.ReasonAppQuotaExceeded, "the tenant has %d apps, the most it may have; delete one before creating another", n).
				With("max_apps", strconv.Itoa(m.max))
		}
		return m.apps.Create(ctx, app)
	})
	if err != nil {
		return nil, nameTaken(err, name)
	}
	return &AppSecret{App: app, Secret: secret}, nil
}

// ListAppsRequest pages the tenant's apps: PageSize 1..100 (0 means 20),
// PageToken from the previous page.
type ListAppsRequest struct {
	PageSize  int
	PageToken string
}

// AppPage is a page of apps by id; NextPageToken is empty on the last.
// Total is how many apps the tenant has across all pages.
type AppPage struct {
	Apps          []model.App
	NextPageToken string
	Total         int64
}

// List pages the tenant's apps by id. The cursor is the last id shown, so
// apps created or deleted meanwhile neither repeat nor shift the others.
func (m *Apps) List(ctx context.Context, req ListAppsRequest) (AppPage, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return AppPage{}, err
	}
	size, err := access.PageSize(req.PageSize)
	if err != nil {
		return AppPage{}, err
	}
	after, err := access.DecodeIDPageToken(req.PageToken)
	if err != nil {
		return AppPage{}, err
	}
	apps, total, err := m.apps.List(ctx, s.TenantID, after, size+1)
	if err != nil {
		return AppPage{}, err
	}
	page := AppPage{Total: total}
	if len(apps) > size {
		apps = apps[:size]
		page.NextPageToken = access.EncodeIDPageToken(apps[size-1].ID)
	}
	listed := make([]*model.App, len(apps))
	for i := range apps {
		m.graceEnded(&apps[i])
		listed[i] = &apps[i]
	}
	if err := m.tiered(ctx, s.TenantID, listed...); err != nil {
		return AppPage{}, err
	}
	page.Apps = apps
	return page, nil
}

// Get finds an app of the tenant.
func (m *Apps) Get(ctx context.Context, id int64) (*model.App, error) {
	_, app, err := m.find(ctx, id)
	return app, err
}

// Update renames an app or gives it new scopes. New scopes end its tokens
// (and a running grace of its old secret): they carry the old scopes.
func (m *Apps) Update(ctx context.Context, req UpdateAppRequest) (*model.App, error) {
	s, app, err := m.find(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	before := *app
	name, scopes := app.Name, app.Scopes
	if req.Name != nil {
		if name, err = orgName("name", *req.Name); err != nil {
			return nil, err
		}
		if err := orgNewName("name", name, app.Name); err != nil {
			return nil, err
		}
	}
	if req.Scopes != nil {
		if scopes, err = appScopes(*req.Scopes); err != nil {
			return nil, err
		}
	}
	if name != app.Name {
		if err := m.nameFree(ctx, s.TenantID, app.ID, name); err != nil {
			return nil, err
		}
	}
	rescoped := scopes != app.Scopes
	app.Name, app.Scopes = name, scopes
	if rescoped {
		app.OldSecretHash, app.OldSecretUntil = "", nil
	}
	return app, m.write(ctx, &before, app, rescoped, RevokedAppScopes)
}

// RotateSecret gives an app a new secret. Without a grace the old secret
// and every token stop at once; with one, the old secret keeps signing in
// and its tokens keep working until the grace ends, everywhere, while the
// new secret's tokens are unaffected. A rotation during a grace ends the
// earlier one: only the latest old secret is kept.
func (m *Apps) RotateSecret(ctx context.Context, req RotateSecretRequest) (*AppSecret, error) {
	if req.Grace < 0 || req.Grace > MaxSecretGrace {
		return nil, errs.InvalidArgument("grace_seconds", "must be from 0 to %d seconds (7 days)", int64(MaxSecretGrace/time.Second))
	}
	_, app, err := m.find(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	secret, hash, err := newAppSecret(m.hasher)
	if err != nil {
		return nil, err
	}
	now := m.now()
	before := *app
	app.OldSecretHash, app.OldSecretUntil = "", nil
	if req.Grace > 0 {
		until := now.Add(req.Grace)
		app.OldSecretHash, app.OldSecretUntil = app.SecretHash, &until
	}
	// Only the secrets are written: app was read before a bcrypt round, and
	// an admin may have disabled it or cut its scopes meanwhile. Another
	// rotation meanwhile makes this one CONFLICT: kept as the old secret,
	// the secret read here would come back after that rotation ended it.
	app.SecretHash, app.UpdatedAt = hash, now
	if err := m.apps.SetSecret(ctx, &before, app); err != nil {
		return nil, err
	}
	if req.Grace > 0 {
		err = m.revocations.RevokeAfter(ctx, model.TokenVersionApp, app.TenantID, app.ID, RevokedAppSecret, *app.OldSecretUntil)
	} else {
		err = m.revocations.Revoke(ctx, model.TokenVersionApp, app.TenantID, app.ID, RevokedAppSecret)
	}
	if err != nil {
		return nil, err
	}
	if app, err = m.apps.ByID(ctx, app.TenantID, app.ID); err != nil {
		return nil, err
	}
	m.graceEnded(app)
	return &AppSecret{App: app, Secret: secret}, m.tiered(ctx, app.TenantID, app)
}

// Disable stops an app: its tokens are refused and it gets no new one
// until enabled. A running grace of its old secret ends. Disabling a
// disabled app revokes its tokens again, so a retry after a failure
// completes the revocation.
func (m *Apps) Disable(ctx context.Context, id int64) (*model.App, error) {
	_, app, err := m.find(ctx, id)
	if err != nil {
		return nil, err
	}
	before := *app
	app.Status, app.OldSecretHash, app.OldSecretUntil = model.AppDisabled, "", nil
	return app, m.write(ctx, &before, app, true, RevokedAppDisable)
}

// Enable lets a disabled app get tokens again; the tokens it held stay
// revoked.
func (m *Apps) Enable(ctx context.Context, id int64) (*model.App, error) {
	_, app, err := m.find(ctx, id)
	if err != nil {
		return nil, err
	}
	before := *app
	app.Status = model.AppActive
	return app, m.write(ctx, &before, app, false, "")
}

// Delete ends an app's tokens and removes it. The tokens end first: a
// deletion that fails afterwards leaves the app, its tokens ended, to be
// deleted again, never a deleted app whose tokens still work.
func (m *Apps) Delete(ctx context.Context, id int64) error {
	_, app, err := m.find(ctx, id)
	if err != nil {
		return err
	}
	if err := m.revocations.Revoke(ctx, model.TokenVersionApp, app.TenantID, app.ID, RevokedAppDelete); err != nil {
		return err
	}
	return m.apps.Delete(ctx, app.TenantID, app.ID)
}

// find checks the caller is an admin and finds the app in their tenant:
// another tenant's is not found.
func (m *Apps) find(ctx context.Context, id int64) (model.Scope, *model.App, error) {
	s, err := access.Require(ctx, access.Admin)
	if err != nil {
		return s, nil, err
	}
	if err := access.CheckID("id", id); err != nil {
		return s, nil, err
	}
	app, err := m.apps.ByID(ctx, s.TenantID, id)
	if err != nil {
		return s, nil, err
	}
	m.graceEnded(app)
	return s, app, m.tiered(ctx, s.TenantID, app)
}

// tiered gives apps their tenant's rate tier, read once: a tier is the
// tenant's (its apps' tokens are signed at it, CreateAppToken), whatever
// tier an app was stored with (every app was stored as standard before).
func (m *Apps) tiered(ctx context.Context, tenantID int64, apps ...*model.App) error {
	if m.tenants == nil || len(apps) == 0 {
		return nil
	}
	t, err := m.tenants.ByID(ctx, tenantID)
	if err != nil {
		return err
	}
	for _, a := range apps {
		a.RateTier = t.RateTier
	}
	return nil
}

// graceEnded forgets an old secret whose grace is over: it opens nothing
// (CreateAppToken checks the time) and is not shown as working.
func (m *Apps) graceEnded(app *model.App) {
	if app.OldSecretUntil != nil && !m.now().Before(*app.OldSecretUntil) {
		app.OldSecretHash, app.OldSecretUntil = "", nil
	}
}

// write stores what changed in app since it was read as before and, with
// revoke, ends its tokens for reason, in one transaction: a change kept
// without its revocation would look done to a retry, which would end
// nothing.
func (m *Apps) write(ctx context.Context, before, app *model.App, revoke bool, reason string) error {
	app.UpdatedAt = m.now()
	return m.tx.InTx(ctx, func(ctx context.Context) error {
		if err := m.apps.Update(ctx, before, app); err != nil {
			return nameTaken(err, app.Name)
		}
		if !revoke {
			return nil
		}
		return m.revocations.Revoke(ctx, model.TokenVersionApp, app.TenantID, app.ID, reason)
	})
}

// nameFree refuses a name another app of the tenant has.
func (m *Apps) nameFree(ctx context.Context, tenantID, id int64, name string) error {
	other, err := m.apps.ByName(ctx, tenantID, name)
	switch {
	case errs.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case other.ID != id:
		return errAppName(name)
	}
	return nil
}

// nameTaken words the unique key's refusal of a concurrent same name.
func nameTaken(err error, name string) error {
	if errs.IsAlreadyExists(err) {
		return errAppName(name)
	}
	return err
}

func errAppName(name string) error {
	return errs.AlreadyExists("name", "the tenant has an app named %q already", name)
}

// appScopes validates requested scopes and returns them as stored: each
// once, in the order of access.AppScopes, space-separated.
func appScopes(requested []string) (string, error) {
	if len(requested) == 0 {
		return "", errs.InvalidArgument("scopes", "at least one scope is required (%s)", strings.Join(access.AppScopes, ", "))
	}
	for _, sc := range requested {
		if !slices.Contains(access.AppScopes, sc) {
			return "", errs.InvalidArgument("scopes", "%.64q is not a scope: use %s", sc, strings.Join(access.AppScopes, ", "))
		}
	}
	var out []string
	for _, sc := range access.AppScopes {
		if slices.Contains(requested, sc) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, " "), nil
}
