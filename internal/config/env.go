package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// applyEnv walks the configuration and replaces every leaf whose variable
// (MGV_<PATH>) is set. Map entries (rate-limit tiers) are reachable by their
// existing names: MGV_RATELIMIT_TIERS_STANDARD_RPS.
func applyEnv(cfg *Config, env Environment) error {
	return walkEnv(reflect.ValueOf(cfg).Elem(), nil, env.lookup)
}

// EnvKeys lists every variable name the override rule accepts, for docs and
// `mgvcore config check`.
func EnvKeys(cfg *Config) []string {
	var keys []string
	_ = walkEnv(reflect.ValueOf(cfg).Elem(), nil, func(name string) (string, bool) {
		keys = append(keys, name)
		return "", false
	})
	return keys
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func walkEnv(v reflect.Value, path []string, lookup func(string) (string, bool)) error {
	if v.Kind() == reflect.Struct && !reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			if err := walkEnv(v.Field(i), append(path, tag), lookup); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind() == reflect.Map {
		names := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			names = append(names, k.String())
		}
		sort.Strings(names)
		for _, name := range names {
			key := reflect.ValueOf(name)
			elem := reflect.New(v.Type().Elem()).Elem()
			elem.Set(v.MapIndex(key))
			if err := walkEnv(elem, append(path, name), lookup); err != nil {
				return err
			}
			v.SetMapIndex(key, elem)
		}
		return nil
	}
	name := EnvPrefix + "_" + strings.ToUpper(strings.Join(path, "_"))
	raw, ok := lookup(name)
	if !ok {
		return nil
	}
	if err := setFromString(v, raw); err != nil {
		return fmt.Errorf("environment %s (%s): %w", name, strings.Join(path, "."), err)
	}
	return nil
}

func setFromString(v reflect.Value, raw string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(raw))
	}
	raw = strings.TrimSpace(raw)
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", raw)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("invalid number %q", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
