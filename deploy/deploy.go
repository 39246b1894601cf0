// Package deploy holds the deploy kit (systemd unit, Spug deploy script,
// logrotate config, Prometheus alert rules, Grafana dashboard) and reads the
// metric names the rules and the dashboard use, so tests can check them
// against what the binary exports. The service does not import it.
package deploy

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Paths of the kit, relative to this directory.
const (
	RulesFile     = "prometheus/mgvcore.rules.yml"
	DashboardFile = "grafana/mgvcore.json"
	UnitFile      = "systemd/mgvcore.service"
	DeployScript  = "spug/deploy.sh"
	LogrotateFile = "logrotate/mgvcore"
)

//go:embed prometheus/mgvcore.rules.yml grafana/mgvcore.json
var files embed.FS

// ScrapeSeries are series Prometheus makes itself rather than scrapes.
var ScrapeSeries = map[string]bool{"up": true}

// promql is Prometheus' own expression parser, with its default options.
var promql = parser.NewParser(parser.Options{})

// Rules parses the alert rules with Prometheus' own rule parser.
func Rules() (*rulefmt.RuleGroups, error) {
	data, err := files.ReadFile(RulesFile)
	if err != nil {
		return nil, err
	}
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, promql)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", RulesFile, errs)
	}
	return groups, nil
}

// Dashboard is the part of the Grafana dashboard the checks read.
type Dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// ReadDashboard decodes the Grafana dashboard.
func ReadDashboard() (*Dashboard, error) {
	data, err := files.ReadFile(DashboardFile)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	return &d, nil
}

var (
	grafanaInterval = regexp.MustCompile(`\$__(rate_interval|interval|range)\b`)
	grafanaVar      = regexp.MustCompile(`\$\{?\w+\}?`)
	labelValues     = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
)

// PromQL turns a dashboard expression into plain PromQL: Grafana's
// intervals become 5m and its variables match anything.
func PromQL(expr string) string {
	return grafanaVar.ReplaceAllString(grafanaInterval.ReplaceAllString(expr, "5m"), ".*")
}

// MetricNames lists, sorted, every metric the alert rules and the dashboard
// (panels and variables) select. Each expression must parse as PromQL.
func MetricNames() ([]string, error) {
	var exprs []string
	groups, err := Rules()
	if err != nil {
		return nil, err
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	d, err := ReadDashboard()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			exprs = append(exprs, PromQL(t.Expr))
		}
	}
	for _, v := range d.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			names[m[1]] = true
		}
	}
	for _, e := range exprs {
		ast, err := promql.ParseExpr(e)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				names[vs.Name] = true
			}
			return nil
		})
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
