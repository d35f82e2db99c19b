package provisioner_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
)

// An instance whose handlers stopped finishing (omq reports it stalled)
// is not capacity: with two wanted and one of the two stalled, the
// supervisor starts a third and says why.
func TestSupervisor_StalledIsNotCapacity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	release := make(chan struct{})
	bind := func(id string, h omq.Handler, opts ...omq.BindOption) {
		n, err := omq.New(brokertest.Connect(t, e.srv))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := n.Bind(ctx, "work", omq.Handlers{"work": h}, append(opts, omq.InstanceID(id), omq.NoDurable())...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = inst.Unbind(ctx) })
	}
	bind("work-a-1", omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil }))
	bind("work-a-2", omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { <-release; return nil, nil }),
		omq.Concurrency(1), omq.StallAfter(200*time.Millisecond))
	// Registered after the binds, so it runs before their Unbinds, which
	// wait for the hung call.
	t.Cleanup(func() { close(release) })
	// Hang the second one's only slot.
	go func() {
		_ = e.node.Lookup("work").At("work-a-2").Call(ctx, "work", nil, nil, omq.Timeout(30*time.Second))
	}()
	brokertest.Eventually(t, 10*time.Second, func() bool {
		st, _ := e.node.StatsWithin(ctx, "work", 100*time.Millisecond)
		for _, s := range st {
			if s.ID == "work-a-2" && s.Data.State == omq.StateStalled {
				return true
			}
		}
		return false
	}, "work-a-2 to report itself stalled")

	started := time.Now()
	fa := &fakeAgents{states: map[string]*agent.State{"a": {Agent: "a", Services: []string{"work"}, Processes: []agent.Process{
		{ID: "work-a-1", Service: "work", Agent: "a", State: agent.StateRunning, Started: started},
		{ID: "work-a-2", Service: "work", Agent: "a", State: agent.StateRunning, Started: started},
	}}}}
	w := &watched{reg: prometheus.NewRegistry(), logs: &proctest.Buffer{}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = 500*time.Millisecond, 150*time.Millisecond, time.Minute
	cfg.Metrics, cfg.Logger = provisioner.NewMetrics(w.reg), slog.New(slog.NewJSONHandler(w.logs, nil))
	sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{fixed(2)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		sup.Round(ctx)
	}
	if ready := w.metric(t, "dpc_provisioner_instances", "state", "ready"); ready != 1 {
		t.Errorf("ready %v, want 1: the stalled instance is not ready", ready)
	}
	fa.mu.Lock()
	spawned := len(fa.spawned)
	fa.mu.Unlock()
	if spawned != 1 || !strings.Contains(w.logs.String(), "+1 for stalled instances") {
		t.Fatalf("%d spawns, want 1 for the stalled instance, with the reason logged\n%s", spawned, w.logs)
	}
}
