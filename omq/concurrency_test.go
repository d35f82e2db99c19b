package omq_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// peak tracks the most handlers running at once.
type peak struct {
	now, max atomic.Int64
}

func (p *peak) handler(d time.Duration) omq.Handler {
	return omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		n := p.now.Add(1)
		for {
			m := p.max.Load()
			if n <= m || p.max.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(d)
		p.now.Add(-1)
		return nil, nil
	})
}

// An instance runs up to Concurrency calls at once: with 8, a 10ms handler
// gets through a burst about 8x faster than with 1.
func TestInstance_ConcurrencyBoundsParallelCalls(t *testing.T) {
	e := newEnv(t)
	cli, _ := e.node()
	const calls = 48
	run := func(conc int) (time.Duration, int64) {
		n, _ := e.node()
		p := &peak{}
		name := "slow" + string(rune('a'+conc))
		inst := bind(t, n, name, omq.Handlers{"work": p.handler(10 * time.Millisecond)}, omq.Concurrency(conc))
		defer inst.Unbind(context.Background())
		var wg sync.WaitGroup
		start := time.Now()
		for range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cli.Lookup(name).Call(context.Background(), "work", nil, nil, omq.Timeout(30*time.Second)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		return time.Since(start), p.max.Load()
	}
	one, peak1 := run(1)
	eight, peak8 := run(8)
	t.Logf("%d calls of 10ms: concurrency 1 took %s, concurrency 8 took %s (%.1fx)", calls, one, eight, float64(one)/float64(eight))
	if peak1 != 1 {
		t.Fatalf("concurrency 1 ran %d handlers at once", peak1)
	}
	if peak8 != 8 {
		t.Fatalf("concurrency 8 ran at most %d handlers at once, want exactly 8", peak8)
	}
	// Concurrency 1 needs at least 48×10ms by construction; 8 needs about
	// 60ms. A generous bound keeps this robust on a loaded machine.
	if float64(one)/float64(eight) < 3 {
		t.Fatalf("concurrency 8 was only %.1fx faster than 1", float64(one)/float64(eight))
	}
}

// Backlog counts each call received but not started once: with one slot
// taken by a running call, one call blocked in the subscription's
// callback for a slot and one more queued behind it, it is 2. (Calls
// that wait at the instance: their caller does not resend them.)
func TestInstance_BacklogCountsEachWaitingCallOnce(t *testing.T) {
	e := newEnv(t)
	srvNode, _ := e.node()
	release := make(chan struct{})
	inst := bind(t, srvNode, "slow", omq.Handlers{
		"wait": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}),
	}, omq.Concurrency(1))
	cli, _ := e.node(omq.WithResendWhenBusy(false))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { _ = cli.Lookup("slow").Call(ctxT(t, 20*time.Second), "wait", nil, nil) })
	}
	waitFor(t, func() bool { return inst.Stats().Data.InFlight == 1 && inst.Backlog() == 2 }, "one call running and two waiting")
	// It stays 2: nothing is counted twice once everything has arrived.
	for range 5 {
		if n := inst.Backlog(); n != 2 {
			t.Fatalf("backlog %d, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	waitFor(t, func() bool { return inst.Backlog() == 0 }, "no backlog once the calls are done")
}
