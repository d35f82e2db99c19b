package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
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
	"github.com/nats-io/nats.go"
)

// bin is the dpc-agent binary, built once in TestMain.
var bin string

// TestMain builds dpc-agent, and lets the test binary stand in for the
// service the agent spawns: "<test binary> child" binds DPC_SERVICE as
// DPC_INSTANCE_ID until SIGTERM; "<test binary> child envfile F" writes
// its environment to F first.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child())
	}
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { bin = b["./cmd/dpc-agent"] }, "./cmd/dpc-agent"))
}

func child() int {
	if len(os.Args) > 3 && os.Args[2] == "envfile" {
		env := os.Environ()
		slices.Sort(env)
		if err := os.WriteFile(os.Args[3], []byte(strings.Join(env, "\n")+"\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(os.Getenv(agent.EnvNATS))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nop := omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil })
	if _, err := node.Bind(ctx, os.Getenv(agent.EnvService), omq.Handlers{"nop": nop},
		omq.InstanceID(os.Getenv(agent.EnvInstanceID)), omq.NoDurable()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	return 0
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad flags and bad config files are refused before anything starts,
// with exit code 2, each problem named with its file and line.
func TestAgent_RejectsBadInput(t *testing.T) {
	unknownKey := writeFile(t, "unknown.yml", "id: a1\ncolour: red\nservices:\n  tst:\n    comand: [dpc-service, tst]\n")
	badValues := writeFile(t, "values.yml", "id: a.b\ngrace: 10\nservices:\n  tst:\n    command: []\n")
	syntax := writeFile(t, "syntax.yml", "id: a1\n  grace: 1s\n")
	badRules := writeFile(t, "rules.yml", "grace: -1s\nallow: [dpc-service, bin/x]\nservices:\n  tst:\n    command: []\n  a.b:\n    command: [x]\n")
	secrets := writeFile(t, "secrets.yml", "manifests: [/no/such/dir]\nenv:\n  DPC_PASSWORD: pw\n  NATS_URL: nats://u:p@hub:4222\n")
	manifests := t.TempDir()
	badManifest := filepath.Join(manifests, "bad.yml")
	if err := os.WriteFile(badManifest, []byte("name: bad\nfunctions:\n  - funct_name: f\n    args_list: [{arg_name: a, arg_type: integer}]\ncommand: [dpc-service, bad]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evilDir := t.TempDir()
	evil := filepath.Join(evilDir, "evil.yml")
	if err := os.WriteFile(evil, []byte("name: evil\nfunctions:\n  - funct_name: f\ncommand:\n  - /bin/sh\n  - -c\n  - \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--bogus"}, []string{"unknown flag --bogus"}},
		{[]string{"--config", "/no/such/agent.yml"}, []string{"/no/such/agent.yml"}},
		{[]string{"--config", unknownKey}, []string{
			unknownKey + `:2: unknown key "colour"`,
			unknownKey + `:5: unknown key "comand" (keys here: command, env, dir)`,
		}},
		{[]string{"--config", badValues}, []string{
			badValues + ":2: cannot unmarshal !!int `10` into time.Duration",
		}},
		{[]string{"--config", syntax}, []string{syntax + ":2: "}},
		{[]string{"--config", badRules}, []string{
			badRules + ":1: grace -1s must be positive",
			badRules + `:2: allow "bin/x"`,
			badRules + ":5: service tst: empty command",
			badRules + `:6: service "a.b"`,
		}},
		{[]string{"--id", "a.b"}, []string{`id "a.b"`}},
		{[]string{"--config", secrets}, []string{
			secrets + ":1: manifests: /no/such/dir is not a directory",
			secrets + ":3: env DPC_PASSWORD: the agent gives no process shared hub credentials",
			secrets + ":4: env NATS_URL: a user or password",
		}},
		{[]string{"--manifests", manifests}, []string{badManifest + `:4: functions[0].args_list[0].arg_type: unknown type "integer" (did you mean int?)`}},
		{[]string{"--manifests", "/no/such/dir"}, []string{"/no/such/dir"}},
		{[]string{"--manifests", evilDir}, []string{evil + `:5: command[0]: service evil: program "/bin/sh" is not on the allow list (allowed: dpc-service)`}},
	} {
		out, err := exec.Command(bin, append(tc.args, "--nats", "nats://127.0.0.1:1")...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2\n%s", tc.args, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%v: output does not mention %q:\n%s", tc.args, w, out)
			}
		}
	}
}

// --help explains the config file with an example, and that example loads.
func TestAgent_HelpHasExample(t *testing.T) {
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, w := range []string{"max_processes: 16", "command: [/usr/local/bin/dpc-service, tst]", "--allow", "--manifests", "brings a command is refused", "Exit codes"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	dir, mdir := t.TempDir(), t.TempDir()
	example := strings.ReplaceAll(exampleConfig, "/var/lib/dpc", dir)
	path := writeFile(t, "agent.yml", strings.ReplaceAll(example, "/etc/dpc/manifests", mdir))
	cfg := agent.DefaultConfig()
	dirs, err := loadConfig(path, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "nas" || cfg.Grace != 15*time.Second || cfg.MaxProcesses != 16 || cfg.KeepExited != 2*time.Minute ||
		!slices.Equal(dirs, []string{mdir}) || cfg.Env["GOMEMLIMIT"] != "512MiB" || cfg.Services["textutil"].Dir != dir ||
		strings.Join(cfg.Services["textutil"].Command, " ") != "dpc-service --concurrency 32 textutil" {
		t.Errorf("example loads as %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

// The agent reports ready, spawns what its config says, and on SIGTERM
// stops its processes and exits 0.
func TestAgent_ReadySpawnAndStopOnSignal(t *testing.T) {
	srv := brokertest.Start(t)
	config := writeFile(t, "agent.yml", fmt.Sprintf("id: file-id\ngrace: 5s\nservices:\n  echo:\n    command: [%q, child]\n", os.Args[0]))
	ag := proctest.Start(t, "dpc-agent", exec.Command(bin, "--config", config, "--id", "host1",
		"--nats", srv.ClientURL(), "--log-format", "json", "--metrics", "127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, ag.Output(), "dpc-agent ready")
	if err != nil {
		t.Fatal(err)
	}
	if rec["id"] != "host1" || rec["services"] != "echo" {
		t.Errorf("ready line %v: want id host1 (the flag wins over the file) and service echo", rec)
	}

	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	p, err := agent.NewClient(node).Spawn(ctx, "host1", agent.SpawnRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 30*time.Second, func() bool {
		pings, _ := node.Ping(ctx, "echo")
		return len(pings) == 1 && pings[0].ID == p.ID
	}, "the spawned child serves as "+p.ID)

	// --metrics 127.0.0.1:0: the ready line says where, and the child is
	// there with its service and instance id.
	metricsURL, _ := rec["metrics"].(string)
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") {
		t.Fatalf("ready line reports metrics %q, want http://127.0.0.1:<port>/metrics", metricsURL)
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`dpc_agent_process_resident_memory_bytes{instance_id=%q,service="echo"}`, p.ID)
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), "go_goroutines ") {
		t.Errorf("/metrics lacks %s or the agent's own go_goroutines:\n%s", want, body)
	}

	if err := ag.Stop(30 * time.Second); err != nil {
		t.Fatalf("dpc-agent exited with %v after SIGTERM", err)
	}
	if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d still there after the agent stopped: %v", p.PID, err)
	}
	for _, msg := range []string{`"msg":"exited"`, `"dpc-agent stopped"`} {
		if !strings.Contains(ag.Output().String(), msg) {
			t.Errorf("no %s in the log", msg)
		}
	}
}

// Started before the hub, the agent keeps trying and binds once the hub is
// up.
func TestAgent_WaitsForTheHub(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ag := proctest.Start(t, "dpc-agent", exec.Command(bin, "--id", "early",
		"--nats", fmt.Sprintf("nats://127.0.0.1:%d", port), "--log-format", "json", "--log-level", "debug", "--metrics="))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := proctest.WaitForLog(ctx, ag.Output(), "hub unreachable; retrying"); err != nil {
		t.Fatal(err)
	}
	brokertest.Start(t, func(c *broker.Config) { c.Port = port })
	if _, err := proctest.WaitForLog(ctx, ag.Output(), "dpc-agent ready"); err != nil {
		t.Fatal(err)
	}
	if err := ag.Stop(30 * time.Second); err != nil {
		t.Fatalf("dpc-agent exited with %v after SIGTERM", err)
	}
}

// readEnv reads what "child envfile" wrote, once it has.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	var data []byte
	brokertest.Eventually(t, 30*time.Second, func() bool {
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

// The agent started with a user and password (as variables, and in its
// hub URL) runs an approved manifest's command for a service, refuses a
// request that brings a command, and gives its child none of its
// credentials.
func TestAgent_ManifestsAndNoCredentials(t *testing.T) {
	srv := brokertest.Start(t)
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	manifests := t.TempDir()
	if err := os.WriteFile(filepath.Join(manifests, "echo.yml"), []byte(fmt.Sprintf(
		"name: echo\nfunctions:\n  - funct_name: nop\ncommand: [%q, child, envfile, %q]\n", self, envFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	hubURL := strings.Replace(srv.ClientURL(), "://", "://agent:url-secret@", 1)
	cmd := exec.Command(bin, "--id", "host1", "--nats", hubURL, "--manifests", manifests, "--allow", self, "--log-format", "json", "--metrics=")
	cmd.Env = append(os.Environ(), "DPC_USER=agent", "DPC_PASSWORD=agent-secret")
	ag := proctest.Start(t, "dpc-agent", cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, ag.Output(), "dpc-agent ready")
	if err != nil {
		t.Fatal(err)
	}
	if rec["manifests"] != "echo" || rec["fallback"] != "" || strings.Contains(fmt.Sprint(rec), "url-secret") {
		t.Errorf("ready line %v: want manifests echo, no fallback, no password", rec)
	}

	node, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	var p agent.Process
	err = node.Lookup(agent.ServiceName).At("host1").Call(ctx, agent.FnSpawn,
		map[string]any{"service": "work", "command": []string{"dpc-service", "work", "--nats", "nats://evil:4222"}}, &p)
	if !errors.Is(err, agent.ErrBadRequest) || !strings.Contains(err.Error(), "request-supplied commands are refused") {
		t.Fatalf("spawn with a command: %v", err)
	}
	p, err = agent.NewClient(node).Spawn(ctx, "host1", agent.SpawnRequest{Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, envFile)
	for _, k := range []string{"DPC_USER", "DPC_PASSWORD", "DPC_TLS_CERT", "DPC_TLS_KEY"} {
		if v, ok := env[k]; ok {
			t.Errorf("the child got %s=%s", k, v)
		}
	}
	if env["NATS_URL"] != srv.ClientURL() || env["DPC_SERVICE"] != "echo" || env["DPC_INSTANCE_ID"] != p.ID {
		t.Errorf("the child got NATS_URL=%q DPC_SERVICE=%q DPC_INSTANCE_ID=%q", env["NATS_URL"], env["DPC_SERVICE"], env["DPC_INSTANCE_ID"])
	}
	brokertest.Eventually(t, 30*time.Second, func() bool {
		pings, _ := node.Ping(ctx, "echo")
		return len(pings) == 1 && pings[0].ID == p.ID
	}, "the manifest's command serves as "+p.ID)
	if err := ag.Stop(30 * time.Second); err != nil {
		t.Fatalf("dpc-agent exited with %v after SIGTERM", err)
	}
}
