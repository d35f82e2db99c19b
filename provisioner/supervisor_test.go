package provisioner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
)

// serviceBin is dpc-service, built once: the supervisor's tests start real
// instances through real agents.
var serviceBin string

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { serviceBin = b["./cmd/dpc-service"] }, "./cmd/dpc-service"))
}

type env struct {
	t    *testing.T
	srv  *broker.Server
	node *omq.Node
}

func newEnv(t *testing.T) *env {
	srv := brokertest.Start(t)
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, node: node}
}

// startAgent runs an agent in this process on its own connection; its
// instances are real dpc-service processes. stop shuts it down (its
// instances with it) and closes its connection: the host is gone.
func (e *env) startAgent(id string) (stop func()) {
	return e.startAgentServing(id, "1ms")
}

// startAgentServing is startAgent with work taking serviceTime per call.
func (e *env) startAgentServing(id, serviceTime string) (stop func()) {
	e.t.Helper()
	nc := brokertest.Connect(e.t, e.srv)
	node, err := omq.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.ID = id
	cfg.Grace = 10 * time.Second
	cfg.NATSURL = e.srv.ClientURL()
	cfg.Services = map[string]agent.ServiceCommand{
		"work": {Command: []string{serviceBin, "work", "--service-time", serviceTime, "--concurrency", "1"}},
	}
	a, err := agent.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := a.Bind(context.Background(), node); err != nil {
		e.t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		nc.Close()
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) supervisor(svc provisioner.Service) *provisioner.Supervisor {
	e.t.Helper()
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = 500*time.Millisecond, 150*time.Millisecond, time.Second
	sup, err := provisioner.New(e.node, agent.NewClient(e.node), cfg, []provisioner.Service{svc})
	if err != nil {
		e.t.Fatal(err)
	}
	return sup
}

// perAgent counts running instances of work by agent.
func (e *env) perAgent() map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	states, _ := agent.NewClient(e.node).List(ctx, 200*time.Millisecond)
	out := map[string]int{}
	for _, st := range states {
		for _, p := range st.Processes {
			if p.Service == "work" && p.State == agent.StateRunning {
				out[st.Agent]++
			}
		}
	}
	return out
}

func (e *env) ready() int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pings, _ := e.node.PingWithin(ctx, "work", 200*time.Millisecond)
	return len(pings)
}

// rounds drives the supervisor until cond holds (or gives up).
func rounds(t *testing.T, sup *provisioner.Supervisor, cond func() bool, what string) {
	t.Helper()
	brokertest.Eventually(t, 60*time.Second, func() bool {
		sup.Round(context.Background())
		time.Sleep(200 * time.Millisecond)
		return cond()
	}, what)
}

func fixed(n int) provisioner.Service {
	return provisioner.Service{Name: "work", Limits: provisioner.Limits{Min: 0, Max: 8}, Policy: provisioner.Fixed{N: n}}
}

// Instances are spread over the agents, so that losing a host loses as
// few as possible; an agent that vanishes is noticed and its instances
// are started on the others.
func TestSupervisor_SpreadsAndReplacesALostAgent(t *testing.T) {
	e := newEnv(t)
	e.startAgent("a")
	stopB := e.startAgent("b")
	sup := e.supervisor(fixed(4))
	rounds(t, sup, func() bool {
		m := e.perAgent()
		return m["a"] == 2 && m["b"] == 2 && e.ready() == 4
	}, "two instances on each agent, all four serving")

	stopB()
	rounds(t, sup, func() bool {
		m := e.perAgent()
		return m["a"] == 4 && m["b"] == 0 && e.ready() == 4
	}, "b's instances re-created on a")
}

// A service may scale to zero, but not while calls wait in its durable
// lane: they would never be served.
func TestSupervisor_NoZeroWhileDurableCallsWait(t *testing.T) {
	e := newEnv(t)
	e.startAgent("a")
	sup := e.supervisor(fixed(0))
	sup.Round(context.Background())
	if n := e.perAgent()["a"]; n != 0 {
		t.Fatalf("%d instances with no work, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 20 {
		if err := e.node.Lookup("work").Send(ctx, "work", nil, omq.Durable()); err != nil {
			t.Fatal(err)
		}
	}
	rounds(t, sup, func() bool { return e.perAgent()["a"] == 1 }, "one instance for the durable backlog")
	rounds(t, sup, func() bool {
		b, err := e.node.DurableBacklog(ctx, "work")
		return err == nil && b == 0 && e.perAgent()["a"] == 0
	}, "the backlog served and the service back at zero")
}

// An instance that dies is replaced; one stopped by the supervisor is not
// counted as a death.
func TestSupervisor_ReplacesDeadInstance(t *testing.T) {
	e := newEnv(t)
	e.startAgent("a")
	sup := e.supervisor(fixed(2))
	rounds(t, sup, func() bool { return e.perAgent()["a"] == 2 }, "two instances")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	states, err := agent.NewClient(e.node).List(ctx, 200*time.Millisecond)
	if err != nil || len(states) != 1 {
		t.Fatalf("list: %v %v", states, err)
	}
	victim := states[0].Processes[0]
	p, err := os.FindProcess(victim.PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	rounds(t, sup, func() bool {
		states, _ := agent.NewClient(e.node).List(ctx, 200*time.Millisecond)
		running, dead := 0, false
		for _, st := range states {
			for _, p := range st.Processes {
				switch {
				case p.ID == victim.ID:
					dead = p.State == agent.StateExited && !p.Stopped
				case p.State == agent.StateRunning:
					running++
				}
			}
		}
		return dead && running == 2
	}, "the killed instance replaced")
}

// settable is a policy whose count the test sets.
type settable struct{ n atomic.Int64 }

func (p *settable) Name() string { return "settable" }
func (p *settable) Decide(context.Context, provisioner.Observation) (provisioner.Decision, error) {
	return provisioner.Decision{Desired: int(p.n.Load()), Reason: "set by the test"}, nil
}

// Scaling down stops only the surplus: instances still draining their
// calls after SIGTERM answer $SRV.STATS for a while, and must not pass for
// instances someone else started (the supervisor would then stop the
// ones it should keep).
func TestSupervisor_ScalesDownOnlyTheSurplus(t *testing.T) {
	e := newEnv(t)
	e.startAgentServing("a", "1500ms")
	pol := &settable{}
	pol.n.Store(4)
	sup := e.supervisor(provisioner.Service{Name: "work", Limits: provisioner.Limits{Min: 0, Max: 8}, Policy: pol})
	rounds(t, sup, func() bool { return e.perAgent()["a"] == 4 && e.ready() == 4 }, "four instances serving")

	// Keep every instance busy for a few seconds, so the stopped ones
	// drain while the next rounds run.
	done := make(chan *omq.Call, 16)
	for range 8 {
		e.node.Lookup("work").Go(context.Background(), "work", nil, nil, done, omq.Timeout(30*time.Second))
	}
	pol.n.Store(2)
	least := 4
	rounds(t, sup, func() bool {
		n := e.perAgent()["a"]
		least = min(least, n)
		return n == 2 && e.ready() == 2 && len(done) == 8
	}, "two instances left, the calls answered")
	if least < 2 {
		t.Fatalf("running instances fell to %d while scaling from 4 to 2", least)
	}
	for range 8 {
		if c := <-done; c.Error != nil {
			t.Errorf("call during the scale-down: %v", c.Error)
		}
	}
}

// fakeAgents are agents in name only: they list what the test says they
// run, and record spawns instead of starting anything.
type fakeAgents struct {
	mu      sync.Mutex
	states  map[string]*agent.State
	spawned []string // agent ids, one per spawn
}

func (f *fakeAgents) List(context.Context, time.Duration) ([]agent.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []agent.State
	for _, st := range f.states {
		c := *st
		c.Processes = slices.Clone(st.Processes)
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeAgents) Spawn(_ context.Context, id string, req agent.SpawnRequest) (agent.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spawned = append(f.spawned, id)
	p := agent.Process{ID: fmt.Sprintf("%s-%s-%d", req.Service, id, len(f.spawned)), Service: req.Service, Agent: id,
		State: agent.StateRunning, Started: time.Now()}
	f.states[id].Processes = append(f.states[id].Processes, p)
	return p, nil
}

func (f *fakeAgents) Stop(context.Context, string, agent.StopRequest) (agent.Process, error) {
	return agent.Process{}, errors.New("not in this test")
}

// Spawn requests name the service only, so the supervisor starts
// instances only on agents that say they run it: those with a command for
// it (their own or an approved manifest's) first, then those that would
// run dpc-service <service>; never on one that runs neither.
func TestSupervisor_SpawnsWhereTheServiceRuns(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		states []agent.State
		want   []string
	}{
		{"manifest before fallback", []agent.State{{Agent: "none"}, {Agent: "fb", Fallback: "dpc-service"},
			{Agent: "man", Manifests: []string{"work"}}, {Agent: "other", Manifests: []string{"tst"}}}, []string{"man", "man", "man"}},
		{"own command and manifest spread", []agent.State{{Agent: "own", Services: []string{"work"}}, {Agent: "man", Manifests: []string{"work"}},
			{Agent: "fb", Fallback: "dpc-service"}}, []string{"man", "own", "man"}},
		{"fallback", []agent.State{{Agent: "none", Services: []string{"tst"}}, {Agent: "fb", Fallback: "dpc-service"}}, []string{"fb", "fb", "fb"}},
		{"nobody", []agent.State{{Agent: "none", Services: []string{"tst"}, Manifests: []string{"textutil"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAgents{states: map[string]*agent.State{}}
			for _, st := range tc.states {
				fa.states[st.Agent] = &st
			}
			cfg := provisioner.DefaultConfig()
			cfg.Period, cfg.Window, cfg.AgentExpiry = 500*time.Millisecond, 50*time.Millisecond, time.Minute
			sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{fixed(3)})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				sup.Round(context.Background())
			}
			fa.mu.Lock()
			defer fa.mu.Unlock()
			slices.Sort(fa.spawned)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(fa.spawned, want) {
				t.Errorf("spawned on %v, want %v", fa.spawned, want)
			}
		})
	}
}
