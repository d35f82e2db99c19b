package bodies

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dpc-project/dpc/internal/benchsys"
)

// cliRunner runs dpc-cli as the system's owner.
type cliRunner struct {
	bin, home, dir, url string
	timeout             time.Duration
}

// run runs dpc-cli with args and returns its stdout (its stderr too on an
// error) and its peak RSS.
func (c cliRunner) run(ctx context.Context, args ...string) (string, int64, error) {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--nats", c.url, "--timeout", c.timeout.String()}, args...)...)
	env := []string{"DPC_HOME=" + c.home, "HOME=" + c.dir, "XDG_CACHE_HOME=" + filepath.Join(c.dir, ".cache"), "XDG_CONFIG_HOME=" + filepath.Join(c.dir, ".config")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DPC_") && !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var maxRSS int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		}
	}
	if err != nil {
		return out.String() + errb.String(), maxRSS, err
	}
	return out.String(), maxRSS, nil
}

// resetPeak has the kernel forget a process's peak RSS (VmHWM), so that
// the next reading is the peak since now (Linux 4.0+; a process of ours).
func resetPeak(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// statusBytes reads a kB field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func statusBytes(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// sampler keeps the highest VmRSS of each process, read every 20 ms: a
// check on VmHWM, should the kernel not reset it.
type sampler struct {
	procs []*benchsys.Proc
	peaks []int64
	done  chan struct{}
	wg    sync.WaitGroup
}

func startSampler(procs []*benchsys.Proc) *sampler {
	s := &sampler{procs: procs, peaks: make([]int64, len(procs)), done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			for i, p := range s.procs {
				if v, err := statusBytes(p.PID, "VmRSS"); err == nil {
					s.peaks[i] = max(s.peaks[i], v)
				}
			}
			select {
			case <-t.C:
			case <-s.done:
				return
			}
		}
	}()
	return s
}

func (s *sampler) stop() []int64 {
	close(s.done)
	s.wg.Wait()
	return s.peaks
}
