// Package benchreport is what every dpc-bench report shares: the machine
// the figures were measured on and its load average, the lines that say
// so, JSON and file output, and the formats of numbers (thousands, µs,
// ms, MiB).
package benchreport
