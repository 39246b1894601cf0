package config

// Trackers configures the tenants' keyword trackers. MaxPerTenant caps the
// live trackers one tenant may have; creating one more answers 409
// TRACKER_QUOTA_EXCEEDED. Every tracker is matched against every new
// transcript and re-applied to all old ones when it changes, so the cap
// bounds a tenant's share of that work.
type Trackers struct {
	MaxPerTenant int `toml:"max_per_tenant"`
}

func defaultTrackers() Trackers { return Trackers{MaxPerTenant: 200} }

func (t Trackers) validate(bad func(key, format string, args ...any)) {
	checkPerTenantCap(bad, "trackers.max_per_tenant", t.MaxPerTenant)
}
