package dashboards

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/prometheus/client_golang/prometheus"
	promql "github.com/prometheus/prometheus/promql/parser"
)

// exported is a metric the code exports: its labels (nil when unknown)
// and whether it is a histogram (so _bucket, _sum and _count exist).
type exported struct {
	labels    map[string]bool
	histogram bool
}

// collecting is a Registerer that keeps what is registered on it, so
// that the collectors' descriptors can be listed before any series
// exists.
type collecting struct{ cs []prometheus.Collector }

func (c *collecting) Register(col prometheus.Collector) error {
	c.cs = append(c.cs, col)
	return nil
}

func (c *collecting) MustRegister(cols ...prometheus.Collector) { c.cs = append(c.cs, cols...) }

func (c *collecting) Unregister(prometheus.Collector) bool { return false }

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// exportedMetrics lists the metrics of omq, the provisioner and the
// agent from their constructors, and the hub's (dpc_hub_*, dpc_nats_*) from the
// source of hub/metrics.go and hub/natsmetrics.go: the hub's collectors
// cannot be made without a running hub.
func exportedMetrics(t *testing.T) map[string]exported {
	t.Helper()
	reg := &collecting{}
	if _, err := omq.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	provisioner.NewMetrics(reg)
	if _, err := agent.New(agent.Config{ID: "dashboards", Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	out := map[string]exported{}
	for _, c := range reg.cs {
		_, hv := c.(*prometheus.HistogramVec)
		_, h := c.(prometheus.Histogram)
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			s := d.String()
			m := descName.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("no fqName in %s", s)
			}
			e := exported{labels: map[string]bool{}, histogram: hv || h}
			if l := descLabels.FindStringSubmatch(s); l != nil {
				for _, n := range strings.Split(l[1], ",") {
					if n = strings.TrimSpace(n); n != "" {
						e.labels[n] = true
					}
				}
			}
			out[m[1]] = e
		}
	}
	hubMetrics(t, out)
	for _, want := range []string{"omq_handled_total", "dpc_provisioner_instances", "dpc_hub_identities", "dpc_nats_connections", "dpc_agent_process_resident_memory_bytes"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("exported metrics lack %s: the way they are found no longer matches the code", want)
		}
	}
	return out
}

// hubMetrics reads the hub's metric names from its source: the Name of
// each CounterOpts/GaugeOpts literal in hub/metrics.go ("dpc_hub_*";
// labels not read), and each d("name", help, labels...) in
// hub/natsmetrics.go (dpc_nats_name, with its labels).
func hubMetrics(t *testing.T, out map[string]exported) {
	t.Helper()
	fset := token.NewFileSet()
	for _, file := range []string{"../hub/metrics.go", "../hub/natsmetrics.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Name" {
					if s, ok := stringLit(n.Value); ok && strings.HasPrefix(s, "dpc_hub_") {
						out[s] = exported{}
					}
				}
			case *ast.CallExpr:
				if f, ok := n.Fun.(*ast.Ident); ok && f.Name == "d" && len(n.Args) >= 2 {
					name, ok := stringLit(n.Args[0])
					if !ok {
						return true
					}
					e := exported{labels: map[string]bool{}}
					for _, a := range n.Args[2:] {
						l, ok := stringLit(a)
						if !ok {
							t.Fatalf("%s: a label of dpc_nats_%s is not a string literal", fset.Position(a.Pos()), name)
						}
						e.labels[l] = true
					}
					out["dpc_nats_"+name] = e
				}
			}
			return true
		})
	}
}

func stringLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Datasource  *datasource `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func load(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(DPC, &d); err != nil {
		t.Fatalf("dpc.json: %v", err)
	}
	return d
}

var (
	grafanaInterval = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?`)
	grafanaVar      = regexp.MustCompile(`\$\{\w+(:\w+)?\}|\$\w+|\[\[\w+\]\]`)
)

// promQL replaces Grafana's variables with valid PromQL: durations for
// the interval variables, a plain word for the others (they stand in
// label values and regular expressions).
func promQL(expr string) string {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	return grafanaVar.ReplaceAllString(expr, "x")
}

// checkQuery parses expr and reports each metric it selects that the
// code does not export, and each label matched that the metric lacks.
func checkQuery(t *testing.T, where, expr string, known map[string]exported) {
	t.Helper()
	p := promql.NewParser(promql.Options{})
	e, err := p.ParseExpr(promQL(expr))
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	selectors := 0
	promql.Inspect(e, func(n promql.Node, _ []promql.Node) error {
		vs, ok := n.(*promql.VectorSelector)
		if !ok {
			return nil
		}
		selectors++
		if vs.Name == "" {
			t.Errorf("%s: %q selects series without a metric name", where, expr)
			return nil
		}
		name, bucket := vs.Name, false
		m, ok := known[name]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(name, suffix); cut {
					if b, found := known[base]; found && b.histogram {
						m, ok, bucket = b, true, suffix == "_bucket"
					}
				}
			}
		}
		if !ok {
			t.Errorf("%s: %q names %s, which the code does not export", where, expr, name)
			return nil
		}
		if m.labels == nil {
			return nil
		}
		for _, lm := range vs.LabelMatchers {
			switch {
			case lm.Name == "__name__", lm.Name == "instance", lm.Name == "job":
			case lm.Name == "le" && bucket:
			case !m.labels[lm.Name]:
				t.Errorf("%s: %q matches label %s, which %s does not have", where, expr, lm.Name, name)
			}
		}
		return nil
	})
	if selectors == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
}

var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)

func TestQueriesNameExportedMetrics(t *testing.T) {
	known := exportedMetrics(t)
	d := load(t)
	n := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
					continue
				}
				n++
				checkQuery(t, "panel "+strconv.Quote(p.Title)+" target "+tg.RefID, tg.Expr, known)
			}
		}
	}
	walk(d.Panels)
	if n == 0 {
		t.Fatal("no queries in dpc.json")
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := variableQuery(t, v.Name, v.Query)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		checkQuery(t, "variable "+v.Name, m[1], known)
	}
}

// variableQuery is a query variable's PromQL: a string, or an object
// with a query field (Grafana 10 and later).
func variableQuery(t *testing.T, name string, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("variable %s: query: %v", name, err)
	}
	return o.Query
}

func TestDashboardShape(t *testing.T) {
	d := load(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a declared one of 36 or later", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s: datasource is not ${datasource}", v.Name)
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "service": "query", "instance": "query"} {
		if vars[name] != typ {
			t.Errorf("templating: variable %s is %q, want type %q", name, vars[name], typ)
		}
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource is not ${datasource}", p.Title)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource is not ${datasource}", p.Title, tg.RefID)
			}
		}
	}
}
