// Package thesis redoes the experiment of the DPC thesis's chapter 4 on
// a system of real processes: runs of sequential calls of the hub's
// built-in nopKserv and of tst.nopExtra, each run's time and ops/s
// beside the thesis's own figures (table 4.4), and the processes' CPU
// use beside the thesis's (table 4.1). [Measure] makes the runs,
// [WriteText] prints the report.
package thesis
