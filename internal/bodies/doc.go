// Package bodies measures what moving one large body costs in memory in
// every process it passes. Each phase of [Run] starts a real hub (and, for
// calls, a real service: a process running [Serve], which hashes a
// stream argument or streams it back) and moves Config.Size bytes with a
// real dpc-cli: as a stream argument (files.sum @FILE), both ways
// (files.cat @FILE --out FILE), as a note saved (notes save, streamed for
// a large file) and as a note read (notes get -o FILE). For the hub and
// the service it resets the peak RSS the kernel keeps (VmHWM, by writing
// 5 to /proc/PID/clear_refs) before the phase, samples VmRSS during it,
// and reports the larger of the two peaks less the RSS before. dpc-cli is
// a new process each time: its peak is the maximum RSS the kernel reports
// when it exits, less that of the same command with 1 KiB. [WriteText]
// prints the report.
package bodies
