//go:build linux

package agent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// series finds the value of name with exactly the given labels among
// what reg gathers; ok is false when there is no such series.
func series(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return value(mf.GetType(), m), true
		}
	}
	return 0, false
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// The agent's /metrics shows each process it runs (memory, CPU, start
// time by service and instance id), how many it has in each state, and
// counts spawns and exits by result, with names promlint accepts.
func TestMetrics_ProcessesSpawnsAndExits(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRig(t, func(c *agent.Config) {
		c.Metrics = reg
		c.MaxProcesses = 2
	})
	ctx := testContext(t)

	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	one := map[string]string{"service": "echo", "instance_id": p.ID}
	brokertest.Eventually(t, within, func() bool {
		rss, ok := series(t, reg, "dpc_agent_process_resident_memory_bytes", one)
		return ok && rss > 0
	}, "the running process's resident memory")
	if _, ok := series(t, reg, "dpc_agent_process_cpu_seconds_total", one); !ok {
		t.Error("no CPU time for the running process")
	}
	if start, ok := series(t, reg, "dpc_agent_process_start_time_seconds", one); !ok || int64(start) != p.Started.Unix() {
		t.Errorf("start time %v (found %v), want %d", start, ok, p.Started.Unix())
	}
	if n, _ := series(t, reg, "dpc_agent_processes", map[string]string{"service": "echo", "state": "running"}); n != 1 {
		t.Errorf("running echo processes: %v, want 1", n)
	}

	// One that dies by itself, and one refused at max_processes (echo and
	// fail run, until fail has exited).
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "fail"}); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool {
		n, _ := series(t, reg, "dpc_agent_exits_total", map[string]string{"service": "fail", "result": "died"})
		return n == 1
	}, "the failing process to be counted as died")
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"}); err == nil {
		t.Fatal("a third live process was started past max_processes 2")
	}
	if _, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, service, result string
		want                  float64
	}{
		{"dpc_agent_spawns_total", "echo", "started", 2},
		{"dpc_agent_spawns_total", "echo", "refused", 1},
		{"dpc_agent_spawns_total", "fail", "started", 1},
		{"dpc_agent_exits_total", "echo", "stopped", 1},
		{"dpc_agent_exits_total", "fail", "died", 1},
	} {
		if n, _ := series(t, reg, c.name, map[string]string{"service": c.service, "result": c.result}); n != c.want {
			t.Errorf("%s{service=%q,result=%q} = %v, want %v", c.name, c.service, c.result, n, c.want)
		}
	}
	if _, ok := series(t, reg, "dpc_agent_process_resident_memory_bytes", one); ok {
		t.Error("the stopped process still has a memory series")
	}
	if n, _ := series(t, reg, "dpc_agent_processes", map[string]string{"service": "echo", "state": "exited"}); n != 1 {
		t.Errorf("exited echo processes: %v, want 1", n)
	}
	if n, _ := series(t, reg, "dpc_agent_max_processes", map[string]string{}); n != 2 {
		t.Errorf("max processes: %v, want 2", n)
	}

	problems, err := promlint.NewWithMetricFamilies(must(reg.Gather())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "dpc_agent_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// Services the agent has no command for (it would run them as
// "dpc-service <service>") are named in the labels up to a bound, then
// counted together: spawn requests cannot grow the series without end.
func TestMetrics_OtherServicesAreBounded(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no dpc-service: each such spawn fails at once, runs nothing
	reg := prometheus.NewRegistry()
	r := newRig(t, func(c *agent.Config) { c.Metrics = reg })
	ctx := testContext(t)
	const spawns = 70
	for i := range spawns {
		if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: fmt.Sprintf("other%d", i)}); err == nil {
			t.Fatal("a spawn of dpc-service succeeded without dpc-service in PATH")
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names, total := map[string]bool{}, 0.0
	for _, mf := range mfs {
		if mf.GetName() != "dpc_agent_spawns_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "service" {
					names[lp.GetValue()] = true
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	if len(names) != 65 || !names[".other"] {
		t.Errorf("%d service label values (.other among them: %v), want 64 named and .other", len(names), names[".other"])
	}
	if total != spawns {
		t.Errorf("%v spawns counted, want %d", total, spawns)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
