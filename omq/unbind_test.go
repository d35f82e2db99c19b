package omq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
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
