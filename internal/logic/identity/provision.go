package identity

import (
	"context"
	"time"

	"github.com/megaview/mgvcore/internal/clip"
	"github.com/megaview/mgvcore/internal/errs"
	"github.com/megaview/mgvcore/internal/model"
)

// Provision creates tenants and open-platform apps: operator work done from
// the command line (`mgvcore seed`), never through the API.
type Provision struct {
	tenants TenantRepo
	apps    AppRepo
	users   UserRepo
	hasher  Hasher
	now     func() time.Time
	revoke  *Revocations
	tx      Transactor
}

// ProvisionDeps are what Provision needs.
type ProvisionDeps struct {
	Tenants TenantRepo
	Apps    AppRepo
	Users   UserRepo
	Hasher  Hasher
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Revocations raises an app's token version when its secret is
	// rotated, so its tokens end with the old secret; nil leaves them.
	Revocations *Revocations
	// Tx stores an app's new scopes or secret in one transaction with the
	// end of its tokens.
	Tx Transactor
}

// NewProvision builds the use cases.
func NewProvision(d ProvisionDeps) *Provision {
	now := storeClock(d.Now)
	return &Provision{tenants: d.Tenants, apps: d.Apps, users: d.Users, hasher: d.Hasher, now: now, revoke: d.Revocations, tx: d.Tx}
}

// NewTenant describes a tenant to create.
type NewTenant struct {
	Name     string
	Timezone string // an IANA zone; "" means Asia/Shanghai
	RateTier string // "" means standard
}

// CreateTenant adds a tenant.
func (p *Provision) CreateTenant(ctx context.Context, req NewTenant) (*model.Tenant, error) {
	name, err := orgName("name", req.Name)
	if err == nil {
		err = orgNewName("name", name, "")
	}
	if err != nil {
		return nil, err
	}
	t := &model.Tenant{Name: name, Timezone: req.Timezone, RateTier: req.RateTier}
	if t.Timezone == "" {
		t.Timezone = "Asia/Shanghai"
	}
	if zone := model.TenantZone(t.Timezone); zone != t.Timezone {
		// Go loads more names than Elasticsearch knows (posix/…,
		// Factory): a zone the engine refused would fail every search of
		// the tenant's days.
		if zone != "UTC" {
			return nil, errs.InvalidArgument("timezone", "%s is not an IANA time zone name (%s is)", clip.Quote(t.Timezone, 64), zone)
		}
		return nil, errs.InvalidArgument("timezone", "%s is not an IANA time zone name", clip.Quote(t.Timezone, 64))
	}
	if t.RateTier == "" {
		t.RateTier = "standard"
	}
	t.CreatedAt = p.now()
	t.UpdatedAt = t.CreatedAt
	if err := p.tenants.Create(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// TenantOfAccount finds the tenant of the user who signs in with email.
func (p *Provision) TenantOfAccount(ctx context.Context, email string) (*model.Tenant, error) {
	u, err := p.users.ByEmail(ctx, normalizeEmail(email))
	if err != nil {
		return nil, err
	}
	return p.tenants.ByID(ctx, u.TenantID)
}

// NewApp describes an app to create.
type NewApp struct {
	TenantID int64
	Name     string
	// Scopes the app may use: ingest, read, search, org.
	Scopes []string
	// RotateSecret gives an existing app of this name a new secret.
	RotateSecret bool
}

// AppCredentials are an app and its secret. The secret exists only here:
// the store keeps its hash, so it can be shown once.
type AppCredentials struct {
	App *model.App
	// Secret is empty when an existing app kept its secret.
	Secret  string
	Created bool
}

// EnsureApp creates the tenant's app of this name with a new key and
// secret, or finds it (optionally giving it a new secret).
func (p *Provision) EnsureApp(ctx context.Context, req NewApp) (*AppCredentials, error) {
	name, err := orgName("name", req.Name)
	if err == nil {
		err = orgNewName("name", name, "")
	}
	if err != nil {
		return nil, err
	}
	// No scopes keep an existing app's; a new app needs some.
	scopes, err := appScopes(req.Scopes)
	if err != nil && len(req.Scopes) > 0 {
		return nil, err
	}
	app, err := p.apps.ByName(ctx, req.TenantID, name)
	if err == nil && scopes != "" && app.Scopes != scopes {
		before := *app
		// The scopes are the ones asked for now (a release may split one,
		// as org was from ingest); the tokens of the old ones end, in the
		// same transaction: new scopes kept without it would look done to
		// a rerun, which would end nothing.
		app.Scopes, app.OldSecretHash, app.OldSecretUntil, app.UpdatedAt = scopes, "", nil, p.now()
		if err := p.tx.InTx(ctx, func(ctx context.Context) error {
			if err := p.apps.Update(ctx, &before, app); err != nil {
				return err
			}
			return p.revoke.Revoke(ctx, model.TokenVersionApp, app.TenantID, app.ID, RevokedAppScopes)
		}); err != nil {
			return nil, err
		}
	}
	switch {
	case err == nil && !req.RotateSecret:
		return &AppCredentials{App: app}, nil
	case err == nil:
		secret, hash, err := newAppSecret(p.hasher)
		if err != nil {
			return nil, err
		}
		if err := p.tx.InTx(ctx, func(ctx context.Context) error {
			if err := p.apps.UpdateSecret(ctx, app.TenantID, app.ID, hash); err != nil {
				return err
			}
			return p.revoke.Revoke(ctx, model.TokenVersionApp, app.TenantID, app.ID, RevokedAppSecret)
		}); err != nil {
			return nil, err
		}
		app.SecretHash = hash
		return &AppCredentials{App: app, Secret: secret}, nil
	case !errs.IsNotFound(err):
		return nil, err
	}
	if scopes == "" {
		_, err := appScopes(nil)
		return nil, err
	}
	secret, hash, err := newAppSecret(p.hasher)
	if err != nil {
		return nil, err
	}
	// An app's tier is its tenant's (CreateAppToken).
	tenant, err := p.tenants.ByID(ctx, req.TenantID)
	if err != nil {
		return nil, err
	}
	app = &model.App{
		TenantID: req.TenantID, Name: name, AppKey: "ak_" + randomHex(12), SecretHash: hash,
		Scopes: scopes, RateTier: tenant.RateTier, Status: model.AppActive, CreatedAt: p.now(),
	}
	app.UpdatedAt = app.CreatedAt
	if err := p.apps.Create(ctx, app); err != nil {
		return nil, err
	}
	return &AppCredentials{App: app, Secret: secret, Created: true}, nil
}
