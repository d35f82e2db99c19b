// Package elasticity makes the results of the elasticity benches
// (dpc-bench replay and step) from what loadgen recorded: a CSV of every
// second with the oracle's instances beside it, summaries of SLA
// violations and instance-seconds against the oracle's (package oracle),
// the step response (when a new instance served, when the p95 was back
// within the SLA, when the surplus was gone), charts, and the reports as
// text, Markdown and JSON.
package elasticity
