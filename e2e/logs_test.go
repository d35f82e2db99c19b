package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/logstream"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
)

// Logs in one place: a service's records, published by the service
// itself, are shown by dpc-cli logs from the hub's window, as text and as
// JSON lines; the hub's own are there too; -f follows new ones until
// Ctrl-C, which ends it cleanly.
func TestLogs(t *testing.T) {
	hub, url := startHub(t, freePort(t), t.TempDir())
	startService(t, url, "tst")

	var r result
	eventually(t, 30*time.Second, func() bool {
		r = cli(t, url, "logs", "--service", "tst")
		return r.code == 0 && strings.Contains(r.stdout, " starting ")
	}, "the service's startup record in dpc-cli logs --service tst")
	for line := range strings.Lines(r.stdout) {
		if !strings.Contains(line, " service/tst/") {
			t.Fatalf("a line not of tst: %q", line)
		}
	}

	r = cli(t, url, "--json", "logs", "--service", "tst", "--level", "info")
	if r.code != 0 {
		t.Fatalf("logs --json: %+v", r)
	}
	n := 0
	for line := range strings.Lines(r.stdout) {
		var rec logstream.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("logs --json line %q: %v", line, err)
		}
		if rec.Kind != "service" || rec.Name != "tst" || rec.Instance == "" || rec.Time.IsZero() || rec.Level == "" {
			t.Fatalf("record %+v", rec)
		}
		if rec.Msg == "starting" && rec.Attrs["service"] != "tst" {
			t.Fatalf("startup record's attributes: %v", rec.Attrs)
		}
		n++
	}
	if n == 0 {
		t.Fatal("logs --json: no records")
	}

	if r = cli(t, url, "logs", "--kind", "hub"); r.code != 0 || !strings.Contains(r.stdout, "dpc-hub ready") {
		t.Fatalf("the hub's own records: %+v\nhub:\n%s", r, hub.Output())
	}
	if r = cli(t, url, "logs", "--limit", "5000"); r.code != 2 {
		t.Fatalf("--limit 5000: exit %d, want 2: %+v", r.code, r)
	}

	// Follow: a second instance's startup record arrives while following.
	cmd := exec.Command(bins.cli, "--nats", url, "logs", "-f", "--service", "tst", "--limit", "1")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+stateDir(t))
	follower := proctest.Start(t, "dpc-cli logs -f", cmd)
	eventually(t, 30*time.Second, func() bool { return strings.Contains(follower.Output().String(), " service/tst/") },
		"the follower shows the latest record")
	before := strings.Count(follower.Output().String(), " starting ")
	startService(t, url, "tst")
	eventually(t, 30*time.Second, func() bool { return strings.Count(follower.Output().String(), " starting ") > before },
		"the follower shows the second instance's startup record")
	if err := follower.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := follower.Wait(15 * time.Second); err != nil {
		t.Fatalf("logs -f after Ctrl-C: %v (want exit 0)\n%s", err, follower.Output())
	}
}

// An instance an agent starts publishes its own records, under its
// service and instance id; the agent publishes its own under its enrolled
// identity's name (the one its role may publish under), and not the
// instance's output it forwards to its stderr, so no record shows twice.
func TestLogs_AgentInstance(t *testing.T) {
	_, url := startHub(t, freePort(t), stateDir(t))
	path := bins.dir + string(os.PathListSeparator) + os.Getenv("PATH")
	manifests := t.TempDir()
	writeFile(t, filepath.Join(manifests, "tst.yml"), `name: tst
functions:
  - funct_name: add
    args_list: [{arg_name: a, arg_type: int}, {arg_name: b, arg_type: int}]
    return_type: int
command: [dpc-service, tst]
`)
	ag := startAgent(t, url, manifests, path)
	node, err := omq.New(connectOwner(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := agent.NewClient(node).Spawn(ctx, "e2e", agent.SpawnRequest{Service: "tst", ID: "tst-logs-1"})
	if err != nil {
		t.Fatalf("spawn: %v\n%s", err, ag.Output())
	}
	eventually(t, 30*time.Second, func() bool {
		r := cli(t, url, "logs", "--service", "tst", "--instance", p.ID)
		return r.code == 0 && strings.Contains(r.stdout, " starting ")
	}, "the instance's own startup record")
	eventually(t, 30*time.Second, func() bool {
		r := cli(t, url, "logs", "--kind", "agent")
		return r.code == 0 && strings.Contains(r.stdout, "agent/agent-e2e/") && strings.Contains(r.stdout, "dpc-agent ready")
	}, "the agent's records under its identity's name")
	if !strings.Contains(ag.Output().String(), `"msg":"output"`) {
		t.Fatalf("the agent forwarded none of the instance's output:\n%s", ag.Output())
	}
	r := cli(t, url, "--json", "logs", "--limit", "1000")
	if r.code != 0 {
		t.Fatalf("logs: %+v", r)
	}
	starting := 0
	for line := range strings.Lines(r.stdout) {
		var rec struct{ Msg, Kind, Name string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if rec.Kind == "agent" && rec.Msg == "output" {
			t.Fatalf("the agent published a forwarded line: %s", line)
		}
		if rec.Kind == "service" && rec.Msg == "starting" {
			starting++
		}
	}
	if starting != 1 {
		t.Fatalf("%d startup records of the one instance, want 1:\n%s", starting, r.stdout)
	}
}

// A paired device reads the logs (of a service started by the owner)
// through the hub; a service identity may not, and is told so.
func TestLogs_FromADevice(t *testing.T) {
	owner := newMachine(t)
	_, url := startOwnHub(t, owner)
	proctest.Start(t, "dpc-service tst", owner.command(nil, bins.service, "tst"))
	pairAs := func(name, role string) *machine {
		t.Helper()
		r := owner.cli(t, "--json", "devices", "add", name, "--role", role)
		var add struct{ Code string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &add) != nil {
			t.Fatalf("devices add %s: %+v", name, r)
		}
		m := newMachine(t)
		if r := m.cli(t, "pair", add.Code, "--hub", url); r.code != 0 {
			t.Fatalf("pair %s: %+v", name, r)
		}
		return m
	}
	laptop := pairAs("laptop", "device")
	eventually(t, 30*time.Second, func() bool {
		r := laptop.cli(t, "logs", "--service", "tst")
		return r.code == 0 && strings.Contains(r.stdout, " starting ")
	}, "the device reads the service's records")

	svc := pairAs("tst-box", "service:tst")
	if r := svc.cli(t, "--timeout", "2s", "logs"); r.code != 6 || !strings.Contains(r.stderr, "only the owner and devices") {
		t.Fatalf("a service reading the logs: exit %d %q, want 6 (denied)", r.code, r.stderr)
	}
}
