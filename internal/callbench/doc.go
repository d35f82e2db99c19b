// Package callbench measures what omq costs over raw NATS: request-reply
// throughput and latency of an omq Call to a no-op function against a
// nats.go request to a plain queue-group responder, on one NATS server,
// at several numbers of concurrent clients, each side run several times
// in alternating order and reported by the median ([Run]); the report
// holds omq to [Targets] against raw and prints as tables ([WriteText]).
// [StartEmbedded] runs a server in the process to measure against.
package callbench
