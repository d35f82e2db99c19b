package omq_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
)

func TestStub_CallReturnsResult(t *testing.T) {
	e := newEnv(t)
	srvNode, _ := e.node()
	bind(t, srvNode, "calc", &Calc{})
	cli, _ := e.node()
	ctx := ctxT(t, 10*time.Second)

	var sum int
	if err := cli.Lookup("calc").Call(ctx, "add", omq.Args(2, 3), &sum); err != nil {
		t.Fatal(err)
	}
	if sum != 5 {
		t.Fatalf("add(2,3) = %d, want 5", sum)
	}
	// A function with no result replies null; reply may be nil.
	if err := cli.Lookup("calc").Call(ctx, "nop", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestStub_CallByName(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "calc", &Calc{}, omq.ArgNames("add", "a", "b"))
	ctx := ctxT(t, 10*time.Second)
	var sum int
	if err := n.Lookup("calc").Call(ctx, "add", map[string]int{"a": 40, "b": 2}, &sum); err != nil || sum != 42 {
		t.Fatalf("add by name = %d, %v; want 42", sum, err)
	}
	err := n.Lookup("calc").Call(ctx, "add", map[string]int{"a": 1, "c": 2}, &sum)
	if !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("missing argument b: got %v, want a 400 naming b", err)
	}
}

func TestStub_CallErrors(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "calc", &Calc{})
	stub := n.Lookup("calc")

	tests := []struct {
		name     string
		fn       string
		args     any
		wantIs   error
		wantText string
	}{
		{"wrong type", "add", omq.Args("two", 3), omq.ErrBadArguments, "argument 1"},
		{"too few", "add", omq.Args(1), omq.ErrBadArguments, "takes 2 arguments"},
		{"malformed JSON", "add", json.RawMessage(`[1,`), omq.ErrBadArguments, "malformed"},
		{"not array or object", "add", json.RawMessage(`"x"`), nil, "must encode as a JSON array"},
		{"unknown function", "mul", omq.Args(1, 2), omq.ErrUnknownFunction, `no function "mul"`},
		{"handler error", "fail", nil, omq.ErrHandlerFailure, "it broke"},
		{"handler panic", "panic", nil, omq.ErrHandlerFailure, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := stub.Call(ctxT(t, 5*time.Second), tc.fn, tc.args, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("got %v, want errors.Is %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got %q, want it to mention %q", err, tc.wantText)
			}
		})
	}
	// After all of that the instance still serves.
	var sum int
	if err := stub.Call(ctxT(t, 5*time.Second), "add", omq.Args(1, 1), &sum); err != nil || sum != 2 {
		t.Fatalf("after bad calls: add = %d, %v", sum, err)
	}
}

// A remote *Error carries its code to the caller.
func TestStub_CallCustomErrorCode(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "notes", omq.Handlers{
		"save": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			return nil, omq.Errorf(409, "revision 3 is newer than 2")
		}),
	})
	err := n.Lookup("notes").Call(ctxT(t, 5*time.Second), "save", nil, nil)
	var re *omq.Error
	if !errors.As(err, &re) || re.Code != 409 || re.Description != "revision 3 is newer than 2" {
		t.Fatalf("got %#v, want *omq.Error 409", err)
	}
}

func TestStub_NoRespondersFailsFast(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	start := time.Now()
	err := n.Lookup("nobody").Call(context.Background(), "x", nil, nil, omq.Timeout(30*time.Second))
	if !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("got %v, want ErrNoResponders", err)
	}
	// Behaviour, not speed: it must not have waited out the 30s timeout.
	if time.Since(start) > 20*time.Second {
		t.Fatalf("no responders took %s: it waited for the timeout", time.Since(start))
	}
	if err := n.Lookup("nobody").At("abc").Call(context.Background(), "x", nil, nil, omq.Timeout(30*time.Second)); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("direct call to a missing instance: got %v, want ErrNoResponders", err)
	}
}

func TestStub_CallTimeout(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	c := &Calc{}
	inst := bind(t, n, "calc", c)
	err := n.Lookup("calc").Call(context.Background(), "sleep", omq.Args(2000), nil, omq.Timeout(100*time.Millisecond))
	if !errors.Is(err, omq.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and DeadlineExceeded", err)
	}
	// The handler saw the caller's deadline and gave up: the instance does
	// not keep working for a caller who has left.
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 0 }, "handler to stop at the deadline")
}

// A call whose deadline passes while it waits for a slot is skipped. (A
// caller that does not resend calls refused busy, as a plain NATS request:
// its calls wait at the instance.)
func TestInstance_SkipsExpiredCalls(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node(omq.WithResendWhenBusy(false))
	c := &Calc{}
	inst := bind(t, n, "calc", c, omq.Concurrency(1))
	stub := n.Lookup("calc")
	// Occupy the only slot for 300ms, then send calls that expire in 50ms.
	busy := stub.Go(context.Background(), "sleep", omq.Args(300), nil, nil, omq.Timeout(5*time.Second))
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 1 }, "slot to be busy")
	for range 5 {
		err := stub.Call(context.Background(), "add", omq.Args(1, 2), nil, omq.Timeout(50*time.Millisecond))
		if !errors.Is(err, omq.ErrTimeout) {
			t.Fatalf("got %v, want timeout", err)
		}
	}
	<-busy.Done
	if busy.Error != nil {
		t.Fatal(busy.Error)
	}
	waitFor(t, func() bool {
		return fnData(t, inst, "add").Expired == 5
	}, "5 expired calls to be counted")
	if got := c.calls.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1 (only the sleep)", got)
	}
}

func TestStub_GoDeliversOnDone(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	bind(t, n, "calc", &Calc{})
	done := make(chan *omq.Call, 10)
	sums := make([]int, 10)
	for i := range 10 {
		n.Lookup("calc").Go(ctxT(t, 5*time.Second), "add", omq.Args(i, i), &sums[i], done)
	}
	for range 10 {
		c := <-done
		if c.Error != nil {
			t.Fatal(c.Error)
		}
	}
	for i, s := range sums {
		if s != 2*i {
			t.Fatalf("sums[%d] = %d, want %d", i, s, 2*i)
		}
	}
}

func TestStub_SendIsOneWay(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	got := make(chan string, 1)
	bind(t, n, "log", omq.Handlers{
		"write": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			var line string
			if err := r.Decode(&line); err != nil {
				return nil, err
			}
			got <- line
			return nil, nil
		}),
	})
	if err := n.Lookup("log").Send(ctxT(t, 5*time.Second), "write", omq.Args("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-got:
		if line != "hello" {
			t.Fatalf("got %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("send not delivered")
	}
}

// Load spreads over the instances of one name.
func TestStub_LoadSpreadsOverInstances(t *testing.T) {
	e := newEnv(t)
	var insts []*omq.Instance
	for range 3 {
		n, _ := e.node()
		insts = append(insts, bind(t, n, "calc", &Calc{}))
	}
	cli, _ := e.node()
	const calls = 300
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < calls; i += 6 {
				if err := cli.Lookup("calc").Call(ctxT(t, 10*time.Second), "nop", nil, nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	var counts []int
	for _, inst := range insts {
		c := inst.Stats().Endpoints[indexOf(t, inst, "nop")].NumRequests
		counts = append(counts, c)
		total += c
	}
	t.Logf("calls per instance: %v", counts)
	if total != calls {
		t.Fatalf("instances handled %d calls, want %d", total, calls)
	}
	for i, c := range counts {
		// Random choice gives ~100 each; under 30 would mean no spreading.
		if c < calls/10 {
			t.Fatalf("instance %d handled %d of %d calls: load not spread (%v)", i, c, calls, counts)
		}
	}
}

// At addresses one instance.
func TestStub_AtCallsOneInstance(t *testing.T) {
	e := newEnv(t)
	var insts []*omq.Instance
	for range 3 {
		n, _ := e.node()
		insts = append(insts, bind(t, n, "calc", &Calc{}))
	}
	target := insts[1]
	cli, _ := e.node()
	for range 20 {
		if err := cli.Lookup("calc").At(target.ID()).Call(ctxT(t, 5*time.Second), "nop", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, inst := range insts {
		got := inst.Stats().Endpoints[indexOf(t, inst, "nop")].NumRequests
		want := 0
		if inst == target {
			want = 20
		}
		if got != want {
			t.Fatalf("instance %s handled %d, want %d", inst.ID(), got, want)
		}
	}
}

func indexOf(t *testing.T, inst *omq.Instance, fn string) int {
	t.Helper()
	for i, f := range inst.Functions() {
		if f == fn {
			return i
		}
	}
	t.Fatalf("%s has no function %s", inst.Name(), fn)
	return -1
}

func fnData(t *testing.T, inst *omq.Instance, fn string) omq.FunctionData {
	t.Helper()
	var fd omq.FunctionData
	if err := json.Unmarshal(inst.Stats().Endpoints[indexOf(t, inst, fn)].Data, &fd); err != nil {
		t.Fatal(err)
	}
	return fd
}

// A service whose instance comes while a call waits for one (its hub
// failing over, a restart): the call is sent again as the instance binds
// and is answered, handled once even though it is not idempotent — "no
// responders" means nobody received it.
func TestStub_NoRespondersWaitsForAnInstance(t *testing.T) {
	e := newEnv(t)
	caller, _ := e.node()
	server, _ := e.node()
	var handled atomic.Int32
	bound := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		inst, err := server.Bind(context.Background(), "late", omq.Handlers{
			"inc": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
				return handled.Add(1), nil
			}),
		})
		if err == nil {
			t.Cleanup(func() { _ = inst.Unbind(context.Background()) })
		}
		bound <- err
	}()
	var n int32
	if err := caller.Lookup("late").Call(context.Background(), "inc", nil, &n, omq.Timeout(20*time.Second)); err != nil {
		t.Fatalf("call while the instance binds: %v", err)
	}
	if err := <-bound; err != nil {
		t.Fatalf("bind: %v", err)
	}
	if n != 1 || handled.Load() != 1 {
		t.Fatalf("reply %d, handled %d times; want 1 and 1", n, handled.Load())
	}

	// WaitForInstance(0): the caller wants to know at once.
	if err := caller.Lookup("nobody").Call(context.Background(), "x", nil, nil, omq.Timeout(30*time.Second), omq.WaitForInstance(0)); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("WaitForInstance(0): %v, want ErrNoResponders", err)
	}
}

// An instance that answers 503 (its storage electing a leader) is asked
// again while an idempotent call has time left; a call that is not
// idempotent hears the 503 at once, handled once.
func TestStub_UnavailableIsRetriedWhenIdempotent(t *testing.T) {
	e := newEnv(t)
	srvNode, _ := e.node()
	var calls atomic.Int32
	bind(t, srvNode, "flaky", omq.Handlers{
		"get": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			// Unavailable for the first five calls (more than the
			// default retries), then well.
			if n := calls.Add(1); n <= 5 {
				return nil, omq.Errorf(omq.CodeUnavailable, "electing a leader (%d)", n)
			}
			return "ok", nil
		}),
	})
	cli, _ := e.node()
	var got string
	if err := cli.Lookup("flaky").Call(ctxT(t, 20*time.Second), "get", nil, &got, omq.Idempotent()); err != nil || got != "ok" {
		t.Fatalf("idempotent call: %q %v; want ok after the 503s", got, err)
	}
	if n := calls.Load(); n != 6 {
		t.Fatalf("handled %d times; want 6 (five 503s, then the answer)", n)
	}
	calls.Store(0)
	err := cli.Lookup("flaky").Call(ctxT(t, 20*time.Second), "get", nil, &got)
	if !errors.Is(err, omq.ErrUnavailable) || calls.Load() != 1 {
		t.Fatalf("call that is not idempotent: %v after %d calls; want ErrUnavailable after 1", err, calls.Load())
	}
}
