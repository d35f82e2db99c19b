// Package loadgen offers open-loop load to omq services along a rate
// curve and records, per service and per second, what the services did
// with it. dpc-bench replay and step use it, and so does the elasticity
// e2e test.
//
// Three parts, each usable alone:
//
//   - Rate curves, λ(t) in requests per second: [Diurnal] (compressed
//     days with a morning and an evening peak, and a flash crowd on the
//     last day), [Step] (a step up in load and back), [Constant] and
//     [Trace] (recorded request times, from [ParseTrace] or [LoadTrace],
//     replayed faster by a speedup).
//   - Arrivals along a curve: [PoissonArrivals] (a non-homogeneous
//     Poisson process of rate λ(t)), [EvenArrivals] (1/λ apart) and
//     [TraceArrivals] (a trace's own times).
//   - The load and its record: a [Generator] sends a call to every
//     service at each arrival without waiting for replies (open loop: a
//     slow service gets its calls on time, as from independent users),
//     [SampleInstances] counts the services' instances by $SRV.PING every
//     second, and a [Recorder] keeps, by the second each call was due,
//     the calls, their outcomes and latencies and the instances. [Recorder.Rows]
//     gives every second (p50/p95/p99, judged against an SLA on the p95)
//     and [Summarize] sums up a span of them. [Offer] runs a whole load:
//     the generator, the instance counts and progress lines
//     ([ProgressLine]) beside it, the calls in flight drained at the end.
//
// A typical run, by hand (Offer.Run does the same):
//
//	rec := loadgen.NewRecorder([]string{"work"}, timeout)
//	gen := loadgen.NewGenerator(node, rec, loadgen.Config{Function: "work", Timeout: timeout, MaxInflight: 10000})
//	start := time.Now()
//	go loadgen.SampleInstances(sampleCtx, node, rec, start, 300*time.Millisecond)
//	gen.Run(ctx, start, loadgen.PoissonArrivals(curve, rand.New(rand.NewPCG(1, 2))))
//	gen.Drain(timeout)
//	rows := rec.Rows(curve, 0, seconds, sla)
package loadgen
