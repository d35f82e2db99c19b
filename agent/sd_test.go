//go:build linux

package agent_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/metricsserver"
)

type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// getBody fetches url and returns its body, failing the test on an
// error status.
func getBody(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return string(b), resp.Header
}

// sd is the agent's service discovery as Prometheus reads it.
func sd(t *testing.T, url string) []sdGroup {
	t.Helper()
	body, h := getBody(t, url)
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q: Prometheus wants application/json", ct)
	}
	var gs []sdGroup
	if err := json.Unmarshal([]byte(body), &gs); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return gs
}

func findTarget(gs []sdGroup, id string) (sdGroup, bool) {
	i := slices.IndexFunc(gs, func(g sdGroup) bool { return g.Labels["instance_id"] == id })
	if i < 0 {
		return sdGroup{}, false
	}
	return gs[i], true
}

// An instance the agent starts serves /metrics on the loopback port it
// picked (DPC_SERVICE_METRICS=127.0.0.1:0) and says where in its $SRV
// metadata; the agent's /sd lists it for Prometheus, labelled with its
// service, instance id and agent, while it runs, and no longer once it
// has exited. An instance whose config turns its metrics off is not
// listed, nor one that reports a URL off loopback.
func TestServiceDiscovery_ListsTheInstancesWhileTheyRun(t *testing.T) {
	reg := metricsserver.NewRegistry()
	r := newRig(t, func(c *agent.Config) {
		c.Metrics = reg
		c.InstanceMetrics = "127.0.0.1:0"
		c.Services["quiet"] = agent.ServiceCommand{Command: childCommand("serve"), Env: map[string]string{agent.EnvMetrics: ""}}
		c.Services["wide"] = agent.ServiceCommand{Command: childCommand("serve"), Env: map[string]string{agent.EnvMetrics: "0.0.0.0:0"}}
	})
	ms, err := metricsserver.Start("127.0.0.1:0", reg, slog.New(slog.DiscardHandler),
		metricsserver.Route{Path: "/sd", Handler: r.agent.ServiceDiscovery()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	sdURL := strings.TrimSuffix(ms.URL(), "/metrics") + "/sd"
	ctx := testContext(t)

	if gs := sd(t, sdURL); len(gs) != 0 {
		t.Fatalf("targets before any spawn: %v", gs)
	}
	quiet, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "quiet", quiet.ID) }, "the quiet instance to answer")
	// One that reports a URL off loopback, where the agent did not tell
	// it to listen: refused, and the agent says why.
	wide, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool {
		for line := range strings.Lines(r.logs.String()) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "instance metrics not listed for Prometheus" && rec["instance"] == wide.ID {
				e, _ := rec["err"].(string)
				return strings.Contains(e, "not on loopback")
			}
		}
		return false
	}, "the agent to refuse the off-loopback target, saying why")
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	var g sdGroup
	brokertest.Eventually(t, within, func() bool {
		var ok bool
		g, ok = findTarget(sd(t, sdURL), p.ID)
		return ok
	}, "/sd to list the echo instance")
	if want := map[string]string{"service": "echo", "instance_id": p.ID, "agent": "a1"}; !maps.Equal(g.Labels, want) {
		t.Errorf("labels %v, want %v", g.Labels, want)
	}
	if len(g.Targets) != 1 || !strings.HasPrefix(g.Targets[0], "127.0.0.1:") {
		t.Fatalf("targets %v: want one, on loopback", g.Targets)
	}
	// The target is the instance's own /metrics, not the agent's.
	if body, _ := getBody(t, "http://"+g.Targets[0]+"/metrics"); !strings.Contains(body, "go_goroutines ") {
		t.Errorf("the target serves no Go figures:\n%s", body)
	}
	if g.Targets[0] == strings.TrimPrefix(strings.TrimSuffix(ms.URL(), "/metrics"), "http://") {
		t.Error("the target is the agent's own /metrics")
	}
	gs := sd(t, sdURL)
	if len(gs) != 1 {
		t.Errorf("targets %v: want the echo instance only (quiet serves no /metrics, wide's is off loopback)", gs)
	}

	if _, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID}); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool {
		_, ok := findTarget(sd(t, sdURL), p.ID)
		return !ok
	}, "/sd to drop the stopped instance")
}
