package agent

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dpc-project/dpc/internal/procgroup"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
)

// replyMargin is how long before the caller's deadline a stop that is
// still waiting gives up and answers with the stopping state, so that the
// answer arrives rather than a timeout.
const replyMargin = 100 * time.Millisecond

// maxGraceMS is the longest grace a stop may ask for: a day, far beyond
// any clean shutdown, and far from overflowing a time.Duration.
const maxGraceMS = int64(24 * time.Hour / time.Millisecond)

// Agent starts and stops service instances on one host for a supervisor.
// Its methods are safe for concurrent use; Bind serves them over omq.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics   // nil without Config.Metrics
	sd      *discovery // nil without Config.Metrics

	mu       sync.Mutex
	procs    map[string]*process
	starting map[string]struct{} // ids reserved by spawns still starting their process
	seq      map[string]int      // last number given to each service's ids
	closed   bool                // Shutdown began: no more spawns

	spawning sync.WaitGroup // spawns between reserving an id and registering the process
	wg       sync.WaitGroup // waiters, output forwarders and kill timers
}

// New checks cfg, giving zero fields their defaults, and returns an agent
// running nothing.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The caller may reuse its maps and slices; spawns read these
	// concurrently.
	cfg.Allow = slices.Clone(cfg.Allow)
	cfg.Env = maps.Clone(cfg.Env)
	services := make(map[string]ServiceCommand, len(cfg.Services))
	for name, sc := range cfg.Services {
		services[name] = ServiceCommand{Command: slices.Clone(sc.Command), Env: maps.Clone(sc.Env), Dir: sc.Dir}
	}
	cfg.Services = services
	approved := make(map[string]ManifestCommand, len(cfg.Manifests))
	for name, mc := range cfg.Manifests {
		mc.Command = slices.Clone(mc.Command)
		approved[name] = mc
	}
	cfg.Manifests = approved
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Logger.With("agent", cfg.ID),
		procs:    map[string]*process{},
		starting: map[string]struct{}{},
		seq:      map[string]int{},
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics, a)
		if err != nil {
			return nil, fmt.Errorf("agent: metrics: %w", err)
		}
		a.metrics = m
		a.sd = newDiscovery(cfg.ID, cfg.InstanceMetrics, a.log)
	}
	return a, nil
}

// ID is the agent's id, its omq instance id.
func (a *Agent) ID() string { return a.cfg.ID }

// Bind serves the agent on node as instance ID() of ServiceName. The
// caller owns the returned instance and unbinds it, best after Shutdown,
// so that lists keep answering while the processes stop.
func (a *Agent) Bind(ctx context.Context, node *omq.Node) (*omq.Instance, error) {
	handlers := omq.Handlers{
		FnSpawn: omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			var req SpawnRequest
			if err := decodeArgs(r, &req, "service", "id"); err != nil {
				return nil, err
			}
			return a.Spawn(ctx, req)
		}),
		FnStop: omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			var req StopRequest
			if err := decodeArgs(r, &req, "id", "grace_ms"); err != nil {
				return nil, err
			}
			return a.Stop(ctx, req)
		}),
		FnList: omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			return a.List(), nil
		}),
	}
	inst, err := node.Bind(ctx, ServiceName, handlers,
		omq.InstanceID(a.cfg.ID),
		omq.Description("DPC agent: starts and stops service instances on "+a.cfg.Host),
		omq.Metadata(map[string]string{"host": a.cfg.Host}),
		// Every process may be stopping at once, each stop holding a
		// handler slot for up to its grace; the extra slots keep list and
		// spawn answering meanwhile.
		omq.Concurrency(a.cfg.MaxProcesses+8),
		// Spawning from a stored message long after it was sent would
		// surprise a supervisor that has moved on.
		omq.NoDurable(),
	)
	if err != nil {
		return nil, fmt.Errorf("agent: bind: %w", err)
	}
	if a.sd != nil {
		// Service discovery asks the instances over the agent's own
		// connection; the agent role may publish on $SRV.>.
		a.sd.nc.Store(node.Conn())
	}
	return inst, nil
}

// decodeArgs reads a request's one argument: a JSON object by name (the
// request's fields), or an array holding that object. A field that is not
// one of known (exactly so written) is refused: the agent acts on the
// whole request or not at all. A command above all: what runs comes from
// the agent's host, never from the request.
func decodeArgs(r *omq.Request, v any, known ...string) error {
	body := bytes.TrimSpace(r.Args)
	if len(body) > 0 && body[0] == '[' {
		vals, err := r.Positional()
		if err != nil {
			return err
		}
		if len(vals) != 1 {
			return refuse(CodeBadRequest, "%s takes one argument, an object, got %d", r.Function, len(vals))
		}
		body = vals[0]
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return refuse(CodeBadRequest, "%s: malformed request: %v", r.Function, err)
	}
	var unknown []string
	for k := range fields {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	slices.Sort(unknown)
	_, command := fields["command"]
	switch {
	case r.Function == FnSpawn && command:
		return refuse(CodeBadRequest, "spawn: request-supplied commands are refused: an agent runs its own command for the service, "+
			"the command of a manifest installed on its host, or %s <service>; send only the service (and an instance id)", DefaultProgram)
	case len(unknown) > 0:
		return refuse(CodeBadRequest, "%s: unknown field %s (a request has %s)", r.Function, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return refuse(CodeBadRequest, "%s: malformed request: %v", r.Function, err)
	}
	return nil
}

// launch is what a spawn runs.
type launch struct {
	argv   []string
	env    map[string]string
	dir    string
	source string // where the command comes from, for the log
}

// command picks the command for a service: the agent's own, else an
// approved manifest's if its program is allowed, else "dpc-service
// <service>" if dpc-service is allowed. Nothing of it comes from the
// request but the service's name, which the caller has checked.
func (a *Agent) command(service string) (launch, error) {
	if sc, ok := a.cfg.Services[service]; ok {
		return launch{argv: sc.Command, env: sc.Env, dir: sc.Dir, source: "config"}, nil
	}
	if mc, ok := a.cfg.Manifests[service]; ok {
		if !a.cfg.allowed(mc.Command[0]) { // New checked it; so does every spawn
			return launch{}, refuse(CodeBadRequest, "spawn %s: program %q of manifest %s is not allowed on agent %s (allowed: %s)",
				service, mc.Command[0], mc.File, a.cfg.ID, listOrNone(a.cfg.Allow))
		}
		return launch{argv: mc.Command, source: "manifest " + mc.File}, nil
	}
	prog := a.cfg.fallback()
	if prog == "" {
		return launch{}, refuse(CodeBadRequest, "spawn %s: agent %s has no command for the service: none of its own (services: %s), no manifest of it installed (manifests: %s), and %s is not on its allow list",
			service, a.cfg.ID, listOrNone(slices.Sorted(maps.Keys(a.cfg.Services))), listOrNone(slices.Sorted(maps.Keys(a.cfg.Manifests))), DefaultProgram)
	}
	if strings.HasPrefix(service, "-") {
		// It would read as an option of the program.
		return launch{}, refuse(CodeBadRequest, "spawn %s: agent %s runs a service it has no command for as %s <service>, and a name starting with '-' is not one",
			service, a.cfg.ID, prog)
	}
	return launch{argv: []string{prog, service}, source: "default"}, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Spawn starts one instance of req.Service and returns it running. The
// process runs in a process group of its own with the agent's environment
// less its hub credentials (SecretEnv), plus NATS_URL, what
// Config.Credentials issues for the instance, DPC_INSTANCE_ID and
// DPC_SERVICE; its output goes to the agent's logger line by line. ctx
// bounds Credentials.Issue; starting a process does not block.
func (a *Agent) Spawn(ctx context.Context, req SpawnRequest) (Process, error) {
	if !omq.ValidName(req.Service) {
		return Process{}, refuse(CodeBadRequest, "spawn: service name %q: use letters, digits, '-' and '_' only", req.Service)
	}
	if req.ID != "" && !omq.ValidName(req.ID) {
		return Process{}, refuse(CodeBadRequest, "spawn %s: instance id %q: use letters, digits, '-' and '_' only", req.Service, req.ID)
	}
	l, err := a.command(req.Service)
	if err != nil {
		return Process{}, err
	}
	id, err := a.reserve(req)
	if err != nil {
		a.metrics.spawned(req.Service, spawnRefused)
		return Process{}, err
	}
	defer a.spawning.Done()

	var creds map[string]string
	cleanup := func() {}
	if c := a.cfg.Credentials; c != nil {
		var done func()
		creds, done, err = c.Issue(ctx, req.Service, id)
		if err != nil {
			a.mu.Lock()
			delete(a.starting, id)
			a.mu.Unlock()
			a.log.Error("spawn failed: no credentials for the instance", "instance", id, "service", req.Service, "err", err)
			a.metrics.spawned(req.Service, spawnFailed)
			return Process{}, refuse(CodeFailed, "spawn %s: credentials for instance %s: %v", req.Service, id, err)
		}
		if done != nil {
			cleanup = done
		}
	}

	cmd := exec.Command(l.argv[0], l.argv[1:]...)
	cmd.Dir = l.dir
	cmd.Env = a.environ(id, req.Service, l.env, creds)
	// A group of its own: stop signals the instance and every child it
	// started, and a Ctrl-C at the agent's terminal reaches the agent
	// alone (which then stops its processes with their grace). SIGTERM
	// should the agent die without stopping it (an agent that restarts
	// knows nothing of its old processes), so that the instance withdraws
	// and finishes its calls; children the instance started itself, or an
	// instance that ignores SIGTERM, outlive a crashed agent.
	cmd.SysProcAttr = procgroup.Attr(syscall.SIGTERM)
	pipes, err := start(cmd)

	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.starting, id)
	if err != nil {
		cleanup()
		a.log.Warn("spawn failed", "instance", id, "service", req.Service, "command", l.argv, "source", l.source, "err", err)
		a.metrics.spawned(req.Service, spawnFailed)
		return Process{}, refuse(CodeFailed, "spawn %s: start %s: %v", req.Service, l.argv[0], err)
	}
	p := &process{
		id:      id,
		service: req.Service,
		command: slices.Clone(l.argv),
		cmd:     cmd,
		started: time.Now(),
		done:    make(chan struct{}),
		cleanup: cleanup,
		state:   StateRunning,
	}
	a.procs[id] = p // replaces an exited process of the same id
	log := a.log.With("instance", id, "service", req.Service)
	a.wg.Add(3)
	for i, stream := range []string{"stdout", "stderr"} {
		go func() {
			defer a.wg.Done()
			forward(log.With("stream", stream), pipes[i])
		}()
	}
	go func() {
		defer a.wg.Done()
		a.await(p, log, pipes)
	}()
	if a.sd != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.sd.watch(p)
		}()
	}
	a.metrics.spawned(req.Service, spawnStarted)
	log.Info("spawned", "pid", cmd.Process.Pid, "command", l.argv, "source", l.source)
	return p.snapshot(a.cfg.ID), nil
}

// start starts cmd with its stdout and stderr on pipes, and returns
// their read ends.
func start(cmd *exec.Cmd) ([]*os.File, error) {
	var reads, writes []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(reads)
			closeAll(writes)
			return nil, err
		}
		reads, writes = append(reads, r), append(writes, w)
	}
	cmd.Stdout, cmd.Stderr = writes[0], writes[1]
	err := cmd.Start()
	// The process has its own copies of the write ends; ours must go so
	// that the forwarders see the end of output once it (and its
	// children) are gone.
	closeAll(writes)
	if err != nil {
		closeAll(reads)
		return nil, err
	}
	return reads, nil
}

// reserve claims the instance id for a spawn, or refuses the spawn. On
// success the caller must call a.spawning.Done.
func (a *Agent) reserve(req SpawnRequest) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return "", refuse(CodeUnavailable, "spawn %s: agent %s is shutting down", req.Service, a.cfg.ID)
	}
	a.prune(time.Now())
	if n := a.live(); n >= a.cfg.MaxProcesses {
		return "", refuse(CodeUnavailable, "spawn %s: agent %s runs %d processes, its maximum", req.Service, a.cfg.ID, n)
	}
	id := req.ID
	if id == "" {
		for {
			a.seq[req.Service]++
			id = req.Service + "-" + a.cfg.ID + "-" + strconv.Itoa(a.seq[req.Service])
			if !a.taken(id) {
				break
			}
		}
	} else if a.taken(id) {
		return "", refuse(CodeConflict, "spawn %s: instance id %q is in use on agent %s", req.Service, id, a.cfg.ID)
	}
	a.starting[id] = struct{}{}
	a.spawning.Add(1)
	return id, nil
}

// taken: a live or starting process has the id; an exited one does not
// keep it. Call with a.mu held.
func (a *Agent) taken(id string) bool {
	if _, ok := a.starting[id]; ok {
		return true
	}
	p, ok := a.procs[id]
	return ok && p.state != StateExited
}

// live counts processes running, stopping or starting. Call with a.mu
// held.
func (a *Agent) live() int {
	n := len(a.starting)
	for _, p := range a.procs {
		if p.state != StateExited {
			n++
		}
	}
	return n
}

// prune drops processes that exited more than KeepExited ago. Call with
// a.mu held.
func (a *Agent) prune(now time.Time) {
	for id, p := range a.procs {
		if p.state == StateExited && now.Sub(p.exited) > a.cfg.KeepExited {
			delete(a.procs, id)
		}
	}
}

// environ is the environment of a process: the agent's less its hub
// credentials and hub URL, the hub URL without user or password, the
// agent-wide and the service's settings, what Credentials issued, then
// the instance's identity, which nothing overrides (exec keeps the last
// of duplicate keys).
func (a *Agent) environ(id, service string, env, creds map[string]string) []string {
	var out []string
	natsURL := a.cfg.NATSURL
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case slices.Contains(SecretEnv, k):
		case k == EnvNATS:
			if natsURL == "" {
				natsURL = v
			}
		default:
			out = append(out, kv)
		}
	}
	if natsURL != "" {
		out = append(out, EnvNATS+"="+hubconn.PublicURL(natsURL))
	}
	// Without a profile of its own the process must not find the one of
	// the user it runs as (the agent's, or the owner's): DPC_HOME=none.
	out = append(out, trust.EnvHome+"="+trust.NoProfile)
	// Whatever the agent's own environment said: instances sharing one
	// fixed address would fight over it. The config may still say
	// otherwise, per service or for all.
	if a.cfg.InstanceMetrics != "" {
		out = append(out, EnvMetrics+"="+a.cfg.InstanceMetrics)
	}
	for _, m := range []map[string]string{a.cfg.Env, env, creds} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, k+"="+m[k])
		}
	}
	return append(out, EnvInstanceID+"="+id, EnvService+"="+service)
}

// await reaps the process, kills what it left in its group, and records
// its exit.
func (a *Agent) await(p *process, log *slog.Logger, outputs []*os.File) {
	err := procgroup.Reap(p.cmd, func() {
		a.mu.Lock()
		p.gone = true // no more signals: the group may go once it is reaped
		a.mu.Unlock()
		// An instance is its process group: children a dead instance
		// left would serve on with nobody to stop them.
		p.signal(a.log, syscall.SIGKILL)
	})
	now := time.Now()
	for _, f := range outputs {
		_ = f.SetReadDeadline(now.Add(drainOutput))
	}
	code, text := exitStatus(p.cmd, err)
	a.mu.Lock()
	p.state = StateExited
	p.exited = now
	p.exitCode = code
	p.errText = text
	stopped := p.stopped
	a.mu.Unlock()
	a.metrics.exited(p.service, stopped)
	// The instance and its group are gone: what it was issued to reach
	// the hub goes too, before a stop returns.
	p.cleanup()
	close(p.done)
	if stopped {
		log.Info("exited", "code", code, "err", text)
	} else {
		log.Warn("died", "code", code, "err", text)
	}
}

// Stop stops a process: SIGTERM to its group, SIGKILL once the grace
// (req.GraceMS, else Config.Grace) has passed. It returns the process once
// it has exited or, if it has not by the grace plus a few seconds or
// shortly before ctx's deadline, in state stopping (the SIGKILL still
// follows). Stopping an exited process returns it as it is.
func (a *Agent) Stop(ctx context.Context, req StopRequest) (Process, error) {
	if req.GraceMS < 0 || req.GraceMS > maxGraceMS {
		return Process{}, refuse(CodeBadRequest, "stop %s: grace %dms: want 0 (the agent's default) to %dms", req.ID, req.GraceMS, maxGraceMS)
	}
	grace := a.cfg.Grace
	if req.GraceMS > 0 {
		grace = time.Duration(req.GraceMS) * time.Millisecond
	}
	a.mu.Lock()
	a.prune(time.Now())
	p, ok := a.procs[req.ID]
	if !ok {
		a.mu.Unlock()
		return Process{}, refuse(CodeNotFound, "stop: agent %s has no process %q", a.cfg.ID, req.ID)
	}
	a.terminate(p, grace)
	a.mu.Unlock()

	wait := grace + killWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-replyMargin)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-p.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil && p.state != StateExited {
		return p.snapshot(a.cfg.ID), fmt.Errorf("agent: stop %s: %w", p.id, err)
	}
	return p.snapshot(a.cfg.ID), nil
}

// terminate sends SIGTERM to a live process's group (once) and arranges
// SIGKILL after grace, unless a SIGKILL is already due sooner. Call with
// a.mu held.
func (a *Agent) terminate(p *process, grace time.Duration) {
	if p.gone {
		return
	}
	if !p.stopped { // the first stop asked for: SIGTERM once
		p.signal(a.log, syscall.SIGTERM)
		a.log.Info("stopping", "instance", p.id, "grace", grace)
	}
	p.stopped = true
	p.state = StateStopping
	killAt := time.Now().Add(grace)
	if !p.killAt.IsZero() && !killAt.Before(p.killAt) {
		return
	}
	p.killAt = killAt
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			a.mu.Lock()
			defer a.mu.Unlock()
			if !p.gone {
				a.log.Warn("still running after its grace; killing", "instance", p.id, "grace", grace)
				p.signal(a.log, syscall.SIGKILL)
			}
		}
	}()
}

// List reports every process, live or recently exited, oldest first.
func (a *Agent) List() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prune(time.Now())
	st := State{
		Agent:     a.cfg.ID,
		Host:      a.cfg.Host,
		Processes: make([]Process, 0, len(a.procs)),
		Services:  slices.Sorted(maps.Keys(a.cfg.Services)),
		Fallback:  a.cfg.fallback(),
	}
	for _, name := range slices.Sorted(maps.Keys(a.cfg.Manifests)) {
		if _, own := a.cfg.Services[name]; !own {
			st.Manifests = append(st.Manifests, name)
		}
	}
	for _, p := range a.procs {
		st.Processes = append(st.Processes, p.snapshot(a.cfg.ID))
	}
	slices.SortFunc(st.Processes, func(x, y Process) int {
		return cmp.Or(x.Started.Compare(y.Started), strings.Compare(x.ID, y.ID))
	})
	return st
}

// Shutdown stops every process (SIGTERM, Config.Grace, SIGKILL), refuses
// further spawns, and returns once all are gone. If ctx ends first it
// kills the rest at once, still waits for them, and returns ctx's error.
// Safe to call more than once; list keeps answering meanwhile.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	// A spawn past its checks registers its process soon; wait, so that
	// it is stopped too.
	a.spawning.Wait()

	a.mu.Lock()
	var live []*process
	for _, p := range a.procs {
		if p.state != StateExited {
			a.terminate(p, a.cfg.Grace)
			live = append(live, p)
		}
	}
	a.mu.Unlock()
	if len(live) > 0 {
		a.log.Info("stopping every process", "processes", len(live), "grace", a.cfg.Grace)
	}

	err := waitAll(ctx, live)
	if err != nil {
		err = fmt.Errorf("agent: shutdown: %w", err)
		a.mu.Lock()
		for _, p := range live {
			if !p.gone {
				p.signal(a.log, syscall.SIGKILL)
			}
		}
		a.mu.Unlock()
	}
	// After SIGKILL only a process stuck in the kernel lingers; do not
	// hang on it for ever.
	gone := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(gone)
	}()
	t := time.NewTimer(killWait + drainOutput)
	defer t.Stop()
	select {
	case <-gone:
	case <-t.C:
		err = errors.Join(err, fmt.Errorf("agent: shutdown: processes or their output still there %s after SIGKILL", killWait))
	}
	return err
}

// waitAll waits until every process has exited, or returns ctx's error.
func waitAll(ctx context.Context, procs []*process) error {
	for _, p := range procs {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
