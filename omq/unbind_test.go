package omq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// Unbind lets calls already delivered finish, then the name has no
// responders.
func TestInstance_UnbindDrainsInFlightCalls(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	c := &Calc{}
	inst := bind(t, n, "calc", c)
	cli, _ := e.node()

	calls := make([]*omq.Call, 5)
	for i := range calls {
		calls[i] = cli.Lookup("calc").Go(context.Background(), "sleep", omq.Args(200), nil, nil, omq.Timeout(10*time.Second))
	}
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 5 }, "5 calls in flight")
	if err := inst.Unbind(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		<-call.Done
		if call.Error != nil {
			t.Fatalf("call %d in flight at unbind: %v", i, call.Error)
		}
	}
	if err := cli.Lookup("calc").Call(ctxT(t, 5*time.Second), "nop", nil, nil); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("after unbind: %v, want ErrNoResponders", err)
	}
	if err := inst.Unbind(ctxT(t, time.Second)); err != nil {
		t.Fatalf("second unbind: %v", err)
	}
}

// If Unbind's context ends first, handlers see their contexts cancelled
// and Unbind says how many calls were still running.
func TestInstance_UnbindGivesUpAtItsDeadline(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	inst := bind(t, n, "calc", &Calc{})
	cli, _ := e.node()
	call := cli.Lookup("calc").Go(context.Background(), "sleep", omq.Args(60_000), nil, nil, omq.Timeout(time.Minute))
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 1 }, "call in flight")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := inst.Unbind(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	<-call.Done // the handler saw its context cancelled and returned
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 0 }, "handler to stop")
}

// Node.Close unbinds everything and refuses new binds.
func TestNode_CloseUnbindsAll(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "a", &Calc{})
	bind(t, n, "b", &Calc{})
	cli, _ := e.node()
	if err := n.Close(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := cli.Lookup(name).Call(ctxT(t, 5*time.Second), "nop", nil, nil); !errors.Is(err, omq.ErrNoResponders) {
			t.Fatalf("%s after close: %v", name, err)
		}
	}
	if _, err := n.Bind(ctxT(t, 5*time.Second), "c", &Calc{}); !errors.Is(err, omq.ErrClosed) {
		t.Fatalf("bind after close: %v, want ErrClosed", err)
	}
	if err := n.Close(ctxT(t, time.Second)); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// Issue 9.5: an instance stops answering $SRV at the start of its drain,
// so a MultiCall (which counts instances by PING) does not wait for it,
// while the call it already has finishes.
func TestInstance_DrainingInstanceLeavesDiscoveryAtOnce(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	handlers := omq.Handlers{
		"block": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			started <- struct{}{}
			<-release
			return "done", nil
		}),
		"who": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) { return r.Instance, nil }),
	}
	a, _ := e.node()
	b, _ := e.node()
	instA := bind(t, a, "svc", handlers, omq.NoDurable())
	instB := bind(t, b, "svc", handlers, omq.NoDurable())
	cli, nc := e.node()

	var res string
	call := cli.Lookup("svc").At(instA.ID()).Go(context.Background(), "block", nil, &res, nil, omq.Timeout(time.Minute))
	<-started
	unbound := make(chan error, 1)
	go func() { unbound <- instA.Unbind(ctxT(t, time.Minute)) }()

	for _, verb := range []string{"PING", "INFO", "STATS"} {
		subject := "$SRV." + verb + ".svc." + instA.ID()
		waitFor(t, func() bool {
			_, err := nc.Request(subject, nil, time.Second)
			return errors.Is(err, nats.ErrNoResponders)
		}, "the draining instance to stop answering "+subject)
	}
	replies, err := cli.Lookup("svc").MultiCall(ctxT(t, time.Minute), "who", nil, omq.Timeout(30*time.Second))
	if err != nil || len(replies) != 1 || replies[0].Instance != instB.ID() {
		t.Fatalf("multi call while A drains: %v, %+v; want B's reply alone", err, replies)
	}
	select {
	case err := <-unbound:
		t.Fatalf("Unbind returned (%v) with a call still running", err)
	default:
	}
	close(release)
	<-call.Done
	if call.Error != nil || res != "done" {
		t.Fatalf("the call in flight at unbind: %q, %v", res, call.Error)
	}
	if err := <-unbound; err != nil {
		t.Fatal(err)
	}
}
