package config

// Apps configures the tenants' open-platform apps.
type Apps struct {
	// MaxPerTenant caps the apps one tenant may have, disabled ones
	// included; creating one more answers 409 APP_QUOTA_EXCEEDED.
	MaxPerTenant int `toml:"max_per_tenant"`
}

// maxAppsPerTenant bounds the setting: each app is a credential to watch
// and a rate-limit bucket, and the admins' list is paged.
const maxAppsPerTenant = 10000

func defaultApps() Apps { return Apps{MaxPerTenant: 50} }

func (a Apps) validate(bad func(key, format string, args ...any)) {
	if a.MaxPerTenant < 1 || a.MaxPerTenant > maxAppsPerTenant {
		bad("apps.max_per_tenant", "must be 1..%d (got %d)", maxAppsPerTenant, a.MaxPerTenant)
	}
}
