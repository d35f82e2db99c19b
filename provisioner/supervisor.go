package provisioner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// Agents is how the supervisor reaches the hosts that run instances;
// agent.Client is the implementation over omq.
type Agents interface {
	// List returns the state of every agent found by a $SRV.PING
	// gathered for window that answers list by ctx's deadline. Agents
	// found that did not answer are named by an *agent.ListError, with
	// the states of those that did.
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
	// Idle, with Limits.Min 0, is how long the service may handle no
	// calls before its instances are stopped (scaled to zero), whatever
	// its policy proposes; until then it keeps at least one. 0 leaves
	// the count to the policy, which may scale to zero in the first
	// quiet period. ServiceFromScaling sets DefaultIdle for min 0.
	Idle time.Duration
	// DownWindow is the scale-down stabilisation of the Kubernetes HPA,
	// applied to whatever the policy proposes (after the limits): the
	// count goes down only as far as the highest proposal of the last
	// DownWindow, while a rise acts at once. A steady rate whose noise
	// crosses the boundary between two counts then holds the higher
	// instead of starting and stopping an instance every period. 0: none.
	// ServiceFromScaling sets DefaultDownWindow for every policy but
	// target-tracking, which has a window of its own.
	DownWindow time.Duration
}

// Config tunes a Supervisor.
type Config struct {
	// Period is the time between rounds: gather, decide, enforce. The
	// paper's t: long enough that a started instance shows in the next
	// round's figures, short enough to catch a flash crowd.
	Period time.Duration
	// Window is how long a round gathers $SRV replies (agents' and
	// instances'). Each agent found then has as long again (at most
	// half of what is left of the period) to answer list: one that does
	// not is supervised without, and costs the round only that wait.
	Window time.Duration
	// AgentExpiry is how long an agent may stay silent before its
	// instances are counted as lost and re-created elsewhere.
	AgentExpiry time.Duration
	// Grace is what agents wait after SIGTERM before SIGKILL when the
	// supervisor stops an instance; 0 leaves each agent's own default.
	Grace time.Duration
	// StartTimeout is how long a process an agent started may take to
	// appear in $SRV under its instance id. Until then it counts as
	// starting; one that has not appeared by then is reported once. An
	// instance no agent lists that appeared after such a process started
	// is taken for it, so the two are counted once.
	StartTimeout time.Duration
	// Lease, if set, makes the supervisor act only while it holds it:
	// without it, the rounds of a standby do nothing but try for the
	// lease. Nil: the supervisor acts alone.
	Lease Lease
	// DryRun decides and logs but starts and stops nothing.
	DryRun  bool
	Logger  *slog.Logger
	Metrics *Metrics // optional
}

// DefaultConfig returns a period of 2 s, a window of 250 ms, an agent
// expiry of three periods and a start timeout of 30 s.
func DefaultConfig() Config {
	return Config{Period: 2 * time.Second, Window: 250 * time.Millisecond, AgentExpiry: 6 * time.Second, StartTimeout: 30 * time.Second}
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
	if c.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("provisioner: start timeout %v: want > 0", c.StartTimeout))
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

	// mu guards what follows, and every serviceState's mutable fields:
	// a round holds it to decide and enforce, not while it gathers, so
	// that a wake is handled within milliseconds whenever it comes.
	mu sync.Mutex
	// Agents' last known states, by agent ID: an agent that misses a
	// round keeps its instances counted until it expires.
	known map[string]*agentSeen
	// Agents that answered list in this round: the only ones spawned on.
	answered map[string]bool
	// Agents that answered $SRV.PING but not list, since when: each is
	// logged once, not every round.
	silent map[string]time.Time
	// Agents whose spawn timed out in this round: not asked again in it.
	hung map[string]bool

	role         string // roleActive or roleStandby, "" before the first round
	leaseHolder  string // the holder last seen while standing by
	leaseFailing bool   // the last Hold failed (logged once)

	stopping sync.WaitGroup
}

const (
	roleActive  = "active"
	roleStandby = "standby"
)

type agentSeen struct {
	state    agent.State
	lastSeen time.Time
	gone     bool // reported as vanished
}

type serviceState struct {
	Service
	sampler   *sampler
	lastRound time.Time
	// lastBusy is the last round that saw calls (or a wake); zero: none
	// since the supervisor started, or took over.
	lastBusy time.Time
	// wakes heard since the last round; wakeRetry: a spawn for a wake
	// failed, none is tried again before it.
	wakes     int
	wakeRetry time.Time
	// wakePending: a wake is queued for the supervising goroutine; more
	// wakes until it is handled coalesce into it.
	wakePending atomic.Bool
	// Processes asked to stop (by ID), not to be picked again while the
	// agent has not yet listed them as stopping.
	stopAsked map[string]time.Time
	// Exits already reported, so that each death is logged once.
	reported map[string]bool
	// Running processes of agents, by ID: whether each has appeared in
	// $SRV under its instance id.
	procs map[string]*procSeen
	// stable holds the proposals of the last DownWindow.
	stable stabilizer
}

type procSeen struct {
	first    time.Time // the supervisor's clock when it first knew the process
	seen     bool      // has answered $SRV.STATS under its instance id
	reported bool      // reported as absent
}

// New returns a supervisor for services. node is its connection to the
// hub; agents reaches the hosts.
func New(node *omq.Node, agents Agents, cfg Config, services []Service) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	s := &Supervisor{node: node, agents: agents, cfg: cfg, log: cfg.Logger, known: map[string]*agentSeen{},
		answered: map[string]bool{}, silent: map[string]time.Time{}, hung: map[string]bool{}}
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
		case svc.DownWindow < 0:
			errs = append(errs, fmt.Errorf("provisioner: service %q: down window %v: want ≥ 0", svc.Name, svc.DownWindow))
		}
		seen[svc.Name] = true
		s.services = append(s.services, &serviceState{Service: svc, sampler: newSampler(),
			stopAsked: map[string]time.Time{}, reported: map[string]bool{}, procs: map[string]*procSeen{}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Run supervises until ctx ends, one round per period, then releases the
// lease, if it holds one, and waits for the stops it asked for. Between
// rounds it handles the wakes of the services it supervises (see Wake).
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.stopping.Wait()
	// One slot per service: a service's wakes coalesce while one waits,
	// so the channel never fills and a flood of wakes costs nothing but
	// the callback's map lookup.
	wakes := make(chan *serviceState, len(s.services))
	subject := s.node.WakeSubject("*")
	sub, err := s.node.Conn().Subscribe(subject, func(m *nats.Msg) {
		svc := s.service(strings.TrimPrefix(m.Subject, strings.TrimSuffix(subject, "*")))
		if svc != nil && svc.wakePending.CompareAndSwap(false, true) {
			wakes <- svc
		}
	})
	if err != nil {
		s.log.Warn("cannot hear wakes: services scaled to zero start only at the next round", "subject", subject, "err", err)
	} else {
		defer func() { _ = sub.Unsubscribe() }()
	}
	var waking sync.WaitGroup
	defer waking.Wait()
	waking.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case svc := <-wakes:
				svc.wakePending.Store(false)
				s.Wake(ctx, svc.Name)
			}
		}
	})
	t := time.NewTicker(s.cfg.Period)
	defer t.Stop()
	for {
		s.Round(ctx)
		select {
		case <-ctx.Done():
			s.release(ctx)
			return nil
		case <-t.C:
		}
	}
}

// Wake handles one wake: a call is waiting for an instance of service.
// If the supervisor is active, supervises the service and it has no
// instance running or starting, one is started at once (not at the next
// round) on an agent; a spawn that fails is not tried again for a
// period. Every wake also counts as a call waiting in the next round's
// observation, so that the policy does not stop the instance at once.
// Wakes for other services are ignored. A round that is gathering does
// not delay it; one that is deciding does. It reports whether it started
// an instance.
func (s *Supervisor) Wake(ctx context.Context, service string) bool {
	svc := s.service(service)
	if svc == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc.wakes++
	now := time.Now()
	if s.role != roleActive || s.cfg.DryRun || now.Before(svc.wakeRetry) {
		return false
	}
	running, _ := s.running(svc, now)
	if len(running) > 0 {
		// One runs or starts: this wake waits for it. (So a wake never
		// takes a service beyond its max, which is at least 1.)
		return false
	}
	if s.spawn(ctx, svc, 1, running) == 0 {
		svc.wakeRetry = now.Add(s.cfg.Period)
		return false
	}
	s.log.Info("woken: started an instance for a waiting call", "service", svc.Name, "after", time.Since(now).Round(time.Millisecond))
	if m := s.cfg.Metrics; m != nil {
		m.wakes.WithLabelValues(svc.Name).Inc()
	}
	return true
}

// release gives up the lease, so that a standby takes over at its next
// round instead of after the expiry.
func (s *Supervisor) release(ctx context.Context) {
	if s.cfg.Lease == nil || s.role != roleActive {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.cfg.Lease.Release(rctx); err != nil {
		s.log.Warn("lease: release failed; a standby takes over after the expiry", "err", err)
		return
	}
	s.log.Info("lease released")
}

// Round is one supervision round: gather, decide, enforce, for every
// service. Run calls it every period; tests call it to drive rounds
// themselves.
func (s *Supervisor) Round(ctx context.Context) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Period)
	defer cancel()
	s.mu.Lock()
	lead := s.lead(ctx)
	if lead {
		clear(s.hung)
	}
	s.mu.Unlock()
	if !lead {
		return
	}
	// Every reply waits out a window, so the agents and all services are
	// asked at once: a round costs one window (and the agents' list
	// wait), not one per service.
	figs := make([]gathered, len(s.services))
	var wg sync.WaitGroup
	wg.Go(func() { s.refreshAgents(ctx, start) })
	for i, svc := range s.services {
		wg.Go(func() { figs[i] = s.gather(ctx, svc) })
	}
	wg.Wait()
	s.mu.Lock()
	for i, svc := range s.services {
		if ctx.Err() != nil {
			break
		}
		s.superviseService(ctx, svc, figs[i])
	}
	s.mu.Unlock()
	if m := s.cfg.Metrics; m != nil {
		m.rounds.Observe(time.Since(start).Seconds())
	}
}

// lead says whether this supervisor acts in this round: it has no lease,
// or holds it. Changes of role, and of the holder while standing by, are
// logged once.
func (s *Supervisor) lead(ctx context.Context) bool {
	l := s.cfg.Lease
	if l == nil {
		s.setRole(roleActive)
		return true
	}
	hctx, cancel := context.WithTimeout(ctx, max(s.cfg.Period/4, s.cfg.Window))
	st, err := l.Hold(hctx)
	cancel()
	switch {
	case err != nil && !s.leaseFailing:
		s.leaseFailing = true
		s.log.Warn("lease: cannot renew or read it", "err", err, "acting", st.Held)
	case err == nil && s.leaseFailing:
		s.leaseFailing = false
		s.log.Info("lease: the bucket answers again")
	}
	switch {
	case st.Held && s.role != roleActive:
		s.log.Info("active: this provisioner holds the lease and supervises", "holder", st.Holder, "was", cmp.Or(s.role, "starting"))
		s.takeOver()
	case !st.Held && s.role == roleActive:
		s.log.Warn("standby: this provisioner no longer holds the lease and stops supervising", "holder", st.Holder)
	case !st.Held && (s.role != roleStandby || st.Holder != s.leaseHolder) && st.Holder != "":
		s.log.Info("standby: another provisioner holds the lease", "holder", st.Holder)
	}
	if !st.Held {
		if st.Holder != "" {
			s.leaseHolder = st.Holder
		}
		s.setRole(roleStandby)
		return false
	}
	s.setRole(roleActive)
	return true
}

func (s *Supervisor) setRole(role string) {
	s.role = role
	switch m := s.cfg.Metrics; {
	case m == nil:
	case role == roleActive:
		m.active.Set(1)
	default:
		m.standBy()
	}
}

// takeOver forgets what an earlier spell as the active supervisor left:
// the agents' states and the instances' samples are stale, and the first
// round after it only measures again.
func (s *Supervisor) takeOver() {
	clear(s.known)
	clear(s.silent)
	for _, svc := range s.services {
		svc.sampler = newSampler()
		svc.lastRound = time.Time{}
		svc.lastBusy = time.Time{}
		svc.stable.reset()
		clear(svc.procs)
	}
}

// listWait is how long each agent found has to answer list, after the
// window that finds them: the window, but at most half of what the
// period leaves.
func (s *Supervisor) listWait() time.Duration {
	return min(s.cfg.Window, (s.cfg.Period-s.cfg.Window)/2)
}

func (s *Supervisor) refreshAgents(ctx context.Context, now time.Time) {
	wait := s.listWait()
	lctx, cancel := context.WithTimeout(ctx, s.cfg.Window+wait)
	defer cancel()
	states, err := s.agents.List(lctx, s.cfg.Window)
	s.mu.Lock()
	defer s.mu.Unlock()
	var failed map[string]error
	if le := (*agent.ListError)(nil); errors.As(err, &le) {
		failed = le.Failed
	} else if err != nil && len(states) == 0 {
		s.log.Warn("no answer from agents", "err", err)
	}
	clear(s.answered)
	for _, st := range states {
		s.answered[st.Agent] = true
	}
	// Silent agents: found, but without a list in time. Each costs the
	// round its wait only; its last state counts until it expires.
	for id, why := range failed {
		if _, ok := s.silent[id]; ok || s.answered[id] {
			continue
		}
		s.silent[id] = now
		s.log.Warn("agent answers $SRV.PING but not list; supervising without it", "agent", id, "wait", wait,
			"known", s.known[id] != nil, "err", why)
	}
	for id, since := range s.silent {
		if _, still := failed[id]; still && !s.answered[id] {
			continue
		}
		delete(s.silent, id)
		if s.answered[id] {
			s.log.Info("agent answers list again", "agent", id, "silent_for", now.Sub(since).Round(time.Millisecond))
		}
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
		m.agents.WithLabelValues("silent").Set(float64(len(s.silent)))
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
	obs.Woken, svc.wakes = svc.wakes, 0

	running, listed := s.running(svc, now)
	c := s.count(svc, now, running, listed, stats)
	unmanaged := c.unmanaged
	obs.Current = len(running) + unmanaged
	obs.Ready, obs.Stalled = c.ready, c.stalled

	var dec Decision
	var err error
	if obs.Period == 0 {
		// The first round only sets the baselines of the rates; hold
		// what runs, within the limits.
		dec = Decision{Desired: obs.Current, Reason: "first round: measuring"}
	} else if dec, err = svc.Policy.Decide(ctx, obs); err != nil {
		dec = Decision{Desired: obs.Current, Reason: "policy failed, holding: " + err.Error()}
	}
	if obs.Stalled > 0 && dec.Desired > 0 {
		// A stalled instance serves nothing (its handlers stopped
		// finishing; omq refuses calls it cannot start, so the others
		// take them): count it out of what the policy wanted.
		dec.Desired += obs.Stalled
		dec.Reason += fmt.Sprintf("; +%d for stalled instances", obs.Stalled)
	}
	desired, why := svc.settle(obs, dec.Desired)
	desired, why = s.idle(svc, obs, desired, why)

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
	if c.stalled > 0 {
		attrs = append(attrs, "stalled", c.stalled)
	}
	if c.starting > 0 {
		attrs = append(attrs, "starting", c.starting)
	}
	if c.absent > 0 {
		attrs = append(attrs, "absent", c.absent)
	}
	s.log.Info("decision", attrs...)
	s.record(svc, obs, dec, desired, action)
	if m := s.cfg.Metrics; m != nil {
		m.instances.WithLabelValues(svc.Name, "starting").Set(float64(c.starting))
		m.instances.WithLabelValues(svc.Name, "absent").Set(float64(c.absent))
	}

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

// pairSlack is how much earlier than the agent's record of a process's
// start an instance may have started and still be taken for it.
const pairSlack = time.Second

// counts is how a round counts one service's instances besides those
// agents run.
type counts struct {
	unmanaged int // answering $SRV, listed by no agent, and not taken for an agent's process
	ready     int // answering $SRV, not draining, not stalled
	stalled   int // answering $SRV with every slot taken and none freeing
	starting  int // agents' running processes not yet in $SRV under their id, within the start timeout
	absent    int // the same, past it
}

// count matches the agents' running processes to the instances
// answering $SRV.STATS (stats).
//
// Instances no agent lists are unmanaged (started by hand): counted,
// never stopped. An instance being stopped still answers while it drains
// (or, once omq stops answering $SRV at the start of a drain, no longer
// does); either way it is an agent's (listed), neither a stranger to size
// around nor ready capacity.
//
// A running process that has never answered under its instance id
// counts as starting until the start timeout, then is reported once. A
// process whose command binds with an id of its own (not DPC_INSTANCE_ID)
// answers as a stranger: a stranger that started after such a process
// (their clocks are the same host's; see pairSlack) is taken for it, so
// that the two count once, not twice (the count would flap: two, stop
// one, none, start one, two…).
func (s *Supervisor) count(svc *serviceState, now time.Time, running []managed, listed map[string]bool, stats []omq.Stats) counts {
	var c counts
	inSRV := make(map[string]bool, len(stats))
	for _, st := range stats {
		inSRV[st.ID] = true
	}
	isRunning := make(map[string]bool, len(running))
	var unseen []managed
	for _, r := range running {
		id := r.proc.ID
		isRunning[id] = true
		p := svc.procs[id]
		if p == nil {
			p = &procSeen{first: now}
			svc.procs[id] = p
		}
		if inSRV[id] {
			p.seen = true
		}
		if !p.seen {
			unseen = append(unseen, r)
		}
	}
	for id := range svc.procs {
		if !isRunning[id] {
			delete(svc.procs, id)
		}
	}
	var strangers []omq.Stats
	for _, st := range stats {
		counted := false
		switch {
		case !listed[st.ID]:
			strangers = append(strangers, st)
			counted = true
		case isRunning[st.ID]:
			counted = true
		}
		switch {
		case !counted:
		case st.Data.State == omq.StateStalled:
			c.stalled++
		default:
			c.ready++
		}
	}
	// Each unseen process, oldest first, takes the first stranger that
	// started after it (less a little: the agent notes a process's start
	// just after starting it).
	slices.SortFunc(unseen, func(a, b managed) int { return a.proc.Started.Compare(b.proc.Started) })
	slices.SortFunc(strangers, func(a, b omq.Stats) int { return a.Started.Compare(b.Started) })
	taken := make([]bool, len(strangers))
	paired := map[string]string{}
	for _, u := range unseen {
		for j, st := range strangers {
			if !taken[j] && !st.Started.Before(u.proc.Started.Add(-pairSlack)) {
				taken[j] = true
				paired[u.proc.ID] = st.ID
				break
			}
		}
	}
	c.unmanaged = len(strangers) - len(paired)
	for _, u := range unseen {
		p := svc.procs[u.proc.ID]
		if now.Sub(p.first) < s.cfg.StartTimeout {
			c.starting++
			continue
		}
		c.absent++
		if p.reported {
			continue
		}
		p.reported = true
		if m := s.cfg.Metrics; m != nil {
			m.absent.WithLabelValues(svc.Name).Inc()
		}
		attrs := []any{"service", svc.Name, "instance", u.proc.ID, "agent", u.agent, "pid", u.proc.PID, "after", s.cfg.StartTimeout,
			"hint", "its command must bind with the instance id the agent gives it in " + agent.EnvInstanceID + " (dpc-service does)"}
		if id, ok := paired[u.proc.ID]; ok {
			attrs = append(attrs, "counted_with", id)
		}
		s.log.Warn("process never appeared in $SRV under its instance id", attrs...)
	}
	return c
}

// idle applies svc.Idle to a min-0 service: a service that has handled
// no calls (nor been woken) for Idle is scaled to zero, whatever was
// decided; one that has is kept at one at least. Instances found running
// when the supervisor starts get a whole Idle before they are stopped.
func (s *Supervisor) idle(svc *serviceState, obs Observation, desired int, why string) (int, string) {
	if svc.Idle <= 0 || svc.Limits.Min > 0 {
		return desired, why
	}
	busy := obs.Lambda > 0 || obs.ServiceTime.Count > 0 || obs.Backlog > 0 || obs.Durable > 0 || obs.Woken > 0
	if busy || (svc.lastBusy.IsZero() && obs.Current > 0) {
		svc.lastBusy = obs.Now
	}
	quiet := obs.Now.Sub(svc.lastBusy)
	switch {
	case svc.lastBusy.IsZero() || quiet >= svc.Idle:
		if desired > 0 {
			if svc.lastBusy.IsZero() {
				why += "; no calls since the supervisor started: scaled to zero"
			} else {
				why += fmt.Sprintf("; no calls for %v (idle %v): scaled to zero", quiet.Round(100*time.Millisecond), svc.Idle)
			}
		}
		return 0, why
	case desired == 0:
		return 1, why + fmt.Sprintf("; kept at 1: no calls for %v of idle %v", quiet.Round(100*time.Millisecond), svc.Idle)
	}
	return desired, why
}

// settle turns a policy's proposal into the count to make: within the
// limits (clamp), and down only as far as the highest count of the last
// DownWindow. Idle, which overrides it, comes after.
func (svc *serviceState) settle(obs Observation, proposed int) (int, string) {
	n, why := clamp(proposed, svc.Limits, obs.Durable, obs.Woken)
	if svc.DownWindow <= 0 {
		return n, why
	}
	n, note := svc.stable.stabilize(obs.Now, obs.Current, n, 0, svc.DownWindow)
	return n, why + note
}

// clamp applies the limits, and keeps at least one instance while calls
// wait in the durable lane or for an instance (woken): a service scaled
// to zero would never serve them.
func clamp(n int, l Limits, durable int64, woken int) (int, string) {
	var why string
	switch {
	case n < l.Min:
		n, why = l.Min, fmt.Sprintf("; raised to min %d", l.Min)
	case n > l.Max:
		n, why = l.Max, fmt.Sprintf("; capped at max %d", l.Max)
	}
	switch {
	case n == 0 && durable > 0:
		n, why = 1, fmt.Sprintf("; kept at 1: %d calls wait in the durable lane", durable)
	case n == 0 && woken > 0:
		n, why = 1, fmt.Sprintf("; kept at 1: %d wakes, calls waited for an instance", woken)
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
func (s *Supervisor) spawn(ctx context.Context, svc *serviceState, n int, running []managed) (started int) {
	type load struct {
		id        string
		fallback  int // 1: the agent has only its fallback for the service
		mine, all int
	}
	var agents []*load
	for id, a := range s.known {
		// Only agents that answered list in this round: a silent one
		// would hold the round up on a spawn it does not answer either.
		if a.gone || !s.answered[id] || s.hung[id] || !a.state.Runs(svc.Name) {
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
		return 0
	}
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
		sctx, cancel := context.WithTimeout(ctx, s.spawnWait())
		p, err := s.agents.Spawn(sctx, best.id, agent.SpawnRequest{Service: svc.Name})
		cancel()
		if err != nil {
			failed[best.id] = true
			if errors.Is(err, omq.ErrTimeout) {
				// It may have started the process (the next list shows
				// it); it is not asked again in this round.
				s.hung[best.id] = true
			}
			s.metricSpawn(svc.Name, best.id, "error")
			s.log.Error("spawn failed", "service", svc.Name, "agent", best.id, "err", err)
			continue
		}
		best.mine++
		best.all++
		started++
		s.metricSpawn(svc.Name, best.id, "ok")
		s.log.Info("spawned", "service", svc.Name, "agent", best.id, "instance", p.ID, "pid", p.PID)
		svc.procs[p.ID] = &procSeen{first: time.Now()}
		// Count it until the next list shows it, so a second service's
		// spawns in this round spread too.
		if a := s.known[best.id]; a != nil {
			a.state.Processes = append(a.state.Processes, p)
		}
	}
	return started
}

// spawnWait is how long one spawn may take: an agent that answered list
// but hangs on a spawn must not hold up the rest of the round.
func (s *Supervisor) spawnWait() time.Duration {
	return max(2*s.cfg.Window, s.cfg.Period/4)
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
