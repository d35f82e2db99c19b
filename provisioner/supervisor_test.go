package provisioner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
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
	return e.startAgentRunning(id, serviceBin, "work", "--service-time", serviceTime, "--concurrency", "1")
}

// startAgentRunning is startAgent with command for work.
func (e *env) startAgentRunning(id string, command ...string) (stop func()) {
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
		"work": {Command: command},
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
	return e.observed(svc, nil).sup
}

// watched is a supervisor whose metrics and log the test reads.
type watched struct {
	sup  *provisioner.Supervisor
	reg  *prometheus.Registry
	logs *proctest.Buffer
}

// observed is supervisor with its metrics and JSON log kept, and the
// config changed by change (if not nil).
func (e *env) observed(svc provisioner.Service, change func(*provisioner.Config)) *watched {
	e.t.Helper()
	w := &watched{reg: prometheus.NewRegistry(), logs: &proctest.Buffer{}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = 500*time.Millisecond, 150*time.Millisecond, time.Second
	cfg.Metrics = provisioner.NewMetrics(w.reg)
	cfg.Logger = slog.New(slog.NewJSONHandler(w.logs, nil))
	if change != nil {
		change(&cfg)
	}
	sup, err := provisioner.New(e.node, agent.NewClient(e.node), cfg, []provisioner.Service{svc})
	if err != nil {
		e.t.Fatal(err)
	}
	w.sup = sup
	return w
}

// metric is the sum of the samples of the metric name whose labels
// include labels (name, value, …); 0 if there are none.
func (w *watched) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if v, ok := have[labels[i]]; !ok || v != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// logged counts the log lines whose msg is msg.
func (w *watched) logged(msg string) int {
	n := 0
	for line := range strings.Lines(w.logs.String()) {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			n++
		}
	}
	return n
}

// perAgent counts running instances of work by agent.
func (e *env) perAgent() map[string]int {
	// Short: an agent that never answers list costs each call this long.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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
	roundsWithin(t, 60*time.Second, sup, cond, what)
}

// roundsWithin is rounds giving up after timeout.
func roundsWithin(t *testing.T, timeout time.Duration, sup *provisioner.Supervisor, cond func() bool, what string) {
	t.Helper()
	brokertest.Eventually(t, timeout, func() bool {
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
	stopped []string // process ids, one per stop
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

// Stop marks the process exited, stopped on request.
func (f *fakeAgents) Stop(_ context.Context, id string, req agent.StopRequest) (agent.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[id]
	if st == nil {
		return agent.Process{}, errors.New("no such agent")
	}
	for i, p := range st.Processes {
		if p.ID == req.ID {
			f.stopped = append(f.stopped, p.ID)
			st.Processes[i].State, st.Processes[i].Stopped = agent.StateExited, true
			return st.Processes[i], nil
		}
	}
	return agent.Process{}, errors.New("no such process")
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

// One agent that answers $SRV.PING but never list (a busy agent, or
// anyone bound as one) costs the round its own reply only: the others
// are listed and the service is sized as if it were not there. It is
// logged once, not every round, and counted as silent.
func TestSupervisor_SilentAgentCostsOnlyItsReply(t *testing.T) {
	e := newEnv(t)
	e.startAgent("a")
	busyNode, err := omq.New(brokertest.Connect(t, e.srv))
	if err != nil {
		t.Fatal(err)
	}
	stuck := omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
		<-ctx.Done() // the caller's deadline
		return nil, ctx.Err()
	})
	inst, err := busyNode.Bind(context.Background(), agent.ServiceName,
		omq.Handlers{agent.FnList: stuck, agent.FnSpawn: stuck, agent.FnStop: stuck}, omq.InstanceID("busy"), omq.NoDurable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Unbind(context.Background()) })

	w := e.observed(fixed(2), nil)
	roundsWithin(t, 30*time.Second, w.sup, func() bool { return e.ready() == 2 }, "two instances serving while busy never answers list")
	for range 3 {
		w.sup.Round(context.Background())
	}
	if m := e.perAgent(); m["a"] != 2 || len(m) != 1 {
		t.Errorf("instances per agent %v, want two on a", m)
	}
	if n := w.logged("agent answers $SRV.PING but not list; supervising without it"); n != 1 {
		t.Errorf("the silent agent logged %d times, want once", n)
	}
	if n := w.metric(t, "dpc_provisioner_agents", "state", "silent"); n != 1 {
		t.Errorf("agents{state=silent} = %v, want 1", n)
	}
	if n := w.metric(t, "dpc_provisioner_agents", "state", "live"); n != 1 {
		t.Errorf("agents{state=live} = %v, want 1 (a)", n)
	}
}

// A process whose command binds with an instance id of its own (not
// DPC_INSTANCE_ID) never shows under the id its agent gave it; its
// instance answers $SRV as one no agent lists. The supervisor counts the
// two once: it neither stops the process as a surplus nor starts
// another, and it reports the process once after the start timeout.
func TestSupervisor_ProcessOutsideSRVCountedOnce(t *testing.T) {
	e := newEnv(t)
	// --instance-id= overrides DPC_INSTANCE_ID: dpc-service takes a random id.
	e.startAgentRunning("a", serviceBin, "work", "--instance-id=", "--service-time", "1ms", "--concurrency", "1")
	w := e.observed(fixed(1), func(c *provisioner.Config) { c.StartTimeout = 2 * time.Second })
	const absent = "process never appeared in $SRV under its instance id"
	check := func() {
		t.Helper()
		if n := w.metric(t, "dpc_provisioner_decisions_total", "action", "down"); n != 0 {
			t.Fatalf("the supervisor scaled down %v times: it counted the process twice\n%s", n, w.logs)
		}
		if n := w.metric(t, "dpc_provisioner_spawns_total", "result", "ok"); n > 1 {
			t.Fatalf("%v spawns, want one\n%s", n, w.logs)
		}
	}
	roundsWithin(t, 30*time.Second, w.sup, func() bool {
		check()
		return w.logged(absent) == 1
	}, "the process reported as absent from $SRV")
	if n := w.metric(t, "dpc_provisioner_absent_instances_total", "service", "work"); n != 1 {
		t.Errorf("absent_instances_total = %v, want 1", n)
	}
	for range 3 {
		w.sup.Round(context.Background())
		check()
	}
	if n := w.logged(absent); n != 1 {
		t.Errorf("reported %d times, want once", n)
	}
	if cur, ab := w.metric(t, "dpc_provisioner_instances", "state", "current"), w.metric(t, "dpc_provisioner_instances", "state", "absent"); cur != 1 || ab != 1 {
		t.Errorf("instances current %v, absent %v; want 1 and 1", cur, ab)
	}
	if n := e.perAgent()["a"]; n != 1 {
		t.Errorf("%d processes on a, want 1", n)
	}
}

// An instance that drains after a stop is not ready capacity, whether it
// still answers $SRV.STATS (omq today) or no longer does while its agent
// lists it as stopping; either way the supervisor neither starts a
// replacement nor stops another.
func TestSupervisor_DrainingIsNotCapacity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bind := func(id string) *omq.Instance {
		n, err := omq.New(brokertest.Connect(t, e.srv))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := n.Bind(ctx, "work", omq.Handlers{"work": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil })},
			omq.InstanceID(id), omq.NoDurable())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = inst.Unbind(ctx) })
		return inst
	}
	started := time.Now()
	bind("work-a-1")
	draining := bind("work-a-2")
	fa := &fakeAgents{states: map[string]*agent.State{"a": {Agent: "a", Services: []string{"work"}, Processes: []agent.Process{
		{ID: "work-a-1", Service: "work", Agent: "a", State: agent.StateRunning, Started: started},
		{ID: "work-a-2", Service: "work", Agent: "a", State: agent.StateStopping, Started: started, Stopped: true},
	}}}}
	w := &watched{reg: prometheus.NewRegistry(), logs: &proctest.Buffer{}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = 500*time.Millisecond, 150*time.Millisecond, time.Minute
	cfg.Metrics, cfg.Logger = provisioner.NewMetrics(w.reg), slog.New(slog.NewJSONHandler(w.logs, nil))
	sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{fixed(1)})
	if err != nil {
		t.Fatal(err)
	}
	steady := func(what string) {
		t.Helper()
		for range 3 {
			sup.Round(ctx)
		}
		if cur, ready := w.metric(t, "dpc_provisioner_instances", "state", "current"), w.metric(t, "dpc_provisioner_instances", "state", "ready"); cur != 1 || ready != 1 {
			t.Errorf("%s: current %v, ready %v; want 1 and 1", what, cur, ready)
		}
		fa.mu.Lock()
		defer fa.mu.Unlock()
		if len(fa.spawned) != 0 || w.metric(t, "dpc_provisioner_decisions_total", "action", "down") != 0 {
			t.Fatalf("%s: spawned on %v, or scaled down\n%s", what, fa.spawned, w.logs)
		}
	}
	steady("draining and answering $SRV")
	if err := draining.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		st, _ := e.node.StatsWithin(ctx, "work", 100*time.Millisecond)
		return len(st) == 1
	}, "the draining instance gone from $SRV")
	steady("stopping, gone from $SRV")
	fa.mu.Lock()
	p := &fa.states["a"].Processes[1]
	p.State = agent.StateExited
	fa.mu.Unlock()
	steady("exited after its stop")
}

// Two supervisors share the lease in the history bucket: while one holds
// it, the other decides nothing and starts nothing (it would want
// another instance); when the holder stops renewing, the other takes over
// and sizes the service its way; the first, back, stands by.
func TestSupervisor_LeaseOneActsTheOtherStandsBy(t *testing.T) {
	e := newEnv(t)
	e.startAgent("a")
	js, err := jetstream.New(brokertest.Connect(t, e.srv))
	if err != nil {
		t.Fatal(err)
	}
	const expiry, period = 1500 * time.Millisecond, 500 * time.Millisecond
	withLease := func(holder string) func(*provisioner.Config) {
		return func(c *provisioner.Config) { c.Lease = newLease(t, js, holder, expiry, period) }
	}
	a := e.observed(fixed(1), withLease("A"))
	b := e.observed(fixed(2), withLease("B"))
	rounds(t, a.sup, func() bool { return e.perAgent()["a"] == 1 && e.ready() == 1 }, "A's one instance")

	// Longer than the expiry, both running rounds: B stays standby.
	ctx := context.Background()
	for start := time.Now(); time.Since(start) < expiry+time.Second; {
		a.sup.Round(ctx)
		b.sup.Round(ctx)
		if b.metric(t, "dpc_provisioner_active") != 0 || b.metric(t, "dpc_provisioner_decisions_total") != 0 || a.metric(t, "dpc_provisioner_active") != 1 {
			t.Fatalf("B acted while A renewed the lease\nA:\n%s\nB:\n%s", a.logs, b.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := b.logged("standby: another provisioner holds the lease"); n != 1 {
		t.Errorf("B logged standing by %d times, want once", n)
	}

	// A stops renewing (hung, or killed without releasing).
	rounds(t, b.sup, func() bool { return e.perAgent()["a"] == 2 }, "B takes over and starts its second instance")
	if b.metric(t, "dpc_provisioner_active") != 1 || b.logged("active: this provisioner holds the lease and supervises") != 1 {
		t.Errorf("B active %v\n%s", b.metric(t, "dpc_provisioner_active"), b.logs)
	}
	decided := a.metric(t, "dpc_provisioner_decisions_total")
	for range 3 {
		a.sup.Round(ctx)
		b.sup.Round(ctx)
	}
	if a.metric(t, "dpc_provisioner_active") != 0 || a.metric(t, "dpc_provisioner_decisions_total") != decided ||
		a.logged("standby: this provisioner no longer holds the lease and stops supervising") != 1 {
		t.Fatalf("A back: active %v, decisions %v → %v\n%s", a.metric(t, "dpc_provisioner_active"), decided,
			a.metric(t, "dpc_provisioner_decisions_total"), a.logs)
	}
	if n := e.perAgent()["a"]; n != 2 {
		t.Errorf("%d instances after A came back, want B's 2", n)
	}
}

// A service's down window holds its count against a policy that proposes
// fewer (noise, to the supervisor), while a rise acts in the same round.
// Idle still scales a quiet min-0 service to zero through it.
func TestSupervisor_DownWindowHoldsTheCount(t *testing.T) {
	e := newEnv(t)
	fa := &fakeAgents{states: map[string]*agent.State{"a": {Agent: "a", Services: []string{"work"}}}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = time.Second, 50*time.Millisecond, time.Minute
	pol := &settable{}
	pol.n.Store(3)
	svc := provisioner.Service{Name: "work", Limits: provisioner.Limits{Min: 1, Max: 8}, Policy: pol, DownWindow: time.Hour}
	sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sup.Round(ctx) // measures: raised to min 1
	sup.Round(ctx)
	if spawned, _ := fa.counts(); spawned != 3 {
		t.Fatalf("%d spawns after the policy asked for 3, want 3", spawned)
	}
	pol.n.Store(2)
	for range 3 {
		sup.Round(ctx)
	}
	if _, stopped := fa.counts(); stopped != 0 {
		t.Fatalf("%d stops within the down window, want 0", stopped)
	}
	pol.n.Store(5)
	sup.Round(ctx)
	if spawned, _ := fa.counts(); spawned != 5 {
		t.Fatalf("%d spawns one round after the policy asked for 5, want 5", spawned)
	}
}

// Idle overrides the down window: a min-0 service without calls for its
// idle time is scaled to zero though the window holds an instance.
func TestSupervisor_IdleOverridesDownWindow(t *testing.T) {
	e := newEnv(t)
	fa := &fakeAgents{states: map[string]*agent.State{"a": {Agent: "a", Services: []string{"work"}}}}
	cfg := provisioner.DefaultConfig()
	cfg.Period, cfg.Window, cfg.AgentExpiry = time.Second, 50*time.Millisecond, time.Minute
	svc := provisioner.Service{Name: "work", Limits: provisioner.Limits{Min: 0, Max: 3}, Policy: provisioner.Fixed{N: 0},
		Idle: 500 * time.Millisecond, DownWindow: time.Hour}
	sup, err := provisioner.New(e.node, fa, cfg, []provisioner.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sup.Round(ctx)
	if !sup.Wake(ctx, "work") {
		t.Fatal("the wake started nothing")
	}
	brokertest.Eventually(t, 20*time.Second, func() bool {
		sup.Round(ctx)
		_, stopped := fa.counts()
		return stopped == 1
	}, "the idle instance stopped")
}
