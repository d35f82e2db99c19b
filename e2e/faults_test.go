package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
)

// Issue 9's evidence for one hub: the faults docs/RELIABILITY.md lists,
// injected into real processes under load, with the figures it quotes. A
// client in-process calls tst.add (idempotent, two loops), sends durable
// calls to a recorder bound on its own connection, and saves and reads a
// note; tst runs as two dpc-service processes.
func TestSingleHub_Faults(t *testing.T) {
	if testing.Short() {
		t.Skip("a hub and services as processes under load")
	}
	began := time.Now()
	m := newMachine(t)
	ports := freePorts(t, 2)
	h := &clusterHub{name: "hub", dir: filepath.Join(t.TempDir(), "hub"), port: ports[0], httpPt: ports[1],
		url: fmt.Sprintf("tls://127.0.0.1:%d", ports[0]), single: true}
	c := &hubCluster{m: m, hubs: []*clusterHub{h}}
	h.start(t, c)
	h.waitReady(t, 45*time.Second)

	tst := func(name string) *proctest.Process {
		return proctest.Start(t, name, m.command(nil, bins.service, "--nats", h.url, "--log-format", "json", "tst"))
	}
	replica1 := tst("dpc-service tst 1")
	tst("dpc-service tst 2")
	cl := c.connect(t, "e2e client", h.url)
	clients := []*clusterClient{cl}
	waitInstances(t, cl.node, "tst", 2)
	rec := newRecorder()
	rec.bindAll(t, clients)
	rev, _, _, err := saveNote(cl.hub(), "fault.txt", "start", 0)
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	note := noteState{name: "fault.txt", rev: rev, content: "start"}

	// ---- A replica killed (kill -9) while idempotent calls go on ----
	led := &ledger{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { addLoad(ctx, cl, 0, led) })
	}
	eventually(t, 20*time.Second, func() bool { return led.everyClientDidKind(1, "add", 50) }, "calls before the kill")
	killAt := time.Now()
	replica1.Kill()
	eventually(t, 30*time.Second, func() bool { return led.succeededSince("add", killAt) >= 300 }, "300 calls after the kill")
	stop()
	waitGroup(t, &wg, 30*time.Second, "the callers")
	replica := led.figures(1, killAt, rec)
	t.Logf("replica kill -9: idempotent calls %d, failed %d, slowest %s, longest gap between successes %s",
		replica.adds, replica.addFailed, replica.addMax.Round(time.Millisecond), replica.gap["add"].Round(time.Millisecond))
	if replica.addFailed != 0 {
		t.Errorf("%d of %d idempotent calls failed across a replica's kill; want 0: %v", replica.addFailed, replica.adds, led.firstErrors("add", 3))
	}

	// ---- The hub killed (kill -9) under load, down for 2 s, restarted ----
	led = &ledger{}
	ctx, stop = context.WithCancel(context.Background())
	for range 2 {
		wg.Go(func() { addLoad(ctx, cl, 0, led) })
	}
	wg.Go(func() { durableLoad(ctx, cl, 0, led) })
	wg.Go(func() { note = noteLoad(ctx, cl, 0, led, note) })
	eventually(t, 20*time.Second, func() bool { return led.everyClientDid(1, 20) }, "calls, sends and note saves before the kill")
	killAt = time.Now()
	h.proc.Kill()
	time.Sleep(2 * time.Second) // the outage: a machine rebooting, a hub upgraded
	restartAt := time.Now()
	h.start(t, c)
	h.waitReady(t, 45*time.Second)
	ready := time.Since(restartAt)
	if !within(30*time.Second, func() bool { return led.everyClientSucceededSince(1, restartAt.Add(ready)) }) {
		t.Fatalf("not within 30s: calls, sends and note operations succeed again after the hub's restart; without a success since:\n%s", led.stalled(1, restartAt.Add(ready)))
	}
	recovered := map[string]time.Duration{}
	for _, k := range kinds {
		recovered[k] = led.firstSuccessAfter(k, killAt).Sub(killAt)
	}
	eventually(t, 10*time.Second, func() bool { return led.succeededSince("add", time.Now().Add(-time.Second)) >= 20 }, "load after the restart")
	stop()
	waitGroup(t, &wg, 60*time.Second, "the load's workers")
	sent := led.sentIDs()
	eventually(t, 30*time.Second, func() bool { return rec.missing(sent) == 0 }, fmt.Sprintf("every durable call sent is handled (%d missing)", rec.missing(sent)))
	hub := led.figures(1, killAt, rec)
	hub.log(t, "hub kill -9")
	t.Logf("hub kill -9: restarted 2 s after, ready in %s; first success after the kill: call %s, durable send %s, note %s",
		ready.Round(time.Millisecond), recovered["add"].Round(time.Millisecond), recovered["durable"].Round(time.Millisecond), recovered["note"].Round(time.Millisecond))
	if hub.lost != 0 || hub.durableUnsent != 0 {
		t.Errorf("across the hub's kill: %d durable calls lost, %d never acknowledged: %v", hub.lost, hub.durableUnsent, led.firstErrors("durable", 3))
	}
	if hub.addFailed != 0 {
		t.Errorf("%d of %d idempotent calls failed across the hub's kill and restart; want 0: %v", hub.addFailed, hub.adds, led.firstErrors("add", 3))
	}
	if hub.noteFailed != 0 {
		t.Errorf("%d of %d note operations failed even when retried: %v", hub.noteFailed, hub.noteOps, led.firstErrors("note", 3))
	}
	var text string
	if err := cl.hub().Call(context.Background(), "get", []any{note.name, 0}, &text); err != nil || text != note.content {
		t.Errorf("the note after the restart: %q %v; want %q", text, err, note.content)
	}
	t.Logf("the whole test took %s", time.Since(began).Round(time.Millisecond))
}
