package provisioner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/omq"
)

// Agents is how the supervisor reaches the hosts that run instances;
// agent.Client is the implementation over omq.
type Agents interface {
	// List returns the state of every agent that answers within window.
	List(ctx context.Context, window time.Duration) ([]agent.State, error)
	Spawn(ctx context.Context, agentID string, req agent.SpawnRequest) (agent.Process, error)
	Stop(ctx context.Context, agentID string, req agent.StopRequest) (agent.Process, error)
}

// Service is one service the supervisor keeps sized. How an instance
// starts is the agents' business: a spawn names the service only.
type Service struct {
	Name   string
	Limits Limits
	Policy Provisioner
}

// Config tunes a Supervisor.
type Config struct {
	// Period is the time between rounds: gather, decide, enforce. The
	// paper's t: long enough that a started instance shows in the next
	// round's figures, short enough to catch a flash crowd.
	Period time.Duration
	// Window is how long a round waits for agents' and instances'
	// replies.
	Window time.Duration
	// AgentExpiry is how long an agent may stay silent before its
	// instances are counted as lost and re-created elsewhere.
	AgentExpiry time.Duration
	// Grace is what agents wait after SIGTERM before SIGKILL when the
	// supervisor stops an instance; 0 leaves each agent's own default.
	Grace time.Duration
	// DryRun decides and logs but starts and stops nothing.
	DryRun  bool
	Logger  *slog.Logger
	Metrics *Metrics // optional
}

// DefaultConfig returns a period of 2 s, a window of 250 ms and an agent
// expiry of three periods.
func DefaultConfig() Config {
	return Config{Period: 2 * time.Second, Window: 250 * time.Millisecond, AgentExpiry: 6 * time.Second}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Period <= 0 {
		errs = append(errs, fmt.Errorf("provisioner: period %v: want > 0", c.Period))
	}
	if c.Window <= 0 || c.Window >= c.Period {
		errs = append(errs, fmt.Errorf("provisioner: window %v: want > 0 and shorter than the period (%v)", c.Window, c.Period))
	}
	if c.AgentExpiry < c.Period {
		errs = append(errs, fmt.Errorf("provisioner: agent expiry %v: want at least one period (%v)", c.AgentExpiry, c.Period))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("provisioner: grace %v: want ≥ 0", c.Grace))
	}
	return errors.Join(errs...)
}

// Supervisor is ObjectMQ's elasticity master: every period it gathers
// each service's figures from its instances ($SRV.STATS), the durable
// lane and the agents, asks the service's policy for a count, and makes
// it so by spawning and stopping instances through the agents. Instances
// that die are replaced, since the count falls below the decision; so are
// those of an agent that vanishes.
type Supervisor struct {
	node     *omq.Node
	agents   Agents
	cfg      Config
	log      *slog.Logger
	services []*serviceState

	// Agents' last known states, by agent ID: an agent that misses a
	// round keeps its instances counted until it expires.
	known map[string]*agentSeen

	stopping sync.WaitGroup
}

type agentSeen struct {
	state    agent.State
	lastSeen time.Time
	gone     bool // reported as vanished
}

type serviceState struct {
	Service
	sampler   *sampler
	lastRound time.Time
	// Processes asked to stop (by ID), not to be picked again while the
	// agent has not yet listed them as stopping.
	stopAsked map[string]time.Time
	// Exits already reported, so that each death is logged once.
	reported map[string]bool
}

// New returns a supervisor for services. node is its connection to the
// hub; agents reaches the hosts.
func New(node *omq.Node, agents Agents, cfg Config, services []Service) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	s := &Supervisor{node: node, agents: agents, cfg: cfg, log: cfg.Logger, known: map[string]*agentSeen{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for i, svc := range services {
		switch {
		case svc.Name == "":
			errs = append(errs, fmt.Errorf("provisioner: service %d: no name", i+1))
		case seen[svc.Name]:
			errs = append(errs, fmt.Errorf("provisioner: service %q: given twice", svc.Name))
		case svc.Policy == nil:
			errs = append(errs, fmt.Errorf("provisioner: service %q: no policy", svc.Name))
		case svc.Limits.Min < 0 || svc.Limits.Max < svc.Limits.Min || svc.Limits.Max == 0:
			errs = append(errs, fmt.Errorf("provisioner: service %q: limits min %d, max %d: want 0 ≤ min ≤ max, max ≥ 1", svc.Name, svc.Limits.Min, svc.Limits.Max))
		}
		seen[svc.Name] = true
		s.services = append(s.services, &serviceState{Service: svc, sampler: newSampler(),
			stopAsked: map[string]time.Time{}, reported: map[string]bool{}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Run supervises until ctx ends, one round per period, then waits for the
// stops it asked for.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.stopping.Wait()
	t := time.NewTicker(s.cfg.Period)
	defer t.Stop()
	for {
		s.Round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round is one supervision round: gather, decide, enforce, for every
// service. Run calls it every period; tests call it to drive rounds
// themselves.
func (s *Supervisor) Round(ctx context.Context) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Period)
	defer cancel()
	// Every reply waits out a window, so the agents and all services are
	// asked at once: a round costs one window, not one per service.
	figs := make([]gathered, len(s.services))
	var wg sync.WaitGroup
	wg.Go(func() { s.refreshAgents(ctx, start) })
	for i, svc := range s.services {
		wg.Go(func() { figs[i] = s.gather(ctx, svc) })
	}
	wg.Wait()
	for i, svc := range s.services {
		if ctx.Err() != nil {
			break
		}
		s.superviseService(ctx, svc, figs[i])
	}
	if m := s.cfg.Metrics; m != nil {
		m.rounds.Observe(time.Since(start).Seconds())
	}
}

func (s *Supervisor) refreshAgents(ctx context.Context, now time.Time) {
	states, err := s.agents.List(ctx, s.cfg.Window)
	if err != nil && len(states) == 0 {
		s.log.Warn("no answer from agents", "err", err)
	}
	for _, st := range states {
		a, ok := s.known[st.Agent]
		if !ok {
			s.log.Info("agent joined", "agent", st.Agent, "host", st.Host, "services", st.Services, "manifests", st.Manifests,
				"fallback", st.Fallback, "processes", len(st.Processes))
			a = &agentSeen{}
			s.known[st.Agent] = a
		} else if a.gone {
			s.log.Info("agent is back", "agent", st.Agent, "host", st.Host, "processes", len(st.Processes))
		}
		a.state, a.lastSeen, a.gone = st, now, false
	}
	live, gone := 0, 0
	for id, a := range s.known {
		switch {
		case a.gone:
			gone++
		case now.Sub(a.lastSeen) > s.cfg.AgentExpiry:
			a.gone = true
			gone++
			n := 0
			for _, p := range a.state.Processes {
				if p.State == agent.StateRunning {
					n++
					if svc := s.service(p.Service); svc != nil {
						s.metricDeath(svc.Name, "agent_vanished")
					}
				}
			}
			s.log.Warn("agent vanished; its instances will be re-created elsewhere",
				"agent", id, "silent_for", now.Sub(a.lastSeen).Round(time.Millisecond), "instances", n)
		default:
			live++
		}
	}
	if m := s.cfg.Metrics; m != nil {
		m.agents.WithLabelValues("live").Set(float64(live))
		m.agents.WithLabelValues("vanished").Set(float64(gone))
	}
}

func (s *Supervisor) service(name string) *serviceState {
	for _, svc := range s.services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}

// managed is one running instance an agent started.
type managed struct {
	agent string
	proc  agent.Process
}

// gathered is what one round read of one service.
type gathered struct {
	at      time.Time
	stats   []omq.Stats
	durable int64
}

func (s *Supervisor) gather(ctx context.Context, svc *serviceState) gathered {
	var g gathered
	var err error
	if g.durable, err = s.node.DurableBacklog(ctx, svc.Name); err != nil {
		s.log.Debug("durable backlog", "service", svc.Name, "err", err)
	}
	if g.stats, err = s.node.StatsWithin(ctx, svc.Name, s.cfg.Window); err != nil {
		s.log.Debug("stats", "service", svc.Name, "err", err)
	}
	g.at = time.Now()
	return g
}

func (s *Supervisor) superviseService(ctx context.Context, svc *serviceState, g gathered) {
	now, stats := g.at, g.stats
	obs := svc.sampler.observe(now, svc.lastRound, stats)
	if !svc.lastRound.IsZero() {
		obs.Period = now.Sub(svc.lastRound)
	}
	svc.lastRound = now
	obs.Service, obs.Now, obs.Limits, obs.Durable = svc.Name, now, svc.Limits, g.durable

	running, listed := s.running(svc, now)
	// Unmanaged: answering $SRV but started by no agent we know. An
	// instance being stopped still answers while it drains; it is an
	// agent's (listed), not a stranger to size around.
	unmanaged := 0
	for _, st := range stats {
		if !listed[st.ID] {
			unmanaged++
		}
	}
	obs.Current = len(running) + unmanaged

	var dec Decision
	var err error
	if obs.Period == 0 {
		// The first round only sets the baselines of the rates; hold
		// what runs, within the limits.
		dec = Decision{Desired: obs.Current, Reason: "first round: measuring"}
	} else if dec, err = svc.Policy.Decide(ctx, obs); err != nil {
		dec = Decision{Desired: obs.Current, Reason: "policy failed, holding: " + err.Error()}
	}
	desired, why := clamp(dec.Desired, svc.Limits, obs.Durable)

	action := "hold"
	switch {
	case desired > obs.Current:
		action = "up"
	case desired < obs.Current:
		action = "down"
	}
	attrs := []any{"service", svc.Name, "policy", svc.Policy.Name(), "action", action,
		"current", obs.Current, "ready", obs.Ready, "desired", desired, "proposed", dec.Desired,
		"reason", dec.Reason + why,
		"lambda", round2(obs.Lambda), "service_time_ms", round2(obs.ServiceTime.Mean * 1000),
		"queue_wait_p90_ms", round2(obs.QueueWait.P90.Seconds() * 1000), "backlog", obs.Backlog, "durable", obs.Durable}
	if unmanaged > 0 {
		attrs = append(attrs, "unmanaged", unmanaged)
	}
	s.log.Info("decision", attrs...)
	s.record(svc, obs, dec, desired, action)

	// Instances the supervisor cannot stop (started by hand) count
	// towards the decision; it sizes the ones it manages around them.
	want := max(desired-unmanaged, 0)
	switch {
	case s.cfg.DryRun:
	case want > len(running):
		s.spawn(ctx, svc, want-len(running), running)
	case want < len(running):
		s.stop(ctx, svc, len(running)-want, running)
	}
}

// clamp applies the limits, and keeps at least one instance while calls
// wait in the durable lane: a service scaled to zero would never drain it.
func clamp(n int, l Limits, durable int64) (int, string) {
	var why string
	switch {
	case n < l.Min:
		n, why = l.Min, fmt.Sprintf("; raised to min %d", l.Min)
	case n > l.Max:
		n, why = l.Max, fmt.Sprintf("; capped at max %d", l.Max)
	}
	if n == 0 && durable > 0 {
		n, why = 1, fmt.Sprintf("; kept at 1: %d calls wait in the durable lane", durable)
	}
	return n, why
}

// running lists svc's instances that count: running on agents that have
// not vanished, and not already asked to stop; listed holds every
// instance of svc those agents list, in any state. It reports deaths once.
func (s *Supervisor) running(svc *serviceState, now time.Time) (out []managed, listed map[string]bool) {
	listed = map[string]bool{}
	for id, a := range s.known {
		if a.gone {
			continue
		}
		for _, p := range a.state.Processes {
			if p.Service != svc.Name {
				continue
			}
			listed[p.ID] = true
			switch {
			case p.State == agent.StateExited:
				if !p.Stopped && !svc.reported[p.ID] {
					svc.reported[p.ID] = true
					s.metricDeath(svc.Name, "exited")
					s.log.Warn("instance died; replacing it", "service", svc.Name, "instance", p.ID, "agent", id,
						"exit_code", p.ExitCode, "error", p.Error)
				}
			case p.State == agent.StateRunning:
				if _, asked := svc.stopAsked[p.ID]; !asked {
					out = append(out, managed{agent: id, proc: p})
				}
			}
		}
	}
	// Forget stop requests once the agent no longer lists the process,
	// or after a while in case the request was lost.
	for id, at := range svc.stopAsked {
		if !listed[id] || now.Sub(at) > 2*s.cfg.AgentExpiry {
			delete(svc.stopAsked, id)
		}
	}
	for id := range svc.reported {
		if !listed[id] {
			delete(svc.reported, id)
		}
	}
	// Stop requests in flight: the agent may not list them as stopping
	// yet.
	for id := range svc.stopAsked {
		listed[id] = true
	}
	return out, listed
}

// spawn starts n instances on the live agents that run the service, each
// on the one with the fewest instances of the service (then the fewest in
// all), so that losing one host loses as few as possible. Agents with a
// command for the service (their own or an approved manifest's) go
// before those that would only fall back to dpc-service <service>.
func (s *Supervisor) spawn(ctx context.Context, svc *serviceState, n int, running []managed) {
	type load struct {
		id        string
		fallback  int // 1: the agent has only its fallback for the service
		mine, all int
	}
	var agents []*load
	for id, a := range s.known {
		if a.gone || !a.state.Runs(svc.Name) {
			continue
		}
		l := &load{id: id}
		if !a.state.Names(svc.Name) {
			l.fallback = 1
		}
		for _, p := range a.state.Processes {
			if p.State != agent.StateExited {
				l.all++
			}
		}
		for _, r := range running {
			if r.agent == id {
				l.mine++
			}
		}
		agents = append(agents, l)
	}
	if len(agents) == 0 {
		s.log.Warn("cannot start instances: no live agent can run the service", "service", svc.Name, "wanted", n,
			"hint", "install the service's manifest (with a command) in an agent's --manifests directory, give the agent a command for it in its config, or allow dpc-service on an agent")
		return
	}
	started := 0
	failed := map[string]bool{}
	for started < n {
		var best *load
		for _, l := range agents {
			if failed[l.id] {
				continue
			}
			if best == nil || cmp.Or(cmp.Compare(l.fallback, best.fallback), cmp.Compare(l.mine, best.mine),
				cmp.Compare(l.all, best.all), cmp.Compare(l.id, best.id)) < 0 {
				best = l
			}
		}
		if best == nil {
			break
		}
		p, err := s.agents.Spawn(ctx, best.id, agent.SpawnRequest{Service: svc.Name})
		if err != nil {
			failed[best.id] = true
			s.metricSpawn(svc.Name, best.id, "error")
			s.log.Error("spawn failed", "service", svc.Name, "agent", best.id, "err", err)
			continue
		}
		best.mine++
		best.all++
		started++
		s.metricSpawn(svc.Name, best.id, "ok")
		s.log.Info("spawned", "service", svc.Name, "agent", best.id, "instance", p.ID, "pid", p.PID)
		// Count it until the next list shows it, so a second service's
		// spawns in this round spread too.
		if a := s.known[best.id]; a != nil {
			a.state.Processes = append(a.state.Processes, p)
		}
	}
}

// stop stops n instances: from the agents with the most instances of the
// service, newest first (the oldest have warm caches and proven health).
// Stops run in the background; an agent's grace period can be long.
func (s *Supervisor) stop(ctx context.Context, svc *serviceState, n int, running []managed) {
	perAgent := map[string]int{}
	for _, r := range running {
		perAgent[r.agent]++
	}
	cands := slices.Clone(running)
	for range min(n, len(cands)) {
		i := 0
		for j, c := range cands {
			b := cands[i]
			if perAgent[c.agent] > perAgent[b.agent] ||
				(perAgent[c.agent] == perAgent[b.agent] && c.proc.Started.After(b.proc.Started)) {
				i = j
			}
		}
		c := cands[i]
		cands = slices.Delete(cands, i, i+1)
		perAgent[c.agent]--
		svc.stopAsked[c.proc.ID] = time.Now()
		s.log.Info("stopping", "service", svc.Name, "agent", c.agent, "instance", c.proc.ID, "pid", c.proc.PID)
		s.stopping.Add(1)
		go func() {
			defer s.stopping.Done()
			// Its own deadline: the round's context ends with the round.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Grace+30*time.Second)
			defer cancel()
			_, err := s.agents.Stop(sctx, c.agent, agent.StopRequest{ID: c.proc.ID, GraceMS: s.cfg.Grace.Milliseconds()})
			result := "ok"
			if err != nil {
				result = "error"
				s.log.Error("stop failed", "service", svc.Name, "agent", c.agent, "instance", c.proc.ID, "err", err)
			}
			if m := s.cfg.Metrics; m != nil {
				m.stops.WithLabelValues(svc.Name, c.agent, result).Inc()
			}
		}()
	}
}

func (s *Supervisor) record(svc *serviceState, obs Observation, dec Decision, desired int, action string) {
	m := s.cfg.Metrics
	if m == nil {
		return
	}
	n := svc.Name
	m.instances.WithLabelValues(n, "desired").Set(float64(desired))
	m.instances.WithLabelValues(n, "current").Set(float64(obs.Current))
	m.instances.WithLabelValues(n, "ready").Set(float64(obs.Ready))
	m.proposed.WithLabelValues(n, svc.Policy.Name()).Set(float64(dec.Desired))
	m.lambda.WithLabelValues(n).Set(obs.Lambda)
	m.service.WithLabelValues(n).Set(obs.ServiceTime.Mean)
	m.queueWait.WithLabelValues(n, "0.5").Set(obs.QueueWait.P50.Seconds())
	m.queueWait.WithLabelValues(n, "0.9").Set(obs.QueueWait.P90.Seconds())
	m.queueWait.WithLabelValues(n, "0.99").Set(obs.QueueWait.P99.Seconds())
	m.backlog.WithLabelValues(n, "core").Set(float64(obs.Backlog))
	m.backlog.WithLabelValues(n, "durable").Set(float64(obs.Durable))
	m.decisions.WithLabelValues(n, svc.Policy.Name(), action).Inc()
}

func (s *Supervisor) metricSpawn(service, agentID, result string) {
	if m := s.cfg.Metrics; m != nil {
		m.spawns.WithLabelValues(service, agentID, result).Inc()
	}
}

func (s *Supervisor) metricDeath(service, cause string) {
	if m := s.cfg.Metrics; m != nil {
		m.deaths.WithLabelValues(service, cause).Inc()
	}
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
