package callbench

import (
	"context"
	"sync"
	"time"

	"github.com/dpc-project/dpc/internal/procstat"
)

// load is how much work one run does: calls for a duration, or a fixed
// number of calls per client.
type load struct {
	duration  time.Duration
	perClient int // when > 0, overrides duration
	// capHint presizes each client's latency slice, so that growing it
	// does not allocate during the run.
	capHint int
}

// measure runs every client in its own goroutine, each making calls one
// after another, all starting together, and summarizes the run. The clock
// runs from the common start until the last client's last call returns.
// The first failed call stops the run and is returned.
func measure(parent context.Context, clients []client, l load) (Summary, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		lats     = make([][]time.Duration, len(clients))
		errOnce  sync.Once
		firstErr error
		end      time.Time
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, max(l.capHint, l.perClient))
			defer func() { lats[i] = lat }()
			<-start
			for ctx.Err() == nil {
				if l.perClient > 0 && len(lat) >= l.perClient {
					return
				}
				t0 := time.Now()
				if l.perClient <= 0 && !t0.Before(end) {
					return
				}
				if err := c.Call(ctx); err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				lat = append(lat, time.Since(t0))
			}
		}()
	}
	u0 := procstat.ReadUsage()
	t0 := time.Now()
	end = t0.Add(l.duration) // written before start is closed, read after
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	used := procstat.ReadUsage().Sub(u0)
	if firstErr != nil {
		return Summary{}, firstErr
	}
	if err := parent.Err(); err != nil {
		return Summary{}, err
	}
	n := 0
	for _, l := range lats {
		n += len(l)
	}
	all := make([]time.Duration, 0, n)
	for _, l := range lats {
		all = append(all, l...)
	}
	return summarize(all, elapsed, used), nil
}
