package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/omq"
)

// Scale to zero and back with real processes: a hub, one dpc-agent, and
// dpc-provisioner keeping "work" at min 0. Nothing runs while nobody
// calls; a call then waits (omq asks on dpc.wake.work), the provisioner
// has the agent start an instance at once, and the call is answered when
// it binds. After the idle time without calls the instance is stopped,
// and the next call starts one again. The cold-start latency of each
// first call is logged, never asserted (docs/ELASTICITY.md has figures).
func TestZero_ColdStartAndIdleStop(t *testing.T) {
	const idle = 3 * time.Second
	_, url := startHub(t, freePort(t), stateDir(t))
	path := bins.dir + string(os.PathListSeparator) + os.Getenv("PATH")

	manifests := t.TempDir()
	writeFile(t, filepath.Join(manifests, "work.yml"), `name: work
functions:
  - funct_name: work
    return_type: string
command: [dpc-service, work, --service-time, 1ms]
`)
	startAgent(t, url, manifests, path)

	prov := startProvisioner(t, url, fmt.Sprintf(`period: 1s
history: memory
services:
  - name: work
    min: 0
    max: 2
    idle: %s
    policy: fixed
    instances: 1
`, idle))

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
	// A few rounds with no calls: nothing is started.
	eventually(t, 30*time.Second, func() bool { return strings.Count(prov.Output().String(), `"msg":"decision"`) >= 3 },
		"three rounds of the provisioner")
	if n, m := ready(), countRunning(t, agents); n != 0 || m != 0 {
		t.Fatalf("%d instances ready, %d running before any call; want none for a min-0 service", n, m)
	}

	for cycle := 1; cycle <= 2; cycle++ {
		// At a random point of the provisioner's period (1 s), so that
		// the figure covers a wake that comes while a round runs.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		// The cold call waits for an instance longer than omq's default
		// (2 s) so that a slow machine under -race does not fail the
		// test; the figure logged is what matters.
		start := time.Now()
		var got string
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := node.Lookup("work").Call(ctx, "work", nil, &got, omq.WaitForInstance(20*time.Second))
		cold := time.Since(start)
		cancel()
		if err != nil || !strings.HasPrefix(got, "work-e2e-") {
			t.Fatalf("cycle %d: cold call: %q %v; want an answer from an instance the agent started\n%s", cycle, got, err, prov.Output())
		}
		start = time.Now()
		if err := node.Lookup("work").Call(context.Background(), "work", nil, &got, omq.Timeout(10*time.Second)); err != nil {
			t.Fatalf("cycle %d: warm call: %v", cycle, err)
		}
		warm := time.Since(start)
		last := time.Now()
		t.Logf("cycle %d: cold start: first call answered after %v (warm call %v)", cycle, cold.Round(time.Millisecond), warm.Round(10*time.Microsecond))
		if n := countRunning(t, agents); n != 1 {
			t.Fatalf("cycle %d: %d instances running after the cold call, want 1", cycle, n)
		}

		// No calls for the idle time: back to zero.
		eventually(t, 60*time.Second, func() bool { return ready() == 0 && countRunning(t, agents) == 0 },
			"the idle instance to be stopped")
		t.Logf("cycle %d: scaled to zero %v after the last call (idle %v)", cycle, time.Since(last).Round(100*time.Millisecond), idle)
	}
	woken := 0
	for line := range strings.Lines(prov.Output().String()) {
		if strings.Contains(line, "woken: started an instance for a waiting call") {
			woken++
			t.Logf("provisioner: %s", strings.TrimSpace(line))
		}
	}
	if woken != 2 {
		t.Fatalf("the provisioner logged %d wake spawns, want 2:\n%s", woken, prov.Output())
	}
}
