// Package chart draws the elasticity benches' charts: three panels on
// one time axis, one point a second — the offered load, each service's
// instances, and each service's p95 latency on a log axis against the
// SLA — with day boundaries marked and a span (a flash crowd, a step)
// shaded, as PNG and SVG.
package chart
