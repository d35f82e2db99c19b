package benchreport

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUModel   string `json:"cpu_model,omitempty"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Kernel     string `json:"kernel,omitempty"`
	GoVersion  string `json:"go_version"`
	NATSClient string `json:"nats_go_version"`
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	return Machine{
		CPUModel:   cpuModel("/proc/cpuinfo"),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Kernel:     firstLine("/proc/sys/kernel/osrelease"),
		GoVersion:  runtime.Version(),
		NATSClient: nats.Version,
	}
}

// cpuModel is the first "model name" in a Linux cpuinfo file, or "" where
// there is none (other systems, some ARM kernels).
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// Load is the machine's 1-minute load average at the start and the end of
// a measurement: on a shared machine, other programs' work shows here, and
// it changes ops/s (though not the CPU a process itself uses per call).
type Load struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// LoadAvg is the 1-minute load average from /proc/loadavg, or -1 where
// there is none.
func LoadAvg() float64 {
	f := strings.Fields(firstLine("/proc/loadavg"))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// WriteLoad prints the load line of the reports; nothing when the load
// average is unknown.
func WriteLoad(b *strings.Builder, l Load) {
	if l.Start < 0 || l.End < 0 {
		return
	}
	fmt.Fprintf(b, "load     1-minute load average %.2f at the start, %.2f at the end (on %d CPUs; the processes measured count in it)\n",
		l.Start, l.End, runtime.NumCPU())
}
