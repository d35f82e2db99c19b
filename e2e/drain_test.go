package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/omq"
)

// drainSetup runs a dpc-hub with extra flags, and one dpc-service
// instance of work under name with serviceArgs (--service-time …), as a
// client of its own. It returns the hub, an omq node of the owner's (the caller)
// and the instance's id once the instance answers.
func drainSetup(t *testing.T, name string, serviceArgs []string, hubArgs ...string) (*proctest.Process, *omq.Node, string) {
	t.Helper()
	args := append([]string{"--host", "127.0.0.1", fmt.Sprintf("--port=%d", freePort(t)),
		"--http-port=0", "--metrics=", "--data", t.TempDir(), "--log-format", "json"}, hubArgs...)
	hub, url := waitHub(t, exec.Command(bins.hub, args...))
	proctest.Start(t, "dpc-service "+name, exec.Command(bins.service,
		append(append([]string{"--nats", url, "--name", name}, serviceArgs...), "work")...))
	node, err := omq.New(connectOwner(t, url))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pings, _ := node.Ping(ctx, name)
		if len(pings) == 1 {
			id = pings[0].ID
		}
		return id != ""
	}, "the "+name+" instance to answer")
	return hub, node, id
}

type callResult struct {
	id  string
	err error
}

// callsInFlight starts n calls of name.work and returns once every one
// has reached the instance (it counts them offered) and one runs: the
// others wait in its queue or, refused while it is busy, at their
// callers, who send them again. Each result arrives on the channel.
func callsInFlight(t *testing.T, node *omq.Node, name string, n int, timeout time.Duration) <-chan callResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan callResult, n)
	for range n {
		go func() {
			var r callResult
			r.err = node.Lookup(name).Call(ctx, "work", nil, &r.id, omq.Timeout(timeout))
			done <- r
		}()
	}
	eventually(t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, _ := node.Stats(ctx, name)
		return len(st) == 1 && st[0].Data.Offered >= int64(n) && st[0].Data.InFlight >= 1
	}, "the calls to be in flight on the instance")
	return done
}

// logLine is the hub's JSON log line whose msg is msg, from output that is
// complete (the process has exited).
func logLine(t *testing.T, p *proctest.Process, msg string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), msg)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return rec
}

// nanos reads a duration from a JSON log line (slog writes nanoseconds).
func nanos(v any) time.Duration {
	f, _ := v.(float64)
	return time.Duration(f)
}

// A hub stopped with SIGTERM while calls to an extra service (a separate
// process, connected as a client) are in flight lets them finish: one
// running and two waiting for it — queued at an instance that serves one
// at a time, or refused by it and held by their callers, who keep sending
// them again while the hub drains. Their callers get their results, then
// the hub exits 0.
func TestDrain_CallsInFlightFinish(t *testing.T) {
	const calls = 3
	hub, node, id := drainSetup(t, "drain-slow", []string{"--service-time", "1s", "--concurrency", "1"})
	done := callsInFlight(t, node, "drain-slow", calls, 20*time.Second)
	if err := hub.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range calls {
		select {
		case r := <-done:
			if r.err != nil || r.id != id {
				t.Fatalf("call in flight across the hub's stop: %q, %v; want %q", r.id, r.err, id)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a call in flight did not return within 30s of the hub's stop")
		}
	}
	if err := hub.Wait(30 * time.Second); err != nil {
		t.Fatalf("the hub exited with %v, want 0", err)
	}
	// The snapshot counts what runs or waits at the instance; calls held
	// by their callers are waited for while the instance keeps refusing.
	rec := logLine(t, hub, "draining: waiting for calls in flight")
	if n, _ := rec["calls"].(float64); n < 1 || rec["instances"] != 1.0 {
		t.Errorf("the hub waited for %v calls on %v instances, want 1 or more on 1", rec["calls"], rec["instances"])
	}
	rec = logLine(t, hub, "draining: calls in flight finished")
	t.Logf("the hub waited %v for %d calls in flight", nanos(rec["took"]), calls)
}

// The drain timeout bounds the wait: with a call that outlasts it, the
// hub stops after --drain-timeout and says how many calls it cut.
func TestDrain_TimeoutBoundsTheWait(t *testing.T) {
	hub, node, _ := drainSetup(t, "drain-hang", []string{"--service-time", "1h"}, "--drain-timeout", "1s")
	done := callsInFlight(t, node, "drain-hang", 1, time.Minute)
	if err := hub.Stop(30 * time.Second); err != nil {
		t.Fatalf("the hub exited with %v, want 0", err)
	}
	rec := logLine(t, hub, "draining: timed out with calls in flight")
	if rec["calls"] != 1.0 {
		t.Errorf("the hub reports %v calls cut, want 1", rec["calls"])
	}
	t.Logf("the hub gave up on the call after %v", nanos(rec["after"]))
	select {
	case r := <-done:
		if r.err == nil {
			t.Errorf("a call that never ends returned %q", r.id)
		}
	default: // still waiting on a hub that is gone: it ends at cleanup
	}
}

// A second SIGTERM during the drain stops the hub at once, long before
// its drain timeout.
func TestDrain_SecondSignalStopsAtOnce(t *testing.T) {
	hub, node, _ := drainSetup(t, "drain-stuck", []string{"--service-time", "1h"}, "--drain-timeout", "10m")
	callsInFlight(t, node, "drain-stuck", 1, time.Minute)
	if err := hub.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, hub, "draining: waiting for calls in flight")
	if err := hub.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := hub.Wait(30 * time.Second); !errors.As(err, &ee) {
		t.Fatalf("after a second SIGTERM the hub exited with %v, want an exit by the signal", err)
	}
}
