package dashboards

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Every alert's expression parses and names only metrics the code
// exports (and Prometheus's own up), with the labels they have; every
// alert waits (for), says how bad (severity) and what to do (summary,
// description).
func TestAlerts_QueriesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	known := exportedMetrics(t)
	known["up"] = exported{labels: map[string]bool{}} // Prometheus's, per target: job and instance only
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "group " + g.Name + " rule " + r.Alert + r.Record
			checkQuery(t, where, r.Expr, known)
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if r.For == "" {
				t.Errorf("%s: no for: one bad scrape would page", where)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
		}
	}
	for _, want := range []string{"DPCServiceP95OverSLA", "DPCInstanceFlapping", "DPCDurableBacklogGrowing", "DPCAuthenticationFailures", "DPCHubDown", "DPCHubClusterRoutesDown"} {
		if !alerts[want] {
			t.Errorf("alerts.yml has no alert %s", want)
		}
	}
}

// promtool checks the rules and runs alerts_test.yml, which proves each
// alert fires on sample series (and that like series do not).
func TestAlerts_Promtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: .ci/run installs Debian's prometheus package")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
