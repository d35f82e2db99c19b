//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/micro"
)

// within bounds every wait in these tests; nothing is timed.
const within = 30 * time.Second

// childCommand runs the test binary as a child (see child in main_test.go).
func childCommand(mode string, args ...string) []string {
	self, _ := filepath.Abs(os.Args[0])
	return append([]string{self, "child", mode}, args...)
}

// rig is a hub, an agent bound to it, and a client's node.
type rig struct {
	srv    *broker.Server
	agent  *agent.Agent
	client *agent.Client
	node   *omq.Node // the client's
	logs   *proctest.Buffer
}

// startAgent binds an agent with id on srv, its config changed by change,
// and shuts it down at cleanup.
func startAgent(t *testing.T, srv *broker.Server, id string, change func(*agent.Config)) (*agent.Agent, *proctest.Buffer) {
	t.Helper()
	logs := &proctest.Buffer{}
	cfg := agent.DefaultConfig()
	cfg.ID = id
	cfg.NATSURL = srv.ClientURL()
	cfg.Grace = 5 * time.Second
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	cfg.Services = map[string]agent.ServiceCommand{
		"echo":     {Command: childCommand("serve")},
		"stubborn": {Command: childCommand("stubborn")},
		"env":      {Command: childCommand("env"), Env: map[string]string{"AGENT_TEST_FOO": "bar", "DPC_INSTANCE_ID": "not-this"}},
		"fail":     {Command: childCommand("exit", "3")},
		"long":     {Command: childCommand("longline")},
	}
	if change != nil {
		change(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	inst, err := a.Bind(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		_ = inst.Unbind(ctx)
		if t.Failed() {
			t.Logf("--- agent %s log:\n%s", id, logs.String())
		}
	})
	return a, logs
}

func newRig(t *testing.T, change func(*agent.Config)) *rig {
	t.Helper()
	srv := brokertest.Start(t)
	a, logs := startAgent(t, srv, "a1", change)
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{srv: srv, agent: a, client: agent.NewClient(node), node: node, logs: logs}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	return ctx
}

// answers says whether an instance id of service answers $SRV.PING.
func (r *rig) answers(ctx context.Context, service, id string) bool {
	pings, _ := r.node.Ping(ctx, service)
	return slices.ContainsFunc(pings, func(p micro.Ping) bool { return p.ID == id })
}

// process finds a process in the agent's list.
func (r *rig) process(ctx context.Context, t *testing.T, id string) (agent.Process, bool) {
	t.Helper()
	states, err := r.client.List(ctx, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, st := range states {
		for _, p := range st.Processes {
			if p.ID == id {
				return p, true
			}
		}
	}
	return agent.Process{}, false
}

// output finds the agent's log record of a line the instance wrote that
// starts with prefix.
func output(logs *proctest.Buffer, instance, prefix string) (map[string]any, bool) {
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "output" || rec["instance"] != instance {
			continue
		}
		if s, _ := rec["line"].(string); strings.HasPrefix(s, prefix) {
			return rec, true
		}
	}
	return nil, false
}

// gone says whether pid has ended. A zombie counts as ended: whoever
// reaps orphans (PID 1 in a container) may be slow to or never do it.
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	f := bytes.Fields(rest)
	return len(f) > 0 && (f[0][0] == 'Z' || f[0][0] == 'X')
}

func grandchildPID(t *testing.T, logs *proctest.Buffer, instance string) int {
	t.Helper()
	var rec map[string]any
	brokertest.Eventually(t, within, func() bool {
		var ok bool
		rec, ok = output(logs, instance, "grandchild ")
		return ok
	}, "the stubborn child reports its grandchild")
	var pid int
	if _, err := fmt.Sscanf(rec["line"].(string), "grandchild %d", &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// A spawned process binds with the id the agent gave it, shows in list as
// running, and on stop gets SIGTERM, exits cleanly and shows as exited.
func TestAgent_SpawnListStop(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)

	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "echo-a1-1" || p.Service != "echo" || p.Agent != "a1" || p.State != agent.StateRunning || p.PID <= 0 {
		t.Fatalf("spawned %+v", p)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "echo", p.ID) }, "the child answers $SRV.PING as "+p.ID)
	var hello string
	if err := r.node.Lookup("echo").At(p.ID).Call(ctx, "hello", nil, &hello); err != nil || hello != p.ID {
		t.Fatalf("hello: %q, %v", hello, err)
	}
	if _, ok := output(r.logs, p.ID, "serving "+p.ID); !ok {
		t.Errorf("the child's stdout is not in the agent's log with its instance id")
	}

	listed, ok := r.process(ctx, t, p.ID)
	if !ok || listed.State != agent.StateRunning || listed.PID != p.PID {
		t.Fatalf("listed %+v (found %v)", listed, ok)
	}

	stopped, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if stopped.State != agent.StateExited || !stopped.Stopped || stopped.ExitCode != 0 || stopped.Error != "" || stopped.Exited == nil {
		t.Fatalf("stopped %+v", stopped)
	}
	if !gone(p.PID) {
		t.Errorf("pid %d still there after stop", p.PID)
	}
	brokertest.Eventually(t, within, func() bool {
		rec, ok := output(r.logs, p.ID, "bye")
		return ok && rec["stream"] == "stderr"
	}, "the child's goodbye on stderr is logged (it handled SIGTERM)")
	if listed, _ := r.process(ctx, t, p.ID); listed.State != agent.StateExited || !listed.Stopped {
		t.Fatalf("listed after stop %+v", listed)
	}
	// Stopping it again reports it as it is.
	again, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID})
	if err != nil || again.State != agent.StateExited {
		t.Fatalf("second stop: %+v, %v", again, err)
	}
}

// A process that ignores SIGTERM is killed with its whole group once the
// grace is over.
func TestAgent_KillsAfterGrace(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "stubborn"})
	if err != nil {
		t.Fatal(err)
	}
	// Once it serves, it ignores SIGTERM.
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "stubborn", p.ID) }, "the stubborn child serves")
	gc := grandchildPID(t, r.logs, p.ID)

	stopped, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID, GraceMS: 200})
	if err != nil {
		t.Fatal(err)
	}
	if stopped.State != agent.StateExited || !stopped.Stopped || stopped.ExitCode != -1 || stopped.Error != "signal: killed" {
		t.Fatalf("stopped %+v", stopped)
	}
	if !gone(p.PID) {
		t.Errorf("pid %d still there", p.PID)
	}
	brokertest.Eventually(t, within, func() bool { return gone(gc) }, fmt.Sprintf("grandchild %d goes with its group", gc))
}

// A process killed from outside shows as exited, not stopped, with the
// signal; what it left in its group is killed.
func TestAgent_ReportsDeath(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "stubborn"})
	if err != nil {
		t.Fatal(err)
	}
	gc := grandchildPID(t, r.logs, p.ID)
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var listed agent.Process
	brokertest.Eventually(t, within, func() bool {
		listed, _ = r.process(ctx, t, p.ID)
		return listed.State == agent.StateExited
	}, "list shows the process exited")
	if listed.Stopped || listed.ExitCode != -1 || listed.Error != "signal: killed" || listed.Exited == nil {
		t.Fatalf("listed %+v", listed)
	}
	brokertest.Eventually(t, within, func() bool { return gone(gc) }, fmt.Sprintf("grandchild %d of the dead instance is killed", gc))
}

// A process that exits by itself shows its exit status, and leaves the
// list after KeepExited.
func TestAgent_ExitedProcesses(t *testing.T) {
	r := newRig(t, func(c *agent.Config) { c.KeepExited = time.Hour })
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "fail"})
	if err != nil {
		t.Fatal(err)
	}
	var listed agent.Process
	brokertest.Eventually(t, within, func() bool {
		listed, _ = r.process(ctx, t, p.ID)
		return listed.State == agent.StateExited
	}, "list shows the process exited")
	if listed.Stopped || listed.ExitCode != 3 || listed.Error != "exit status 3" {
		t.Fatalf("listed %+v", listed)
	}

	short := newRig(t, func(c *agent.Config) { c.KeepExited = time.Millisecond })
	p, err = short.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "fail"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool {
		_, found := short.process(ctx, t, p.ID)
		return !found
	}, "the exited process leaves the list")
}

// The process's environment carries the hub, its identity and the
// configured settings; the identity cannot be overridden.
func TestAgent_Environment(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "env", ID: "env-given"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NATS_URL=" + r.srv.ClientURL(), "DPC_INSTANCE_ID=env-given", "DPC_SERVICE=env", "AGENT_TEST_FOO=bar"} {
		brokertest.Eventually(t, within, func() bool {
			rec, ok := output(r.logs, p.ID, want)
			return ok && rec["line"] == want
		}, "the child prints "+want)
	}
}

// A line longer than the agent forwards is cut, and the next line comes
// through whole.
func TestAgent_BoundsOutputLines(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "long"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool { _, ok := output(r.logs, p.ID, "after"); return ok }, "the line after the long one")
	rec, ok := output(r.logs, p.ID, "xxx")
	if !ok || rec["truncated"] != true {
		t.Fatalf("long line logged as %v", rec)
	}
	if n := len(rec["line"].(string)); n >= 10000 || n < 1000 {
		t.Fatalf("long line cut to %d bytes", n)
	}
}

// Spawns the agent must not run are refused with a 400 that says why.
func TestAgent_RefusesSpawns(t *testing.T) {
	r := newRig(t, func(c *agent.Config) { c.Allow = []string{} })
	ctx := testContext(t)
	for _, tc := range []struct {
		name string
		req  agent.SpawnRequest
		want []string
	}{
		// With dpc-service not allowed there is no fallback.
		{"no command", agent.SpawnRequest{Service: "nocmd"},
			[]string{"nocmd", "no command", "echo", "dpc-service is not on its allow list"}},
		{"bad service name", agent.SpawnRequest{Service: "a.b"},
			[]string{`"a.b"`}},
		{"bad id", agent.SpawnRequest{Service: "echo", ID: "x y"},
			[]string{`"x y"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.client.Spawn(ctx, "a1", tc.req)
			if !errors.Is(err, agent.ErrBadRequest) || !errors.Is(err, omq.ErrBadArguments) {
				t.Fatalf("err %v, want a 400", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
	if st := r.agent.List(); len(st.Processes) != 0 || st.Fallback != "" {
		t.Errorf("after refusals: %+v", st)
	}
}

// rawSpawn sends a spawn request as the JSON body given, as a client that
// does not use agent.Client could.
func (r *rig) rawSpawn(ctx context.Context, body string) (agent.Process, error) {
	var p agent.Process
	err := r.node.Lookup(agent.ServiceName).At(r.agent.ID()).Call(ctx, agent.FnSpawn, json.RawMessage(body), &p)
	return p, err
}

// A request that brings a command — the attack of a requester choosing
// what the agent runs and where its instance connects — is refused with
// a 400 whatever the command, and starts nothing, even for a service the
// agent runs and with the command's program allowed; so is any other
// field the agent does not know.
func TestAgent_RefusesRequestCommands(t *testing.T) {
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *agent.Config) { c.Allow = []string{"dpc-service", self} })
	ctx := testContext(t)
	serve, _ := json.Marshal(childCommand("serve"))
	for _, body := range []string{
		`{"service": "work", "command": ["dpc-service", "work", "--nats", "nats://evil:4222"]}`,
		`{"service": "echo", "command": ` + string(serve) + `}`,
		`{"service": "fromreq", "command": ` + string(serve) + `}`,
		`{"service": "echo", "command": null}`,
		`{"service": "echo", "command": []}`,
		`[{"service": "echo", "id": "pos", "command": ["/bin/sh", "-c", "true"]}]`,
	} {
		_, err := r.rawSpawn(ctx, body)
		if !errors.Is(err, agent.ErrBadRequest) || !strings.Contains(err.Error(), "request-supplied commands are refused") {
			t.Errorf("%s: %v, want a 400 saying request-supplied commands are refused", body, err)
		}
	}
	for body, want := range map[string]string{
		`{"service": "echo", "env": {"X": "1"}}`:  `unknown field "env"`,
		`{"Service": "echo"}`:                     `unknown field "Service"`,
		`{"service": "echo", "dir": "/", "x": 1}`: `unknown field "dir", "x"`,
		`{"service": "echo", "id": 7}`:            "malformed",
	} {
		_, err := r.rawSpawn(ctx, body)
		if !errors.Is(err, agent.ErrBadRequest) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a 400 mentioning %s", body, err, want)
		}
	}
	var p agent.Process
	err = r.node.Lookup(agent.ServiceName).At("a1").Call(ctx, agent.FnStop, json.RawMessage(`{"id": "x", "signal": 9}`), &p)
	if !errors.Is(err, agent.ErrBadRequest) || !strings.Contains(err.Error(), `unknown field "signal"`) {
		t.Errorf("stop with an unknown field: %v", err)
	}
	if st := r.agent.List(); len(st.Processes) != 0 {
		t.Fatalf("refused requests started %+v", st.Processes)
	}
	// The same service, asked for properly, runs the agent's own command.
	p, err = r.rawSpawn(ctx, `{"service": "echo", "id": "echo-ok"}`)
	if err != nil || p.ID != "echo-ok" || !slices.Equal(p.Command, childCommand("serve")) {
		t.Fatalf("spawn: %+v, %v", p, err)
	}
}

// A live process's id is not given again; an exited one's is.
func TestAgent_RefusesDuplicateID(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "dup"}); err != nil {
		t.Fatal(err)
	}
	_, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "dup"})
	if !errors.Is(err, agent.ErrConflict) || !strings.Contains(err.Error(), `"dup"`) {
		t.Fatalf("second spawn: %v, want a 409 naming the id", err)
	}
	if _, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: "dup"}); err != nil {
		t.Fatal(err)
	}
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "dup"})
	if err != nil || p.State != agent.StateRunning {
		t.Fatalf("spawn after the first exited: %+v, %v", p, err)
	}
}

// Stopping an unknown id is a 404; spawning beyond MaxProcesses a 503.
func TestAgent_NotFoundAndFull(t *testing.T) {
	r := newRig(t, func(c *agent.Config) { c.MaxProcesses = 1 })
	ctx := testContext(t)
	_, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: "nosuch"})
	if !errors.Is(err, agent.ErrNotFound) || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("stop unknown: %v", err)
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"}); !errors.Is(err, agent.ErrUnavailable) {
		t.Fatalf("spawn beyond the maximum: %v", err)
	}
}

// Shutdown stops every process, those ignoring SIGTERM and their children
// too, and refuses later spawns; a second Shutdown is harmless.
func TestAgent_ShutdownLeavesNoProcess(t *testing.T) {
	r := newRig(t, func(c *agent.Config) { c.Grace = 300 * time.Millisecond })
	ctx := testContext(t)
	var pids []int
	for _, svc := range []string{"echo", "echo", "stubborn"} {
		p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.PID)
		brokertest.Eventually(t, within, func() bool { return r.answers(ctx, svc, p.ID) }, p.ID+" serves")
		if svc == "stubborn" {
			pids = append(pids, grandchildPID(t, r.logs, p.ID))
		}
	}
	if err := r.agent.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids[:3] {
		if !gone(pid) {
			t.Errorf("pid %d alive after Shutdown", pid)
		}
	}
	brokertest.Eventually(t, within, func() bool { return gone(pids[3]) }, "the grandchild goes too")
	for _, p := range r.agent.List().Processes {
		if p.State != agent.StateExited || !p.Stopped {
			t.Errorf("after Shutdown: %+v", p)
		}
	}
	if err := r.agent.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"}); !errors.Is(err, agent.ErrUnavailable) {
		t.Errorf("spawn after Shutdown: %v", err)
	}
}

// A slow stop does not hold up list.
func TestAgent_ListDuringSlowStop(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "stubborn"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "stubborn", p.ID) }, "the stubborn child serves")
	stopped := make(chan error, 1)
	go func() {
		_, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID, GraceMS: int64(within / time.Millisecond)})
		stopped <- err
	}()
	brokertest.Eventually(t, within, func() bool {
		listed, _ := r.process(ctx, t, p.ID)
		return listed.State == agent.StateStopping
	}, "list answers, showing the process stopping")
	select {
	case err := <-stopped:
		t.Fatalf("stop returned before the grace: %v", err)
	default:
	}
	// A second stop with a shorter grace brings the SIGKILL forward, and
	// the first stop returns too.
	p, err = r.agent.Stop(ctx, agent.StopRequest{ID: p.ID, GraceMS: 50})
	if err != nil || p.State != agent.StateExited || p.Error != "signal: killed" {
		t.Fatalf("second stop: %+v, %v", p, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("first stop: %v", err)
	}
}

// Client.List finds every agent on the hub.
func TestClient_ListsEveryAgent(t *testing.T) {
	srv := brokertest.Start(t)
	a1, _ := startAgent(t, srv, "a1", func(c *agent.Config) { c.Host = "host-1" })
	startAgent(t, srv, "a2", func(c *agent.Config) { c.Host = "host-2"; c.Services = nil })
	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := a1.Spawn(ctx, agent.SpawnRequest{Service: "echo"}); err != nil {
		t.Fatal(err)
	}
	states, err := agent.NewClient(node).List(ctx, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0].Agent != "a1" || states[1].Agent != "a2" {
		t.Fatalf("states %+v", states)
	}
	if states[0].Host != "host-1" || len(states[0].Processes) != 1 || !slices.Contains(states[0].Services, "echo") {
		t.Errorf("a1: %+v", states[0])
	}
	if states[1].Host != "host-2" || len(states[1].Processes) != 0 || len(states[1].Services) != 0 {
		t.Errorf("a2: %+v", states[1])
	}
}

// A stop whose caller cannot wait for the grace answers in time with the
// process stopping.
func TestAgent_StopAnswersBeforeTheCallerGivesUp(t *testing.T) {
	r := newRig(t, nil)
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "stubborn"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "stubborn", p.ID) }, "the stubborn child serves")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	got, err := r.client.Stop(short, "a1", agent.StopRequest{ID: p.ID, GraceMS: int64(within / time.Millisecond)})
	if err != nil || got.State != agent.StateStopping || !got.Stopped {
		t.Fatalf("stop: %+v, %v; want the process stopping", got, err)
	}
	if _, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID, GraceMS: -1}); !errors.Is(err, agent.ErrBadRequest) {
		t.Errorf("negative grace: %v", err)
	}
	if got, err = r.agent.Stop(ctx, agent.StopRequest{ID: p.ID, GraceMS: 50}); err != nil || got.State != agent.StateExited {
		t.Fatalf("stop with a short grace: %+v, %v", got, err)
	}
}

// An agent that does not answer list in time leaves the others' states
// and an error saying so.
func TestClient_ListReportsSilentAgents(t *testing.T) {
	srv := brokertest.Start(t)
	startAgent(t, srv, "a1", nil)
	// A stand-in agent whose list never answers.
	stuckNode, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	stuck := omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	inst, err := stuckNode.Bind(ctx, agent.ServiceName, omq.Handlers{agent.FnList: stuck}, omq.InstanceID("stuck"), omq.NoDurable())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Unbind(context.Background()) })

	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	states, err := agent.NewClient(node).List(lctx, 300*time.Millisecond)
	if !errors.Is(err, omq.ErrTimeout) || !strings.Contains(err.Error(), "1 of 2 agents answered") {
		t.Fatalf("err %v, want a timeout saying 1 of 2 answered", err)
	}
	if len(states) != 1 || states[0].Agent != "a1" {
		t.Fatalf("states %+v", states)
	}
}
