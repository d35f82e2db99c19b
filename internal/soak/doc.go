// Package soak looks for the two faults the DPC thesis found in its
// prototype, on a system of real processes: busy loops (CPU used while
// no calls are made) and leaks (memory growing with the calls). [Measure]
// samples each process's CPU over idle windows before and after many
// calls, and every process's resident memory and the hub's Go heap as the
// calls go; [Growths] fits the growth per call after a warm-up;
// [WriteText] prints the report.
package soak
