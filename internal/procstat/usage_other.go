//go:build !unix

package procstat

// rusage is unknown here; the per-call costs are reported as 0.
func rusage() Usage { return Usage{} }
