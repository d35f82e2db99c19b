// Package logstream puts every DPC process's log records in one place:
// a slog.Handler that writes to the process's own stderr handler and also
// publishes each record on NATS, as one JSON object (Record) on
// dpc.log.<kind>.<name>.<instance>, where the hub keeps a bounded window
// of them (the DPC_LOGS stream) for `dpc-cli logs` to read through the
// hub's logs service (Query, Page).
//
// A process makes its logger first and connects later: until Attach the
// handler writes to stderr only. Publishing never blocks the caller and
// never logs: see Handler.
package logstream
