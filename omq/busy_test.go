package omq_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dpc-project/dpc/omq"
)

// hangingHandlers serve "work": it blocks until release closes, its
// context ignored (a hung handler), counting the calls it started.
func hangingHandlers(started *atomic.Int64, release <-chan struct{}) omq.Handlers {
	return omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		started.Add(1)
		<-release
		return nil, nil
	})}
}

// One replica of two hangs: every call that is not already stuck in its
// only slot is served by the other, non-idempotent calls included, and
// the hung one reports itself saturated, then stalled.
func TestBusy_HungReplicaDoesNotTakeCalls(t *testing.T) {
	e := newEnv(t)
	hungNode, _ := e.node()
	release := make(chan struct{})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	var hungStarted, okServed atomic.Int64
	hung := bind(t, hungNode, "w", hangingHandlers(&hungStarted, release), omq.Concurrency(1), omq.StallAfter(300*time.Millisecond))
	okNode, _ := e.node()
	healthy := bind(t, okNode, "w", omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		okServed.Add(1)
		return "done", nil
	})})
	cli, _ := e.node()
	const calls = 200
	failed := 0
	for range calls {
		var got string
		if err := cli.Lookup("w").Call(context.Background(), "work", nil, &got, omq.Timeout(time.Second)); err != nil {
			failed++
			if !errors.Is(err, omq.ErrTimeout) {
				t.Errorf("call failed with %v; only a timeout (the call stuck in the hung slot) is expected", err)
			}
		}
	}
	// The hung instance took exactly one call, the one in its only slot;
	// every other call reaching it was refused and sent again.
	if n := hungStarted.Load(); n != 1 {
		t.Fatalf("the hung instance started %d calls, want 1", n)
	}
	if failed > 1 || okServed.Load() < calls-1 {
		t.Fatalf("%d of %d calls failed, %d served by the healthy instance; want at most the one stuck", failed, calls, okServed.Load())
	}
	st := hung.Stats().Data
	if st.Refused == 0 {
		t.Fatalf("the hung instance refused no call: %+v", st)
	}
	// Each call is offered once, however often it was refused.
	if n := st.Offered + healthy.Stats().Data.Offered; n != calls {
		t.Fatalf("offered %d calls in all, want %d", n, calls)
	}
	waitFor(t, func() bool { return hung.Stats().Data.State == omq.StateStalled }, "the hung instance to report stalled")

	// Stalled, it leaves the queue group: calls stop reaching it at all
	// (one refusal, in flight while it leaves, at most).
	for range 5 {
		_ = cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(time.Second))
	}
	time.Sleep(100 * time.Millisecond) // the leave's drain
	before := hung.Stats().Data.Refused
	for range 50 {
		if err := cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if got := hung.Stats().Data.Refused - before; got > 1 {
		t.Fatalf("the stalled instance refused %d of 50 calls: still in the queue group", got)
	}
	// Its handler finishes: it is back in the group and takes calls.
	close(release)
	released = true
	waitFor(t, func() bool {
		_ = cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(time.Second))
		return hungStarted.Load() > 1 && hung.Stats().Data.State == omq.StateOK
	}, "the instance back in the queue group, serving")
}

// Calls waiting for a busy instance are not stranded there: instances
// bound later take them.
func TestBusy_BacklogMovesToNewInstances(t *testing.T) {
	e := newEnv(t)
	slow := func(served *atomic.Int64) omq.Handlers {
		return omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			served.Add(1)
			time.Sleep(100 * time.Millisecond)
			return nil, nil
		})}
	}
	var first, later atomic.Int64
	n1, _ := e.node()
	bind(t, n1, "w", slow(&first), omq.Concurrency(1))
	cli, _ := e.node()
	const calls = 20
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			errs <- cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(20*time.Second))
		})
	}
	waitFor(t, func() bool { return first.Load() >= 1 }, "the first instance to start a call")
	for range 4 {
		n, _ := e.node()
		bind(t, n, "w", slow(&later), omq.Concurrency(1))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Pushed, the first instance would have served all 20 (its client
	// had them queued); now the others, bound after the calls were sent,
	// serve most of them.
	if later.Load() < calls/2 {
		t.Fatalf("instances bound later served %d of %d calls (the first %d); calls stayed stranded at the first", later.Load(), calls, first.Load())
	}
}

// A call refused twice already (Dpc-Busy: resent) waits for a slot at a
// saturated instance with room in its queue, rather than bouncing on; a
// first send is refused at once.
func TestBusy_ResentCallWaitsInTheQueue(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	release := make(chan struct{})
	var hold atomic.Bool
	inst := bind(t, n, "w", omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		if hold.Load() {
			<-release
			return nil, nil
		}
		time.Sleep(300 * time.Millisecond)
		return nil, nil
	})}, omq.Concurrency(1), omq.Queue(1))
	_, nc := e.node()
	// Slow calls first: a queued call then waits up to 250 ms (two
	// smoothed service times, capped) before it is refused.
	for range 8 {
		if _, err := nc.Request("dpc.svc.w.work", nil, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	hold.Store(true)
	occupy := make(chan error, 1)
	go func() {
		_, err := nc.Request("dpc.svc.w.work", nil, 10*time.Second)
		occupy <- err
	}()
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 1 }, "the only slot to be taken")
	send := func(v string) chan *nats.Msg {
		out := make(chan *nats.Msg, 1)
		go func() {
			m := nats.NewMsg("dpc.svc.w.work")
			m.Header.Set(omq.HeaderBusy, v)
			resp, err := nc.RequestMsg(m, 5*time.Second)
			if err != nil {
				t.Error(err)
			}
			out <- resp
		}()
		return out
	}
	if r := <-send("resend"); r == nil || r.Header.Get(omq.HeaderBusy) != "refused" {
		t.Fatalf("first send: %v, want refused", r)
	}
	waited := send("resent")
	// It waits at the instance (a refusal would never be counted here)…
	waitFor(t, func() bool { return inst.Backlog() == 1 }, "the resent call queued")
	hold.Store(false)
	close(release)
	// …and is served once the slot frees, unless it had waited its 250 ms
	// already (a machine slow enough to take that long to look).
	r := <-waited
	if r == nil {
		t.Fatal("no reply to the resent call")
	}
	if r.Header.Get(omq.HeaderBusy) == "refused" {
		t.Log("the queued call was refused after waiting its time: slow machine")
	}
	if err := <-occupy; err != nil {
		t.Fatal(err)
	}
}

// On the wire: a request carrying Dpc-Busy: resend to an instance with
// no free slot and no queue gets a 429 with Dpc-Busy: refused, and its
// handler does not run; the same request without the header waits.
func TestBusy_RefusalOnTheWire(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	release := make(chan struct{})
	var started atomic.Int64
	inst := bind(t, n, "w", hangingHandlers(&started, release), omq.Concurrency(1), omq.Queue(0))
	_, nc := e.node()
	occupy := make(chan error, 1)
	go func() {
		_, err := nc.Request("dpc.svc.w.work", nil, 10*time.Second)
		occupy <- err
	}()
	waitFor(t, func() bool { return started.Load() == 1 }, "the only slot to be taken")
	if s := inst.Stats().Data.State; s != omq.StateSaturated {
		t.Fatalf("state %q, want saturated", s)
	}
	m := nats.NewMsg("dpc.svc.w.work")
	m.Header.Set(omq.HeaderBusy, "resend")
	resp, err := nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(omq.HeaderBusy) != "refused" || resp.Header.Get(omq.HeaderErrorCode) != "429" {
		t.Fatalf("reply headers %v, want Dpc-Busy: refused and code 429", resp.Header)
	}
	if started.Load() != 1 {
		t.Fatal("the refused call's handler ran")
	}
	close(release)
	if err := <-occupy; err != nil {
		t.Fatalf("the call without the header: %v", err)
	}
}

// A handler's own 429 is an error like any other: not a refusal, not
// sent again.
func TestBusy_HandlersOwn429IsNotResent(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	var ran atomic.Int64
	bind(t, n, "w", omq.Handlers{"work": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		ran.Add(1)
		return nil, omq.Errorf(omq.CodeBusy, "slow down")
	})})
	cli, _ := e.node()
	err := cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(2*time.Second))
	var oe *omq.Error
	if !errors.As(err, &oe) || oe.Code != omq.CodeBusy || ran.Load() != 1 {
		t.Fatalf("got %v after %d runs, want the handler's 429 after one", err, ran.Load())
	}
}

// Every instance busy until the caller's deadline: the call times out,
// saying so, and no handler ran it.
func TestBusy_AllBusyTimesOut(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var started atomic.Int64
	bind(t, n, "w", hangingHandlers(&started, release), omq.Concurrency(1), omq.Queue(0))
	cli, _ := e.node()
	go func() { _ = cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(10*time.Second)) }()
	waitFor(t, func() bool { return started.Load() == 1 }, "the only slot to be taken")
	err := cli.Lookup("w").Call(context.Background(), "work", nil, nil, omq.Timeout(200*time.Millisecond))
	if !errors.Is(err, omq.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if started.Load() != 1 {
		t.Fatalf("%d handlers started, want only the first", started.Load())
	}
	t.Log(err)
}
