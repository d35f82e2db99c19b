package loadgen

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Offer is a whole load: the curve and its arrivals, the generator's
// calls, and the counts of instances and progress lines beside them.
type Offer struct {
	Curve    Curve
	Arrivals Arrivals
	// Config shapes the Generator; Config.Timeout is also how long the
	// calls in flight have to end after the last arrival (plus 2 s).
	Config Config
	// PingWindow is how long each second's count of instances waits for
	// $SRV.PING answers (see SampleInstances).
	PingWindow time.Duration
	// Progress, if set, gets a line every Every: where the load is, and
	// each service's last whole second (see ProgressLine); and a line
	// when the load has ended.
	Progress func(format string, args ...any)
	Every    time.Duration
	// Beside, if set, runs from the start of the load, on a goroutine of
	// its own, until its context ends after the calls in flight.
	Beside func(ctx context.Context, start time.Time)
}

// Run offers the load to rec's services through node: it calls along the
// arrivals until they end (then, unless interrupted, until the curve
// ends) or ctx does, counts the services' instances once a second, and
// waits for the calls in flight. It returns the whole seconds of the load
// recorded: the curve's length rounded up when it ran to the end.
func (o Offer) Run(ctx context.Context, node *omq.Node, rec *Recorder) (upTo int) {
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	length := o.Curve.Length()
	start := time.Now()
	bg, stopBG := context.WithCancel(ctx)
	var beside sync.WaitGroup
	beside.Go(func() { SampleInstances(bg, node, rec, start, o.PingWindow) })
	if o.Beside != nil {
		beside.Go(func() { o.Beside(bg, start) })
	}
	progressCtx, stopProgress := context.WithCancel(ctx)
	var progressDone sync.WaitGroup
	if o.Progress != nil && o.Every > 0 {
		progressDone.Go(func() { reportProgress(progressCtx, rec, o.Curve, start, o.Every, progress) })
	}

	gen := NewGenerator(node, rec, o.Config)
	gen.Run(ctx, start, o.Arrivals)
	elapsed := time.Since(start)
	if ctx.Err() == nil {
		// The schedule ended before the curve did (no arrival in the
		// last moments): keep counting instances to the end.
		Sleep(ctx, time.Until(start.Add(length)))
		elapsed = min(time.Since(start), length)
	}
	stopProgress()
	progressDone.Wait()
	progress("load ended at t=%s; waiting for the calls in flight", elapsed.Round(time.Second))
	// The sampler goes on while the calls end, though the seconds after
	// the load are not reported.
	gen.Drain(o.Config.Timeout + 2*time.Second)
	stopBG()
	beside.Wait()

	upTo = int(elapsed / time.Second)
	if ctx.Err() == nil && elapsed >= length {
		upTo = int((length + time.Second - 1) / time.Second)
	}
	return upTo
}

// reportProgress prints a ProgressLine every every until ctx ends.
func reportProgress(ctx context.Context, rec *Recorder, curve Curve, start time.Time, every time.Duration, progress func(string, ...any)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sec := int(time.Since(start)/time.Second) - 1
		if sec < 0 {
			continue
		}
		progress("%s", ProgressLine(rec, curve, sec))
	}
}

// ProgressLine says where the load is at second sec of curve, and what
// each of rec's services did in it.
func ProgressLine(rec *Recorder, curve Curve, sec int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t %3ds/%ds", sec+1, int(curve.Length()/time.Second))
	if d, ok := curve.(Diurnal); ok {
		fmt.Fprintf(&b, " (day %d/%d)", sec/int(d.Day/time.Second)+1, d.Days)
	}
	fmt.Fprintf(&b, "  λ %5.1f/s", curve.Rate(time.Duration(sec)*time.Second+time.Second/2))
	for i, name := range rec.Services() {
		st := rec.Second(i, sec)
		fmt.Fprintf(&b, " | %s: %d sent, %d failed, p95 %s, %s inst", name, st.Sent, st.Failed, fmtMillis(st.P95), fmtCount(st.Instances))
	}
	return b.String()
}

func fmtMillis(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
}

func fmtCount(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}
