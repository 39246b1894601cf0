package config

// Apps configures the tenants' open-platform apps.
type Apps struct {
	// MaxPerTenant caps the apps one tenant may have, disabled ones
	// included; creating one more answers 409 APP_QUOTA_EXCEEDED.
	MaxPerTenant int `toml:"max_per_tenant"`
}

// maxPerTenantCap bounds the caps on what one tenant may have: each app is
// a credential to watch and a rate-limit bucket, each tracker is matched
// against every transcript, and the admins' lists are paged.
const maxPerTenantCap = 10000

func defaultApps() Apps { return Apps{MaxPerTenant: 50} }

func (a Apps) validate(bad func(key, format string, args ...any)) {
	checkPerTenantCap(bad, "apps.max_per_tenant", a.MaxPerTenant)
}

// checkPerTenantCap refuses a cap outside 1..maxPerTenantCap.
func checkPerTenantCap(bad func(key, format string, args ...any), key string, n int) {
	if n < 1 || n > maxPerTenantCap {
		bad(key, "must be 1..%d (got %d)", maxPerTenantCap, n)
	}
}
