package benchsys

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
	"gopkg.in/yaml.v3"
)

// The generated config is one dpc-provisioner accepts, for every policy,
// and the agent's has the service commands the benches need.
func TestWork_ProvisionerAndAgentConfig(t *testing.T) {
	for _, policy := range []string{"reactive", "predictive", "combined", "target-tracking", "fixed"} {
		c := Work{Policy: policy, Min: 1, Max: 6, Fixed: 2, ServiceTime: 20 * time.Millisecond, ServiceTimeDist: "exp",
			Concurrency: 1, Period: time.Second, Day: 120 * time.Second, SLA: 100 * time.Millisecond}
		data, err := c.ProvisionerConfig()
		if err != nil {
			t.Fatal(err)
		}
		fc, err := provisioner.ParseConfig("provisioner.yml", data)
		if err != nil {
			t.Fatalf("%s: %v\n%s", policy, err, data)
		}
		svcs, err := fc.BuildServices(provisioner.NewMemoryHistory())
		if err != nil {
			t.Fatalf("%s: %v\n%s", policy, err, data)
		}
		if len(svcs) != 2 || svcs[0].Name != "work" || svcs[1].Name != "work-fixed" {
			t.Fatalf("%s: services %+v", policy, svcs)
		}
		if svcs[0].Policy.Name() != policy || svcs[0].Limits.Min != 1 || svcs[0].Limits.Max != 6 {
			t.Errorf("%s: work under %s, limits %+v", policy, svcs[0].Policy.Name(), svcs[0].Limits)
		}
		if svcs[1].Policy.Name() != "fixed" || svcs[1].Limits.Min != 2 || svcs[1].Limits.Max != 2 {
			t.Errorf("%s: work-fixed under %s, limits %+v", policy, svcs[1].Policy.Name(), svcs[1].Limits)
		}
		agentCfg, err := c.AgentConfig()
		if err != nil {
			t.Fatal(err)
		}
		var ac struct {
			Services map[string]struct{ Command []string } `yaml:"services"`
		}
		if err := yaml.Unmarshal(agentCfg, &ac); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(ac.Services["work-fixed"].Command, " "); got != "dpc-service work --name work-fixed --service-time 20ms --service-time-dist exp --concurrency 1" {
			t.Errorf("%s: work-fixed command %q", policy, got)
		}
		if got := strings.Join(ac.Services["work"].Command, " "); got != "dpc-service work --service-time 20ms --service-time-dist exp --concurrency 1" {
			t.Errorf("%s: work command %q", policy, got)
		}
	}
}
