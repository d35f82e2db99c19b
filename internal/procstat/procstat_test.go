package procstat

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250 and stime 50
	// ticks are fields 14 and 15.
	line := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 1000 200\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("a short line parsed")
	}
	self, err := CPU(os.Getpid())
	if runtime.GOOS == "linux" && (err != nil || self < 0) {
		t.Errorf("own CPU: %s, %v", self, err)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 4.538368e+06
omq_handled_total{function="nopKserv",service="hub"} 3
`
	m, err := parseMetrics(strings.NewReader(text), MetricGoroutines, MetricHeapInuse)
	if err != nil {
		t.Fatal(err)
	}
	if m[MetricGoroutines] != 42 || m[MetricHeapInuse] != 4538368 {
		t.Errorf("got %v", m)
	}
	if _, err := parseMetrics(strings.NewReader(text), "process_open_fds"); err == nil {
		t.Error("a missing series gave no error")
	}
}
