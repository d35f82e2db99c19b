package provisioner_test

import (
	"context"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/provisioner"
)

// zeroSupervisor supervises work (min 0, max max, idle idle, a policy
// that always proposes 0) over fake agents: one agent, a, that runs it.
func zeroSupervisor(t *testing.T, e *env, max int, idle time.Duration, period time.Duration) (*provisioner.Supervisor, *fakeAgents) {
	t.Helper()
	fa := &fakeAgents{states: map[string]*agent.State{"a": {Agent: "a", Services: []string{"work"}}}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = period, 50*time.Millisecond, time.Minute
	svc := provisioner.Service{Name: "work", Limits: provisioner.Limits{Min: 0, Max: max}, Policy: provisioner.Fixed{N: 0}, Idle: idle}
	sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	return sup, fa
}

func (f *fakeAgents) counts() (spawned, stopped int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.spawned), len(f.stopped)
}

// A wake for a min-0 service with no instance starts one at once, not
// at the next round; more wakes while it starts coalesce into it; a wake
// for a service the supervisor does not supervise is ignored. The wakes
// count as calls waiting, so the next round keeps the instance although
// the policy proposes 0.
func TestSupervisor_WakeStartsOneAtOnce(t *testing.T) {
	e := newEnv(t)
	sup, fa := zeroSupervisor(t, e, 3, time.Hour, time.Second)
	ctx := context.Background()
	sup.Round(ctx) // lists the agents; nothing to run
	if n, _ := fa.counts(); n != 0 {
		t.Fatalf("%d spawns for an idle min-0 service, want 0", n)
	}
	if sup.Wake(ctx, "other") {
		t.Fatal("a wake for a service not supervised started something")
	}
	if !sup.Wake(ctx, "work") {
		t.Fatal("the first wake started nothing")
	}
	for range 10 {
		if sup.Wake(ctx, "work") {
			t.Fatal("a repeated wake started a second instance")
		}
	}
	if n, _ := fa.counts(); n != 1 {
		t.Fatalf("%d spawns after 11 wakes, want 1", n)
	}
	for range 3 {
		sup.Round(ctx)
	}
	if spawned, stopped := fa.counts(); spawned != 1 || stopped != 0 {
		t.Fatalf("after the rounds: %d spawns, %d stops; want the woken instance kept (1, 0)", spawned, stopped)
	}
}

// A service that has instances, up to its max, is not woken: a wake
// starts one only where there is none.
func TestSupervisor_WakeIgnoredWithAnInstance(t *testing.T) {
	e := newEnv(t)
	sup, fa := zeroSupervisor(t, e, 1, time.Hour, time.Second)
	fa.states["a"].Processes = []agent.Process{{ID: "w1", Service: "work", Agent: "a", State: agent.StateRunning, Started: time.Now()}}
	ctx := context.Background()
	sup.Round(ctx)
	if sup.Wake(ctx, "work") {
		t.Fatal("a wake for a service at its max started another instance")
	}
	if n, _ := fa.counts(); n != 0 {
		t.Fatalf("%d spawns, want 0", n)
	}
}

// A min-0 service that handles no calls for its idle time is scaled to
// zero (not before: the policy's 0 is held at 1 until then), and the
// next wake starts it again.
func TestSupervisor_IdleScalesToZero(t *testing.T) {
	e := newEnv(t)
	const idle = 1500 * time.Millisecond
	sup, fa := zeroSupervisor(t, e, 3, idle, time.Second)
	ctx := context.Background()
	sup.Round(ctx)
	if !sup.Wake(ctx, "work") {
		t.Fatal("the wake started nothing")
	}
	woke := time.Now()
	var held time.Duration
	brokertest.Eventually(t, 20*time.Second, func() bool {
		sup.Round(ctx)
		if _, stopped := fa.counts(); stopped == 0 {
			held = time.Since(woke)
			return false
		}
		return true
	}, "the idle instance stopped")
	if held < idle-200*time.Millisecond {
		// Not a timing assertion on speed: a stop before the idle time
		// is the behaviour under test.
		t.Fatalf("stopped after %v, before the idle time %v", held, idle)
	}
	sup.Round(ctx)
	if !sup.Wake(ctx, "work") {
		t.Fatal("a wake after the scale to zero started nothing")
	}
	if spawned, _ := fa.counts(); spawned != 2 {
		t.Fatalf("%d spawns, want 2", spawned)
	}
}

// Run hears wakes on dpc.wake.<service> and starts an instance between
// rounds: here the period is far longer than the test.
func TestSupervisor_RunHearsWakes(t *testing.T) {
	e := newEnv(t)
	sup, fa := zeroSupervisor(t, e, 3, time.Hour, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	nc := e.node.Conn()
	brokertest.Eventually(t, 10*time.Second, func() bool {
		// Wakes for a service not supervised first: they must not get
		// in the way.
		_ = nc.Publish("dpc.wake.other", nil)
		_ = nc.Publish("dpc.wake.work", nil)
		time.Sleep(50 * time.Millisecond)
		n, _ := fa.counts()
		return n > 0
	}, "an instance started for the wake")
	time.Sleep(300 * time.Millisecond)
	if n, _ := fa.counts(); n != 1 {
		t.Fatalf("%d spawns, want 1", n)
	}
}
