package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/megaview/mgvcore/global"
)

// Environment is the process environment the overrides come from, by name.
type Environment map[string]string

// Environ turns "NAME=value" entries (os.Environ) into an Environment.
func Environ(entries []string) Environment {
	env := make(Environment, len(entries))
	for _, kv := range entries {
		if name, value, ok := strings.Cut(kv, "="); ok {
			env[name] = value
		}
	}
	return env
}

func (e Environment) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// has tells whether the variable name is set.
func (e Environment) has(name string) bool {
	_, ok := e[name]
	return ok
}

// The variables the binary reads that are not settings. Every other MGV_
// variable must name a setting: Parse refuses the rest, so a misspelt
// override stops the service instead of being ignored. Scripts and tests
// keep their own MGV_ variables (MGV_TEST_*, MGV_BENCH_*, MGV_CACHE_DIR,
// the deploy script's MGV_HOME, …) out of the binary's environment.
const (
	// EnvConfig names the config file when --config is not given.
	EnvConfig = EnvPrefix + "_CONFIG"
	// EnvWebhookHosts maps webhook receiver names to addresses ahead of the
	// resolver, "name=addr,name=addr": tests stand in for a hostile DNS
	// zone with it. Refused in pro.
	EnvWebhookHosts = EnvPrefix + "_TEST_WEBHOOK_HOSTS"
	// EnvSeedPassword gives `mgvcore seed` its password without the
	// command line, which ps shows.
	EnvSeedPassword = EnvPrefix + "_SEED_PASSWORD"
)

var notSettings = []string{EnvConfig, EnvWebhookHosts, EnvSeedPassword}

// checkEnvNames refuses every MGV_ variable (in any letter case) that names
// neither a key of cfg nor one of notSettings, all of them in one sorted
// error, each with the known variable it was probably meant to be.
func checkEnvNames(cfg *Config, env Environment) error {
	known := append(EnvKeys(cfg), notSettings...)
	sort.Strings(known)
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		isKnown[k] = true
	}
	var unknown []string
	for name := range env {
		if strings.HasPrefix(strings.ToUpper(name), EnvPrefix+"_") && !isKnown[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	maps := envMaps(reflect.TypeFor[Config](), nil)
	msgs := make([]string, len(unknown))
	for i, name := range unknown {
		msgs[i] = name + " is not a setting"
		if near := nearestName(name, known); near != "" {
			msgs[i] += " (did you mean " + near + "?)"
		} else if path := mapOf(name, maps); path != "" {
			msgs[i] += " (the config file has no such entry under [" + path + "]; the environment overrides only the entries the file has)"
		}
	}
	return fmt.Errorf("environment: %s", strings.Join(msgs, "; "))
}

// checkEnvInPro refuses, in pro, the variables only tests may set.
func checkEnvInPro(cfg *Config, env Environment) error {
	if _, set := env[EnvWebhookHosts]; set && cfg.App.Env == global.EnvPro {
		return fmt.Errorf("environment: %s is read only outside pro", EnvWebhookHosts)
	}
	return nil
}

// envMaps maps the variable prefix of every map in the configuration
// (MGV_RATELIMIT_TIERS_) to its TOML path (ratelimit.tiers).
func envMaps(t reflect.Type, path []string) map[string]string {
	out := map[string]string{}
	switch {
	case t.Kind() == reflect.Map:
		out[EnvPrefix+"_"+strings.ToUpper(strings.Join(path, "_"))+"_"] = strings.Join(path, ".")
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler):
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			for prefix, p := range envMaps(t.Field(i).Type, append(path, tag)) {
				out[prefix] = p
			}
		}
	}
	return out
}

// mapOf is the TOML path of the map whose prefix starts name, or "".
func mapOf(name string, maps map[string]string) string {
	for prefix, path := range maps {
		if strings.HasPrefix(strings.ToUpper(name), prefix) {
			return path
		}
	}
	return ""
}

// nearestName is the known name closest to name when it is close enough
// to be a typo of it (letter case and underscores aside, or a few edits),
// or else the only known name that ends with it (its section left out);
// "" when there is none. known is sorted, so ties go to the first in order.
func nearestName(name string, known []string) string {
	upper := strings.ToUpper(name)
	squash := func(s string) string { return strings.ReplaceAll(s, "_", "") }
	best, bestDist := "", max(2, len(upper)/8)+1
	for _, k := range known {
		d := editDistance(upper, k)
		if squash(upper) == squash(k) {
			d = 0
		}
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	// A name without its section (MGV_PID_FILE for MGV_PROCESS_PID_FILE):
	// the one known name that ends with it, if only one does.
	suffix := "_" + strings.TrimPrefix(upper, EnvPrefix+"_")
	for _, k := range known {
		if strings.HasSuffix(k, suffix) {
			if best != "" {
				return ""
			}
			best = k
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (variable names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
