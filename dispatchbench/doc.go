// Package dispatchbench measures, side by side in one run, three ways of
// dispatching unicast calls to the instances of a service over one NATS
// server:
//
//   - push: omq callers with omq.WithResendWhenBusy(false): NATS gives
//     each call to a queue-group member picked at random, and the call
//     waits there for a handler slot, as a plain NATS request does;
//   - refuse: omq's default: a call offers to be sent again, an instance
//     with no slot it can give soon refuses it (429, Dpc-Busy: refused)
//     and the caller sends it again;
//   - pull: a JetStream lane built here with nats.go's jetstream package,
//     for comparison: a memory work-queue stream and one durable pull
//     consumer shared by every instance; each instance runs one goroutine
//     per handler slot, which asks for one message (Next) only when it is
//     free, handles it, publishes the reply to the inbox the caller put in
//     a header, and acknowledges it.
//
// Three scenarios, each run for every side:
//
//   - fast: a function that returns at once, one instance at concurrency
//     16, closed-loop clients (1, 4, 8 by default): calls/s, p50, p99. What
//     each option costs a fast call.
//   - hung: two instances at concurrency C, one whose handler hangs (it
//     ignores its context; released only when the scenario ends), one
//     that works 5 ms per call; open-loop Poisson arrivals, calls not
//     idempotent with a 1 s timeout: the share that succeeds.
//   - step: one instance at concurrency 1 with a 20 ms handler, Poisson
//     arrivals at about twice its capacity for 1 s, then 4 more instances
//     bound and 3 s more of the same load: the p95 per 250 ms after the
//     binding, the time until it stays within the SLA, and the calls each
//     instance served (a backlog stranded at the first one shows there).
//
// Every instance and every client has a NATS connection of its own.
// Latencies are measured at the caller, from when it sends the call; a
// percentile is the nearest rank in all the latencies sorted.
package dispatchbench
