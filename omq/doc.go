// Package omq is ObjectMQ in Go: remote objects over NATS, as the
// CloudSpaces ObjectMQ middleware did over AMQP.
//
// A program binds a Go value (or a set of handlers) under a name; any
// program on the same NATS system looks the name up and calls its
// functions. Every instance bound to one name shares the load of unicast
// calls, each receives multi calls, and each can be addressed alone.
//
// # Binding
//
//	type Tst struct{}
//	func (Tst) Add(a, b int) int { return a + b }
//
//	node, err := omq.New(nc)                  // nc: a *nats.Conn you own
//	inst, err := node.Bind(ctx, "tst", Tst{}) // serves tst.add
//	defer inst.Unbind(ctx)                    // drains calls in flight
//
// Exported methods become functions named by FunctionName (Add → add,
// AddMany → addMany). A method may take a context.Context first (it carries
// the caller's deadline), then JSON-encodable parameters, and return (),
// (T), (error) or (T, error). Bind reports every unsuitable method at once,
// or leaves them out with SkipUnsuitable. Functions known only at run time
// bind as Handlers, a map from function name to Handler.
//
// An instance runs up to Concurrency handlers at once (DefaultConcurrency),
// so a bound value must be safe for concurrent use. A handler's panic
// becomes a 500 reply; the instance keeps serving. A call goes to an
// instance with a free slot: one whose slots are all taken refuses it
// before running anything and the caller sends it to another (busy.go),
// so no call waits behind a busy or hung instance while another is idle.
//
// # Calling
//
//	tst := node.Lookup("tst")
//	var sum int
//	err := tst.Call(ctx, "add", omq.Args(2, 3), &sum)      // sync
//	call := tst.Go(ctx, "add", omq.Args(2, 3), &sum, nil) // async; <-call.Done
//	err = tst.Send(ctx, "add", omq.Args(2, 3))             // one-way
//	err = tst.Send(ctx, "add", omq.Args(2, 3), omq.Durable()) // via JetStream
//	replies, err := tst.MultiCall(ctx, "add", omq.Args(2, 3)) // every instance
//	err = tst.MultiSend(ctx, "add", omq.Args(2, 3))
//	err = tst.At(inst.ID()).Call(ctx, "add", omq.Args(2, 3), &sum) // one instance
//
// Arguments go by position (a slice: omq.Args) or by name (a map or
// struct; see ArgNames). Errors are typed: ErrNoResponders (nothing bound:
// at once, not after the timeout), ErrTimeout, and *Error from the instance
// with a code — match with errors.Is(err, ErrBadArguments),
// ErrUnknownFunction, ErrHandlerFailure, ErrTooLarge, or errors.As for the
// code. Calls marked Idempotent are repeated after a timed-out attempt or a
// lost instance; others are sent once.
//
// # Large bodies
//
// Arguments and results too large for one NATS message travel through a
// JetStream object store, under names of 128 random bits, encrypted with
// AES-256-GCM under a fresh key per body that travels in the message's
// Dpc-Body-Key header, so only the call's parties can read the body and a
// changed object is refused (a 400 for arguments). Every body is
// bounded by WithMaxBody (DefaultMaxBody, 64 MiB): a sender refuses a
// larger one before storing anything, a receiver reads an object's size
// before its content and refuses it — an instance with a 413, a caller with
// an error — both matching ErrTooLarge. An instance answers a call to a
// function it does not have without reading the call's body.
//
// # The durable lane
//
// Send with Durable stores the call in a JetStream work-queue stream
// (DefaultStream) before returning. One durable consumer per name, shared
// by its instances, gives each message to exactly one instance, at least
// once: it is acknowledged only after the handler returns, kept while no
// instance is bound, and kept across server restarts. The first instance
// to find the consumer missing creates it from its AckWait and MaxDeliver
// (with a BackOff on the server, so a call that crashes every instance
// ends too); the others use it as it is. An instance pulls only into free
// handler slots, so no call runs twice for having waited for one, and it
// makes its consumer (and, if its connection may, the stream) again when
// the server loses them. A call that cannot succeed (a 4xx, or a failure
// on its last delivery) becomes a dead letter in a second stream
// (DeadStreamName) with its payload and why, before it leaves the lane;
// a consumer nobody pulls from for InactiveThreshold is deleted by the
// server, its calls kept for the next instance.
//
// # Observability
//
// Every instance speaks the NATS service protocol (ADR-32): it answers
// $SRV.PING, $SRV.INFO and $SRV.STATS (also .<name> and .<name>.<id>), so
// `nats micro ls|info|stats` list it with request and error counts and
// processing times. The STATS reply adds queue wait, service time and
// inter-arrival moments per function (FunctionData) and backlog and
// queue-wait percentiles per instance (InstanceData). NewMetrics adds a
// Prometheus collector on a registry you pass.
//
// A call whose context carries an OpenTelemetry span context sends it as a
// W3C traceparent, with a new span id; the handler's context carries it on,
// so nested calls stay in the trace, and the instance logs the call with
// its trace_id. StartTrace begins a sampled trace whose Trace gathers, from
// the replies, each call's instance, queue wait and handler time and the
// calls its handler made (see trace.go).
//
// The subjects, headers and bodies are documented in docs/PROTOCOL.md, so
// that programs in other languages can call and serve omq functions with
// any NATS client.
package omq
