package benchreport

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/internal/benchsys"
)

// WriteJSON prints a report for machines.
func WriteJSON(w io.Writer, r any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFile creates path and writes it with write.
func WriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// WriteMachine prints the machine line the reports share.
func WriteMachine(b *strings.Builder, m Machine) {
	cpu := m.CPUModel
	if cpu == "" {
		cpu = "unknown CPU"
	}
	fmt.Fprintf(b, "machine  %s, %d CPUs (GOMAXPROCS %d), %s/%s", cpu, m.NumCPU, m.GOMAXPROCS, m.OS, m.Arch)
	if m.Kernel != "" {
		fmt.Fprintf(b, ", kernel %s", m.Kernel)
	}
	fmt.Fprintf(b, ", %s, nats.go %s\n", m.GoVersion, m.NATSClient)
}

// WriteSystem prints which processes were measured.
func WriteSystem(b *strings.Builder, s benchsys.Info) {
	var procs []string
	for _, p := range s.Processes {
		procs = append(procs, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
	}
	who := "no processes named (--pid)"
	if len(procs) > 0 {
		who = strings.Join(procs, ", ")
	}
	how := "already running"
	if s.Started {
		how = "started by the bench (dpc-hub, dpc-service tst)"
	}
	fmt.Fprintf(b, "system   %s, %s; nats-server %s at %s\n", who, how, s.ServerVersion, s.URL)
}

// Micros formats a latency in microseconds, the unit loopback round trips
// are measured in.
func Micros(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
}

// Millis formats a duration in milliseconds, the thesis's scale.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// Thousands formats a rate as a whole number with thousands separators.
func Thousands(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// MiB formats bytes in MiB.
func MiB(b float64) string {
	return fmt.Sprintf("%.1f MiB", b/(1<<20))
}
