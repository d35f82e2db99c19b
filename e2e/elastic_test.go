package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/omq"
)

// The elasticity loop with real processes: a hub, one dpc-agent, and
// dpc-provisioner keeping the "work" service (20 ms per call, one call at
// a time per instance: 50 calls/s each) sized by queue-wait target
// tracking. The agent runs work by the command of the manifest installed
// in its manifests directory; the provisioner's spawns name the service
// only. A step in offered load that one instance cannot serve makes
// the supervisor add instances until queue wait is back under target; an
// instance killed with -9 is replaced; when the load goes, the service
// shrinks back to its minimum after the stabilisation window.
func TestElastic_ScalesUpReplacesAndScalesDown(t *testing.T) {
	const (
		target = 50 * time.Millisecond
		rate   = 150 // calls/s offered: three instances' worth
	)
	_, url := startHub(t, freePort(t), stateDir(t))
	path := bins.dir + string(os.PathListSeparator) + os.Getenv("PATH")

	manifests := t.TempDir()
	writeFile(t, filepath.Join(manifests, "work.yml"), `name: work
functions:
  - funct_name: work
    return_type: string
command: [dpc-service, work, --service-time, 20ms, --concurrency, "1"]
`)
	startAgent(t, url, manifests, path)

	prov := startProvisioner(t, url, fmt.Sprintf(`period: 1s
history: memory
services:
  - name: work
    min: 1
    max: 6
    policy: target-tracking
    target_tracking: {target: %s, percentile: 90, tolerance: 0.1, down_window: 5s}
`, target))

	node, err := omq.New(connectOwner(t, url))
	if err != nil {
		t.Fatal(err)
	}
	agents := agent.NewClient(node)
	ready := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pings, _ := node.PingWithin(ctx, "work", 200*time.Millisecond)
		return len(pings)
	}
	eventually(t, 30*time.Second, func() bool { return ready() == 1 }, "the provisioner to start the minimum of one instance")
	if p := runningProcess(t, agents); strings.Join(p.Command, " ") != "dpc-service work --service-time 20ms --concurrency 1" {
		t.Fatalf("the instance runs %q, want the approved manifest's command", p.Command)
	}

	// The step: an open-loop load of 150 calls/s, evenly spaced; calls
	// still in flight when it stops may end within their timeout.
	const callTimeout = 10 * time.Second
	rec := loadgen.NewRecorder([]string{"work"}, callTimeout)
	gen := loadgen.NewGenerator(node, rec, loadgen.Config{Function: "work", Timeout: callTimeout, MaxInflight: 4096})
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loadStart := time.Now()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		gen.Run(loadCtx, loadStart, loadgen.EvenArrivals(loadgen.Constant{PerSec: rate, For: time.Hour}))
		gen.Drain(callTimeout)
	}()
	t.Cleanup(func() { stopLoad(); <-loadDone })

	eventually(t, 90*time.Second, func() bool {
		n := ready()
		w := queueWaitP90(node)
		t.Logf("under load: %d instances, mean p90 queue wait %v", n, w)
		return n >= 3 && w > 0 && w <= target
	}, "the supervisor to add instances until queue wait is back under the target")

	// Kill one instance with -9: it is replaced.
	victim := runningProcess(t, agents)
	before := countRunning(t, agents)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(t, prov, "instance died; replacing it")
	eventually(t, 30*time.Second, func() bool {
		st, err := agents.List(context.Background(), 300*time.Millisecond)
		if err != nil || len(st) != 1 {
			return false
		}
		running, replaced := 0, false
		for _, p := range st[0].Processes {
			if p.State == agent.StateRunning {
				running++
				if p.Started.After(victim.Started) && p.ID != victim.ID {
					replaced = true
				}
			}
		}
		return replaced && running >= before-1 && running >= 3
	}, "the killed instance to be replaced")

	// The load goes: back to the minimum after the down window.
	stopLoad()
	<-loadDone
	eventually(t, 60*time.Second, func() bool { return ready() == 1 && countRunning(t, agents) == 1 },
		"the service to shrink back to one instance")
	secs := int(time.Since(loadStart)/time.Second) + 1
	offered := loadgen.Summarize("work", "", rec.Rows(loadgen.Constant{PerSec: rate, For: time.Hour}, 0, secs, target)[0], nil, 0, secs, target)
	if offered.Calls == 0 {
		t.Fatal("no load was offered")
	}
	t.Logf("offered %d calls, %d failed", offered.Calls, offered.Errors+offered.Timeouts+offered.Dropped)

	// Every decision is logged with its reason.
	var up, down bool
	for line := range strings.Lines(prov.Output().String()) {
		if strings.Contains(line, `"msg":"decision"`) && strings.Contains(line, `"reason":`) {
			up = up || strings.Contains(line, `"action":"up"`)
			down = down || strings.Contains(line, `"action":"down"`)
		}
	}
	if !up || !down {
		t.Fatalf("provisioner log lacks decisions up (%v) and down (%v) with reasons:\n%s", up, down, prov.Output())
	}
}

func waitLog(t *testing.T, p *proctest.Process, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := proctest.WaitForLog(ctx, p.Output(), msg); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// queueWaitP90 is the mean over the instances of their p90 queue wait
// (their last calls within 5 s), read straight from $SRV.STATS.
func queueWaitP90(node *omq.Node) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := node.StatsWithin(ctx, "work", 300*time.Millisecond)
	if err != nil || len(stats) == 0 {
		return 0
	}
	var sum float64
	for _, s := range stats {
		sum += s.Data.QueueWaitP90
	}
	return time.Duration(sum / float64(len(stats)) * float64(time.Second))
}

func runningProcess(t *testing.T, agents *agent.Client) agent.Process {
	t.Helper()
	st, err := agents.List(context.Background(), 300*time.Millisecond)
	if err != nil || len(st) == 0 {
		t.Fatalf("agent list: %v", err)
	}
	for _, p := range st[0].Processes {
		if p.State == agent.StateRunning {
			return p
		}
	}
	t.Fatalf("no running instance in %+v", st)
	return agent.Process{}
}

func countRunning(t *testing.T, agents *agent.Client) int {
	t.Helper()
	st, err := agents.List(context.Background(), 300*time.Millisecond)
	if err != nil || len(st) == 0 {
		return -1
	}
	n := 0
	for _, p := range st[0].Processes {
		if p.State == agent.StateRunning {
			n++
		}
	}
	return n
}

// startAgent runs dpc-agent "e2e" on the hub at url, starting the
// manifests in dir with dpc-service found in path, and waits until it is
// ready.
func startAgent(t *testing.T, url, dir, path string) *proctest.Process {
	t.Helper()
	ag := exec.Command(bins.agent, "--nats", url, "--id", "e2e", "--manifests", dir, "--allow", "dpc-service", "--grace", "2s", "--log-format", "json", "--metrics=")
	ag.Env = append(os.Environ(), "PATH="+path)
	p := proctest.Start(t, "dpc-agent", ag)
	waitLog(t, p, "dpc-agent ready")
	return p
}

// startProvisioner runs dpc-provisioner on the hub at url with config as
// its YAML file, and waits until it is ready.
func startProvisioner(t *testing.T, url, config string) *proctest.Process {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "provisioner.yml")
	writeFile(t, cfg, config)
	p := proctest.Start(t, "dpc-provisioner", exec.Command(bins.provisioner, "--nats", url, "--config", cfg,
		"--metrics", "127.0.0.1:0", "--log-format", "json"))
	waitLog(t, p, "dpc-provisioner ready")
	return p
}
