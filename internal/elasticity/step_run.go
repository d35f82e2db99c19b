package elasticity

import (
	"context"
	"time"

	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/omq"
)

// OfferStep offers the load o (o.Curve being step) to the work service
// through node, and records, beside the calls and instances, when each
// instance first served a call and which instances answered $SRV.PING
// just before the step up.
func OfferStep(ctx context.Context, node *omq.Node, step loadgen.Step, o loadgen.Offer) *StepRun {
	run := &StepRun{Rec: loadgen.NewRecorder([]string{benchsys.ElasticService}, o.Config.Timeout)}
	served := NewServedLog()
	o.Curve = step
	o.Config.Served = served.Served
	var start time.Time
	o.Beside = func(ctx context.Context, at time.Time) {
		start = at
		// Which instances there are at the step: the ping ends as the
		// load steps up, so an instance started for the step cannot be
		// among them.
		if !loadgen.Sleep(ctx, time.Until(at.Add(step.Up()-o.PingWindow))) {
			return
		}
		pings, err := node.PingWithin(ctx, benchsys.ElasticService, o.PingWindow)
		if err != nil {
			return
		}
		for _, p := range pings {
			run.AtStep = append(run.AtStep, p.ID)
		}
		run.Pinged = true
	}
	run.UpTo = o.Run(ctx, node, run.Rec)
	run.Firsts = served.Firsts(start)
	return run
}
