package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/dashboards"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// A real Prometheus (Debian's package) scrapes a hub, a service instance,
// an agent running the instances the provisioner asks for, and the
// provisioner, with the scrape config docs/OPERATIONS.md recommends; it
// loads dashboards/alerts.yml. While calls are made, every query of
// dashboards/dpc.json, with its variables filled in as Grafana fills
// them, must succeed, and the panels that what the test did feeds must
// return data. With DPC_WRITE_DOCS=1 it also draws a few panels from
// Prometheus's data into docs/operations/*.png.
func TestPrometheus_DashboardQueriesReturnData(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed: .ci/run installs Debian's prometheus package")
	}
	writeDocs := os.Getenv("DPC_WRITE_DOCS") == "1"

	hub, hubURL := waitHub(t, exec.Command(bins.hub, "--host", "127.0.0.1", fmt.Sprintf("--port=%d", freePort(t)),
		"--http-port=0", "--metrics=127.0.0.1:0", "--data", stateDir(t), "--log-format", "json"))
	hubMetrics := readyURL(t, hub, "dpc-hub ready", "metrics")

	svc := proctest.Start(t, "dpc-service tst", exec.Command(bins.service, "--nats", hubURL, "--metrics", "127.0.0.1:0", "--log-format", "json", "tst"))
	svcMetrics := readyURL(t, svc, "starting", "metrics")

	manifests := t.TempDir()
	writeFile(t, filepath.Join(manifests, "work.yml"), `name: work
functions:
  - funct_name: work
    return_type: string
command: [dpc-service, work, --service-time, 5ms]
`)
	ag := exec.Command(bins.agent, "--nats", hubURL, "--id", "e2e", "--manifests", manifests, "--allow", "dpc-service",
		"--grace", "2s", "--log-format", "json", "--metrics", "127.0.0.1:0")
	ag.Env = append(os.Environ(), "PATH="+bins.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	agp := proctest.Start(t, "dpc-agent", ag)
	agentMetrics := readyURL(t, agp, "dpc-agent ready", "metrics")
	agentSD := readyURL(t, agp, "dpc-agent ready", "sd")

	prov := startProvisioner(t, hubURL, `period: 1s
history: memory
services:
  - name: work
    min: 1
    max: 2
    policy: fixed
    instances: 2
`)
	provMetrics := readyURL(t, prov, "dpc-provisioner ready", "metrics")

	// Calls while Prometheus watches: tst's add (and a bad call now and
	// then, for the errors panel), durable sends, and the work instances
	// the agent runs. With DPC_WRITE_DOCS the rate steps up halfway, so
	// that the charts show something happen.
	node, err := omq.New(connectOwner(t, hubURL))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stopLoad(); wg.Wait() })
	load := func(every time.Duration, call func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				if writeDocs && time.Since(start) < 40*time.Second && i%3 != 0 {
					continue // a third of the rate in the first stretch
				}
				ctx, cancel := context.WithTimeout(loadCtx, 5*time.Second)
				_ = call(ctx)
				cancel()
			}
		}()
	}
	tst, work := node.Lookup("tst"), node.Lookup("work")
	load(10*time.Millisecond, func(ctx context.Context) error {
		var sum int
		return tst.Call(ctx, "add", omq.Args(20, 22), &sum)
	})
	load(250*time.Millisecond, func(ctx context.Context) error {
		return tst.Call(ctx, "add", omq.Args("not a number", 1), nil)
	})
	load(100*time.Millisecond, func(ctx context.Context) error {
		return tst.Send(ctx, "add", omq.Args(1, 2), omq.Durable())
	})
	load(20*time.Millisecond, func(ctx context.Context) error {
		var s string
		return work.Call(ctx, "work", nil, &s)
	})

	prom := startPrometheus(t, promBin, map[string]string{
		"dpc-hub":         hubMetrics,
		"dpc-service":     svcMetrics,
		"dpc-agent":       agentMetrics,
		"dpc-provisioner": provMetrics,
	}, []string{agentSD})

	// Every target is scraped — the four static ones and the two work
	// instances the agent's /sd lists, each labelled with its service,
	// its DPC instance id (also as Prometheus's instance) and its agent —
	// and the alerting rules loaded.
	workID := regexp.MustCompile(`^work-e2e-\d+$`)
	var targetsSeen string
	if !within(60*time.Second, func() bool {
		var targets struct {
			ActiveTargets []struct {
				Health string            `json:"health"`
				Labels map[string]string `json:"labels"`
			} `json:"activeTargets"`
		}
		if prom.get(t, "/api/v1/targets", nil, &targets) != nil {
			return false
		}
		targetsSeen = fmt.Sprint(targets.ActiveTargets)
		static, work := 0, 0
		for _, tg := range targets.ActiveTargets {
			if tg.Health != "up" {
				return false
			}
			l := tg.Labels
			if l["job"] != "dpc-instances" {
				static++
			} else if l["service"] == "work" && l["agent"] == "e2e" && workID.MatchString(l["instance_id"]) && l["instance"] == l["instance_id"] {
				work++
			}
		}
		return static == 4 && work == 2
	}) {
		t.Fatalf("Prometheus does not scrape the four static targets and two work instances, all up, labelled service, instance_id (= instance) and agent: %s", targetsSeen)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name   string `json:"name"`
				Health string `json:"health"`
			} `json:"rules"`
		} `json:"groups"`
	}
	eventually(t, 10*time.Second, func() bool {
		if prom.get(t, "/api/v1/rules", nil, &rules) != nil || len(rules.Groups) == 0 {
			return false
		}
		for _, r := range rules.Groups[0].Rules {
			if r.Health != "ok" {
				return false
			}
		}
		return true
	}, "Prometheus to load and evaluate dashboards/alerts.yml")

	// The template variables list what the test ran.
	eventually(t, 20*time.Second, func() bool {
		var values []string
		err := prom.get(t, "/api/v1/label/service/values", url.Values{"match[]": {"omq_handled_total"}}, &values)
		return err == nil && slices.Contains(values, "tst")
	}, "label_values(omq_handled_total, service) to list tst")

	// Every query succeeds; the panels fed by what the test did have data.
	mustHaveData := []string{
		"Call rate (handled)", "Errors by code", "Handler latency p50 / p95 / p99", "Queue wait p50 / p95 / p99",
		"In-flight per instance (mean, Little's law)", "Backlog per instance (mean, Little's law)",
		"Instances: desired vs running", "Provisioner decisions by action", "Provisioner actions and instance deaths",
		"Durable lane: pending and ack pending", "Hub connections", "JetStream usage",
		"Agent processes by state", "Process memory per instance", "Process CPU per instance",
	}
	panels := dashboardPanels(t)
	var empty []string
	ok := within(30*time.Second, func() bool {
		empty = nil
		for _, p := range panels {
			data := false
			for _, expr := range p.exprs {
				res, err := prom.query(t, grafanaExpr(expr))
				if err != nil {
					t.Fatalf("panel %q: %s: %v", p.title, expr, err)
				}
				data = data || len(res) > 0
			}
			if !data && slices.Contains(mustHaveData, p.title) {
				empty = append(empty, p.title)
			}
		}
		return len(empty) == 0
	})
	if !ok {
		t.Fatalf("panels without data: %s", strings.Join(empty, "; "))
	}
	for _, p := range panels {
		if !slices.Contains(mustHaveData, p.title) {
			t.Logf("panel %q: its queries succeed; it needs no data here (nothing the test did feeds it for sure)", p.title)
		}
	}
	for _, want := range mustHaveData {
		if !slices.ContainsFunc(panels, func(p dashPanel) bool { return p.title == want }) {
			t.Errorf("dpc.json has no panel %q (renamed? update the test)", want)
		}
	}
	t.Logf("%d panels queried after %v", len(panels), time.Since(start).Round(time.Second))

	// The work instances the provisioner has the agent run feed the omq
	// panels too (Prometheus finds them through the agent's /sd), per
	// instance under their DPC instance ids.
	for _, title := range []string{"Call rate (handled)", "Handler latency p50 / p95 / p99", "Queue wait p50 / p95 / p99",
		"In-flight per instance (mean, Little's law)", "Backlog per instance (mean, Little's law)"} {
		p := panels[slices.IndexFunc(panels, func(p dashPanel) bool { return p.title == title })]
		var got []promSeries
		if !within(30*time.Second, func() bool {
			res, err := prom.query(t, grafanaExprFor(p.exprs[0], "work"))
			got = res
			return err == nil && len(res) > 0
		}) {
			t.Errorf("panel %q: no data for service work: %s", title, p.exprs[0])
			continue
		}
		for _, s := range got {
			if inst, per := s.Metric["instance"]; per && !workID.MatchString(inst) {
				t.Errorf("panel %q: work's instance %q, want its DPC instance id (work-e2e-N)", title, inst)
			}
		}
	}
	// The series keep omq's own service label (honor_labels: the target's
	// is the same), and gain the instance id and agent.
	raw, err := prom.query(t, `omq_handled_total{service="work"}`)
	if err != nil || len(raw) == 0 {
		t.Fatalf("omq_handled_total{service=\"work\"}: %v, %d series", err, len(raw))
	}
	for _, s := range raw {
		l := s.Metric
		if _, renamed := l["exported_service"]; renamed || l["job"] != "dpc-instances" || l["agent"] != "e2e" || !workID.MatchString(l["instance_id"]) {
			t.Errorf("work's series %v: want job dpc-instances, agent e2e, an instance_id and no exported_service", l)
		}
	}

	if writeDocs {
		// History for the charts: the step in load at 40 s; at 55 s a
		// work instance killed with -9, which the provisioner replaces.
		// These are the charts' time line, not waits for a condition.
		time.Sleep(55*time.Second - time.Since(start))
		victim := runningProcess(t, agent.NewClient(node))
		if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		time.Sleep(80*time.Second - time.Since(start))
		writeCharts(t, prom, panels, start, time.Now())
	}
}

// readyURL waits for p's log line msg and returns its field key.
func readyURL(t *testing.T, p *proctest.Process, msg, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), msg)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	u, _ := rec[key].(string)
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("log line %q reports %s %q, want http://127.0.0.1:<port>/metrics", msg, key, u)
	}
	return u
}

// prometheus is a running Prometheus's HTTP API.
type prometheus struct{ base string }

// startPrometheus runs Prometheus on a free loopback port with its own
// storage, scraping each job's one target every second, and the
// instances each agent's service discovery (agentsSD) lists as job
// dpc-instances, and loading dashboards/alerts.yml. The scrape config is
// the one docs/OPERATIONS.md recommends, with static targets.
func startPrometheus(t *testing.T, bin string, jobs map[string]string, agentsSD []string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	alerts, err := filepath.Abs("../dashboards/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n", alerts)
	for _, job := range slices.Sorted(func(yield func(string) bool) {
		for j := range jobs {
			if !yield(j) {
				return
			}
		}
	}) {
		u, err := url.Parse(jobs[job])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  - job_name: %s\n    metrics_path: %s\n    static_configs:\n      - targets: [%q]\n", job, u.Path, u.Host)
	}
	// The instances agents start, as each agent's /sd lists them.
	if len(agentsSD) > 0 {
		cfg.WriteString("  - job_name: dpc-instances\n    honor_labels: true\n    http_sd_configs:\n")
		for _, u := range agentsSD {
			fmt.Fprintf(&cfg, "      - url: %q\n        refresh_interval: 1s\n", u)
		}
		cfg.WriteString("    relabel_configs:\n      - source_labels: [instance_id]\n        target_label: instance\n")
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	writeFile(t, cfgFile, cfg.String())
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := proctest.Start(t, "prometheus", exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn"))
	prom := &prometheus{base: "http://" + addr}
	eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(prom.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "Prometheus to be ready:\n"+cfg.String())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.Output())
		}
	})
	return prom
}

// get fetches an API path and decodes its data into v; an error status
// (a query that does not parse, say) is an error.
func (p *prometheus) get(t *testing.T, path string, q url.Values, v any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"` // range queries
}

// query runs an instant query and returns its series.
func (p *prometheus) query(t *testing.T, expr string) ([]promSeries, error) {
	var data struct {
		Result []promSeries `json:"result"`
	}
	err := p.get(t, "/api/v1/query", url.Values{"query": {expr}}, &data)
	return data.Result, err
}

// queryRange runs a range query, one point a second.
func (p *prometheus) queryRange(t *testing.T, expr string, from, to time.Time) ([]promSeries, error) {
	var data struct {
		Result []promSeries `json:"result"`
	}
	q := url.Values{"query": {expr}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix(), 10)}, "step": {"1"}}
	err := p.get(t, "/api/v1/query_range", q, &data)
	return data.Result, err
}

var (
	grafanaRate     = regexp.MustCompile(`\$\{?__rate_interval\}?`)
	grafanaIntv     = regexp.MustCompile(`\$\{?__(interval|range)\}?`)
	grafanaService  = regexp.MustCompile(`\$\{service(:\w+)?\}|\$service\b`)
	grafanaInstance = regexp.MustCompile(`\$\{instance(:\w+)?\}|\$instance\b`)
)

// grafanaExpr fills a panel's query in as Grafana does with a 1 s
// scrape interval and "All" chosen for service and instance (their
// allValue, .*). $__rate_interval is at least four scrape intervals;
// 10 s leaves room for a late scrape.
func grafanaExpr(expr string) string { return grafanaExprFor(expr, ".*") }

// grafanaExprFor is grafanaExpr with the services chosen given as a
// regular expression, as Grafana writes a multi-value choice (a|b).
func grafanaExprFor(expr, services string) string {
	expr = grafanaRate.ReplaceAllString(expr, "10s")
	expr = grafanaIntv.ReplaceAllString(expr, "1s")
	expr = grafanaService.ReplaceAllLiteralString(expr, services)
	return grafanaInstance.ReplaceAllLiteralString(expr, ".*")
}

type dashPanel struct {
	title   string
	unit    string
	exprs   []string
	legends []string
}

func dashboardPanels(t *testing.T) []dashPanel {
	t.Helper()
	var d struct {
		Panels []struct {
			Title       string `json:"title"`
			Type        string `json:"type"`
			FieldConfig struct {
				Defaults struct {
					Unit string `json:"unit"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
			Targets []struct {
				Expr         string `json:"expr"`
				LegendFormat string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboards.DPC, &d); err != nil {
		t.Fatal(err)
	}
	var out []dashPanel
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		dp := dashPanel{title: p.Title, unit: p.FieldConfig.Defaults.Unit}
		for _, tg := range p.Targets {
			dp.exprs = append(dp.exprs, tg.Expr)
			dp.legends = append(dp.legends, tg.LegendFormat)
		}
		out = append(out, dp)
	}
	if len(out) == 0 {
		t.Fatal("no panels in dpc.json")
	}
	return out
}

// charts are the panels drawn for docs/OPERATIONS.md: file name, panel
// title, and which of its queries (by index) to draw.
var charts = []struct {
	file, panel string
	targets     []int
}{
	{"calls.png", "Call rate (handled)", []int{0}},
	{"latency.png", "Handler latency p50 / p95 / p99", []int{0, 1, 2}},
	{"instances.png", "Instances: desired vs running", []int{0}},
	{"jetstream.png", "JetStream usage", []int{0, 2}},
	{"memory.png", "Process memory per instance", []int{0}},
	{"agent.png", "Agent processes by state", []int{0}},
}

// writeCharts draws each chart's queries over [from, to] from
// Prometheus's data, as the dashboard would show them, into
// docs/operations.
func writeCharts(t *testing.T, prom *prometheus, panels []dashPanel, from, to time.Time) {
	t.Helper()
	dir := filepath.Join("..", "docs", "operations")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		i := slices.IndexFunc(panels, func(p dashPanel) bool { return p.title == c.panel })
		if i < 0 {
			t.Fatalf("no panel %q to draw", c.panel)
		}
		p := panels[i]
		pl := plot.New()
		pl.Title.Text = p.title
		pl.X.Label.Text = "seconds"
		pl.Y.Label.Text = unitLabel(p.unit)
		pl.Legend.Top = true
		pl.Legend.Left = true
		pl.Add(plotter.NewGrid())
		n, ymax := 0, 0.0
		for _, ti := range c.targets {
			// The services the test ran: the hub's own would add flat lines.
			series, err := prom.queryRange(t, grafanaExprFor(p.exprs[ti], "(tst|work)"), from, to)
			if err != nil {
				t.Fatalf("chart %s: %v", c.file, err)
			}
			slices.SortFunc(series, func(a, b promSeries) int {
				return strings.Compare(legend(p.legends[ti], a.Metric), legend(p.legends[ti], b.Metric))
			})
			for _, s := range series {
				pts := points(s.Values, from, p.unit)
				if !slices.ContainsFunc(pts, func(xy plotter.XY) bool { return xy.Y != 0 }) {
					continue // flat at zero (starting, absent): clutter
				}
				for _, xy := range pts {
					ymax = max(ymax, xy.Y)
				}
				l, err := plotter.NewLine(pts)
				if err != nil {
					t.Fatal(err)
				}
				l.Color = palette[n%len(palette)]
				l.Width = vg.Points(1.5)
				pl.Add(l)
				pl.Legend.Add(legend(p.legends[ti], s.Metric), l)
				n++
			}
		}
		if n == 0 {
			t.Fatalf("chart %s: no data", c.file)
		}
		pl.Y.Min, pl.Y.Max = 0, ymax*1.35 // room for the legend above the lines
		if err := pl.Save(7*vg.Inch, 3.5*vg.Inch, filepath.Join(dir, c.file)); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(dir, c.file))
	}
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// points turns a range query's [time, "value"] pairs into seconds since
// from and the value in the chart's unit; NaN (no calls in a window)
// is left out.
func points(values [][2]any, from time.Time, unit string) plotter.XYs {
	var pts plotter.XYs
	for _, v := range values {
		ts, _ := v[0].(float64)
		s, _ := v[1].(string)
		y, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		switch unit {
		case "s":
			y *= 1000 // drawn in ms
		case "bytes":
			y /= 1 << 20 // drawn in MiB
		}
		pts = append(pts, plotter.XY{X: ts - float64(from.Unix()), Y: y})
	}
	return pts
}

func unitLabel(unit string) string {
	switch unit {
	case "s":
		return "ms"
	case "bytes":
		return "MiB"
	case "reqps":
		return "calls/s"
	}
	return ""
}

var legendVar = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legend fills in a legendFormat as Grafana does.
func legend(format string, labels map[string]string) string {
	return legendVar.ReplaceAllStringFunc(format, func(m string) string {
		return labels[legendVar.FindStringSubmatch(m)[1]]
	})
}
