package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
// DPC_INSTANCE_ID until SIGTERM.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child())
	}
	os.Exit(proctest.RunWithBinaries(m, func(b map[string]string) { bin = b["./cmd/dpc-agent"] }, "./cmd/dpc-agent"))
}

func child() int {
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
	for _, w := range []string{"max_processes: 16", "command: [/usr/local/bin/dpc-service, tst]", "--allow", "Exit codes"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	dir := t.TempDir()
	path := writeFile(t, "agent.yml", strings.ReplaceAll(exampleConfig, "/var/lib/dpc", dir))
	cfg := agent.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "nas" || cfg.Grace != 15*time.Second || cfg.MaxProcesses != 16 || cfg.KeepExited != 2*time.Minute ||
		cfg.Env["DPC_USER"] != "services" || cfg.Services["textutil"].Dir != dir ||
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
		"--nats", srv.ClientURL(), "--log-format", "json"))
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
		"--nats", fmt.Sprintf("nats://127.0.0.1:%d", port), "--log-format", "json", "--log-level", "debug"))
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
