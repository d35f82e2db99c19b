package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/trust"
)

const orderManifest = `
name: orders
version: 1.0.0
description: Takes orders, durably; refuses them while closed.
functions:
  - funct_name: take
    description: Take order n.
    args_list:
      - {arg_name: n, arg_type: int, arg_description: Order number}
    app_list: [test]
`

// orders is a service whose take refuses every order with a 400 while
// closed, and counts the runs per order.
type orders struct {
	closed atomic.Bool
	mu     sync.Mutex
	runs   map[int64]int
}

func (o *orders) service(t *testing.T) servicehost.Service {
	m, err := manifests.Parse("orders.yml", []byte(orderManifest))
	if err != nil {
		t.Fatal(err)
	}
	return servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"take": omq.HandlerFunc(func(_ context.Context, req *omq.Request) (any, error) {
			var args []int64
			if err := json.Unmarshal(req.Args, &args); err != nil || len(args) != 1 {
				return nil, omq.Errorf(omq.CodeBadArguments, "want [n]")
			}
			o.mu.Lock()
			o.runs[args[0]]++
			o.mu.Unlock()
			if o.closed.Load() {
				return nil, omq.Errorf(omq.CodeBadArguments, "the shop is closed, order %d refused", args[0])
			}
			return nil, nil
		}),
	}}
}

func (o *orders) ran(n int64) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.runs[n]
}

func deadTotal(t *testing.T, url string) int {
	t.Helper()
	var rep trust.DeadListReply
	decodeJSON(t, check(t, url, 0, nil, nil, "dead", "list", "--json"), &rep)
	return rep.Total
}

// The owner lists the durable calls a service refused, replays one (it
// runs once more), and purges the rest; a device may not.
func TestDead_ListReplayPurge(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	u := h.url
	o := &orders{runs: map[int64]int{}}
	o.closed.Store(true)
	startService(t, u, o.service(t))
	waitCatalog(t, u, "orders.take", true)

	nc := connectOwner(t, u)
	defer nc.Close()
	sender, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1, 2} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := sender.Lookup("orders").Send(ctx, "take", omq.Args(n), omq.Durable())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	brokertest.Eventually(t, waitLong, func() bool { return deadTotal(t, u) == 2 }, "two refused orders in the dead letters")

	check(t, u, 0, []string{"ID", "orders.take", "400: the shop is closed, order 1 refused", "orders.take"}, nil, "dead", "list")
	check(t, u, 0, []string{"No dead letters."}, nil, "dead", "list", "--service", "other")
	var rep trust.DeadListReply
	decodeJSON(t, check(t, u, 0, nil, nil, "dead", "list", "--json", "--limit", "1"), &rep)
	if len(rep.Letters) != 1 || !rep.More || rep.Total != 2 || rep.Letters[0].Service != "orders" || rep.Letters[0].Code != 400 {
		t.Fatalf("dead list --limit 1: %+v", rep)
	}
	first := strconv.FormatUint(rep.Letters[0].ID, 10)
	// Both ran at once: the first letter is for either order.
	var replayed int64
	if _, err := fmt.Sscanf(rep.Letters[0].Reason, "400: the shop is closed, order %d refused", &replayed); err != nil {
		t.Fatalf("reason %q: %v", rep.Letters[0].Reason, err)
	}

	// Bad usage, and ids that are not there.
	check(t, u, exitUsage, nil, []string{"--all"}, "dead", "replay")
	check(t, u, exitUsage, nil, []string{"not both"}, "dead", "purge", "1", "--all")
	check(t, u, exitUsage, nil, []string{"--limit"}, "dead", "list", "--limit", "5000")
	check(t, u, exitError, []string{"Purged 0 dead letters."}, []string{"999999: no such dead letter"}, "dead", "purge", "999999")

	// The shop opens: that order is replayed and taken, once more.
	o.closed.Store(false)
	check(t, u, 0, []string{"Replayed 1 dead letters."}, nil, "dead", "replay", first)
	brokertest.Eventually(t, waitLong, func() bool { return o.ran(replayed) == 2 && deadTotal(t, u) == 1 }, "the replayed order taken")

	// A device may not see them.
	creds := filepath.Join(t.TempDir(), "phone.creds")
	check(t, u, 0, nil, nil, "devices", "add", "phone", "--write-creds", creds)
	var stdout, stderr proctest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	args := []string{"--nats", u, "--creds", creds, "--tls-ca", filepath.Join(filepath.Dir(creds), "hub-ca.pem"), "dead", "list"}
	if code := run(ctx, args, streams{in: strings.NewReader(""), out: &stdout, err: &stderr}); code != exitDenied ||
		!strings.Contains(stderr.String(), "only an owner may manage dead letters") {
		t.Fatalf("dead list as a device: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitDenied, stdout.String(), stderr.String())
	}

	var out deadOutcome
	decodeJSON(t, check(t, u, 0, nil, nil, "dead", "purge", "--all", "--service", "orders", "--json"), &out)
	if out.Done != 1 || len(out.Skipped) != 0 {
		t.Fatalf("dead purge --all: %+v", out)
	}
	check(t, u, 0, []string{"No dead letters."}, nil, "dead", "list")
	if r := o.ran(3 - replayed); r != 1 {
		t.Fatalf("the purged order ran %d times, want once", r)
	}
}
