// Package procstat samples what processes use, for the benches: the CPU
// time, context switches and resident memory of any process on this
// machine from /proc ([Read], [CPU], [RSS]), each process's share of a
// core over stretches of time ([CPUMeter]), this process's own resource
// usage ([ReadUsage]), and a Go process's heap and goroutines from its
// Prometheus endpoint ([Scrape]). Where there is no /proc the readers
// return errors and the usage is 0.
package procstat
