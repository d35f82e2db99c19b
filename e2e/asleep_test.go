package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/omq"
)

// A service scaled to zero stays callable through the catalog, also
// across a hub restart: a hub, one dpc-agent and dpc-provisioner as real
// processes keep "work" at min 0 (its manifest says so, and the instance
// carries it in its $SRV metadata). After its first call and an idle
// stop, dpc-cli lists it asleep, and `dpc-cli call` sends the call whose
// wake starts an instance, and gets the answer.
func TestAsleep_CLICallsServiceScaledToZero(t *testing.T) {
	const idle = 2 * time.Second
	port, data := freePort(t), stateDir(t)
	hub, url := startHub(t, port, data)
	path := bins.dir + string(os.PathListSeparator) + os.Getenv("PATH")

	dir := t.TempDir()
	manifest := filepath.Join(dir, "work.yml")
	writeFile(t, manifest, fmt.Sprintf(`name: work
version: 1.0.0
functions:
  - funct_name: work
    return_type: string
command: [dpc-service, work, --manifest, %s, --service-time, 1ms]
scaling:
  min: 0
  max: 1
`, manifest))
	startAgent(t, url, dir, path)
	prov := startProvisioner(t, url, fmt.Sprintf(`period: 1s
history: memory
services:
  - name: work
    min: 0
    max: 1
    idle: %s
    policy: fixed
    instances: 1
`, idle))

	node, err := omq.New(connectOwner(t, url))
	if err != nil {
		t.Fatal(err)
	}
	agents := agent.NewClient(node)
	// The first call comes from omq: the catalog has never seen the
	// service.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got string
	if err := node.Lookup("work").Call(ctx, "work", nil, &got, omq.WaitForInstance(20*time.Second)); err != nil {
		t.Fatalf("first call: %v\n%s", err, prov.Output())
	}
	eventually(t, 30*time.Second, func() bool { return funcs(t, url)["work.work"] == 1 }, "the catalog to list work")

	state := func() (listed, asleep bool) {
		r := cli(t, url, "--json", "funcs")
		var fs []struct {
			Name   string `json:"name"`
			Asleep bool   `json:"asleep"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &fs) != nil {
			return false, false
		}
		for _, f := range fs {
			if f.Name == "work.work" {
				return true, f.Asleep
			}
		}
		return false, false
	}
	asleep := func() bool { listed, a := state(); return listed && a }
	call := func(what string) {
		t.Helper()
		start := time.Now()
		r := cli(t, url, "call", "work.work")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "work-e2e-") {
			t.Fatalf("%s: dpc-cli call work.work: %+v\nprovisioner:\n%s", what, r, prov.Output())
		}
		t.Logf("%s: dpc-cli call answered after %v", what, time.Since(start).Round(time.Millisecond))
	}

	// Idle: scaled to zero, and listed asleep.
	eventually(t, 60*time.Second, func() bool { return countRunning(t, agents) == 0 && asleep() }, "work stopped and listed asleep")
	if r := cli(t, url, "funcs"); r.code != 0 || !strings.Contains(r.stdout, "asleep") {
		t.Fatalf("funcs: %+v", r)
	}
	call("asleep")

	// Asleep again, then the hub restarts: still listed, still callable.
	eventually(t, 60*time.Second, func() bool { return countRunning(t, agents) == 0 && asleep() }, "work asleep again")
	if err := hub.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	startHub(t, port, data)
	eventually(t, 30*time.Second, asleep, "work listed asleep after the hub restart")
	// The provisioner may reconnect after the call starts: the call
	// keeps sending its wake while it waits.
	call("asleep after a hub restart")
}
