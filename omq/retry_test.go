package omq_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// With two instances and one lost mid-run, calls marked safe to repeat all
// succeed: those sent to the lost instance time out and are retried on the
// other.
func TestStub_IdempotentCallsSurviveALostInstance(t *testing.T) {
	e := newEnv(t)
	survivor, _ := e.node()
	bind(t, survivor, "calc", &Calc{})
	victim, victimConn := e.node()
	victimCalc := &Calc{}
	bind(t, victim, "calc", victimCalc)
	cli, _ := e.node()

	const calls = 200
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < calls; i += 4 {
				// Each handler takes 5ms, so calls are in flight when the
				// victim goes.
				err := cli.Lookup("calc").Call(context.Background(), "sleep", omq.Args(5), nil,
					omq.Idempotent(), omq.Retries(3), omq.Timeout(8*time.Second))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// Kill the victim's connection abruptly once it has served some calls:
	// the calls it holds are lost, as when its process dies.
	waitFor(t, func() bool { return victimCalc.calls.Load() >= 10 }, "victim to serve calls")
	victimConn.Close()
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d idempotent calls failed; first: %v", failed.Load(), calls, firstErr.Load())
	}
	if ok.Load() != calls {
		t.Fatalf("%d calls succeeded, want %d", ok.Load(), calls)
	}
}

// Without Idempotent a call is made once: a lost reply is the caller's
// timeout, never a silent second execution.
func TestStub_NonIdempotentCallIsNotRepeated(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	c := &Calc{}
	bind(t, n, "calc", c)
	err := n.Lookup("calc").Call(context.Background(), "sleep", omq.Args(500), nil, omq.Timeout(100*time.Millisecond))
	if !errors.Is(err, omq.ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	if got := c.calls.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1", got)
	}
}
