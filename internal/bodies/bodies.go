package bodies

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
)

// Service is the name of the service [Serve] runs.
const Service = "files"

// CLIPackage is dpc-cli's package, built when Config.CLIBin is "".
const CLIPackage = "github.com/dpc-project/dpc/cmd/dpc-cli"

// Config is what [Run] measures, and with what.
type Config struct {
	// Size is the size of the body sent, in bytes; Target the peak RSS
	// growth every process must stay within.
	Size, Target int64
	// Timeout bounds each dpc-cli command.
	Timeout time.Duration
	// HubBin and CLIBin are dpc-hub and dpc-cli; Run builds the missing
	// ones with the go command.
	HubBin, CLIBin string
	// LogDir, unless "", gets each started process's whole output in
	// <name>.log (each phase overwrites the last's).
	LogDir string
	// ServeCmd starts the files service: a binary and its arguments, to
	// which the hub's URL is appended, that run [Serve] with it (the
	// profile in DPC_HOME).
	ServeCmd []string
	// Progress, unless nil, gets progress lines.
	Progress func(format string, args ...any)
}

// Report is the bench's result.
type Report struct {
	Machine benchreport.Machine `json:"machine"`
	Size    int64               `json:"size"`
	Target  int64               `json:"target"`
	Rows    []Row               `json:"rows"`
}

// Row is one process in one phase.
type Row struct {
	Phase   string  `json:"phase"`
	Process string  `json:"process"`
	Before  int64   `json:"rss_before"`
	Peak    int64   `json:"rss_peak"`
	After   int64   `json:"rss_after,omitempty"`
	Growth  int64   `json:"growth"`
	Met     bool    `json:"met"`
	Seconds float64 `json:"seconds"`
}

// Run runs the four phases, each on a system of its own, and reports
// every process's growth. When ctx ends during a phase it returns
// ctx.Err().
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.ServeCmd) == 0 {
		return nil, errors.New("bodies: no ServeCmd")
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	work, err := os.MkdirTemp("", "dpc-bench-bodies-work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	b := bench{cfg: cfg, work: work}
	if cfg.HubBin == "" || cfg.CLIBin == "" {
		cfg.Progress("building dpc-hub and dpc-cli")
		if err := benchsys.Build(ctx, work, benchsys.HubPackage, CLIPackage); err != nil {
			return nil, err
		}
		b.cfg.HubBin, b.cfg.CLIBin = or(cfg.HubBin, filepath.Join(work, "dpc-hub")), or(cfg.CLIBin, filepath.Join(work, "dpc-cli"))
	}

	small, _, err := writeBody(filepath.Join(work, "small.bin"), 1024)
	if err != nil {
		return nil, err
	}
	big, sum, err := writeBody(filepath.Join(work, "big.bin"), cfg.Size)
	if err != nil {
		return nil, err
	}
	smallNote, _, err := writeText(filepath.Join(work, "small.txt"), 1024)
	if err != nil {
		return nil, err
	}
	bigNote, noteSum, err := writeText(filepath.Join(work, "big.txt"), cfg.Size)
	if err != nil {
		return nil, err
	}
	state := filepath.Join(work, "notes-state.json")
	back := filepath.Join(work, "back.bin")
	sumIs := func(want string) func(string) error {
		return func(string) error {
			got, err := fileSum(back)
			if err == nil && got != want {
				err = fmt.Errorf("the body written back has SHA-256 %s, want %s", got, want)
			}
			os.Remove(back)
			return err
		}
	}
	callBase := []string{"call", Service + ".sum", "@" + small}
	noteBase := []string{"notes", "--state", state, "save", smallNote, "--name", "small"}
	saveBig := []string{"notes", "--state", state, "save", bigNote, "--name", "big"}
	phases := []phase{
		{name: "argument", service: true, base: callBase,
			args: []string{"call", Service + ".sum", "@" + big},
			check: func(out string) error {
				if strings.TrimSpace(out) != sum {
					return fmt.Errorf("files.sum says %q, want %s", strings.TrimSpace(out), sum)
				}
				return nil
			}},
		{name: "argument+result", service: true, base: callBase,
			args: []string{"call", Service + ".cat", "@" + big, "--out", back}, check: sumIs(sum)},
		{name: "note save", base: noteBase, args: saveBig,
			check: func(out string) error {
				if !strings.Contains(out, "Saved note") {
					return fmt.Errorf("notes save said %q", out)
				}
				return nil
			}},
		{name: "note get", base: noteBase, setup: saveBig,
			args: []string{"notes", "--state", state, "get", "big", "-o", back}, check: sumIs(noteSum)},
	}
	rep := &Report{Machine: benchreport.ReadMachine(), Size: cfg.Size, Target: cfg.Target}
	for _, ph := range phases {
		os.Remove(state)
		rows, err := b.run(ctx, ph)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s: %w", ph.name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	return rep, nil
}

// bench runs the phases, each on a system of its own: a fresh hub (and
// files service), so that no phase starts with memory an earlier one
// left free in a process, which would hide its own growth.
type bench struct {
	cfg  Config // with HubBin and CLIBin set
	work string
}

// phase is one body moved: dpc-cli runs args once base (the same command
// with 1 KiB, for dpc-cli's baseline) and setup (unmeasured) have run.
type phase struct {
	name    string
	service bool // the files service is on the body's path
	base    []string
	setup   []string
	args    []string
	check   func(out string) error
}

func (b *bench) run(ctx context.Context, ph phase) (rows []Row, err error) {
	sys := benchsys.New(b.cfg.Progress, b.cfg.LogDir)
	defer func() {
		if stopErr := sys.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := sys.MakeDir("dpc-bench-bodies-"); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The hub's largest note (8 MiB by default) must take the note sent.
	hubOpts := benchsys.HubOptions{Env: []string{fmt.Sprintf("DPC_HUB_MAX_NOTE=%d", b.cfg.Size+1<<20)}, NoMetrics: true}
	if err := sys.StartHubWith(sctx, b.cfg.HubBin, hubOpts); err != nil {
		return nil, err
	}
	procs := []*benchsys.Proc{sys.Hub()}
	if ph.service {
		args := append(append([]string(nil), b.cfg.ServeCmd[1:]...), sys.Info.URL)
		svc, ready, err := sys.StartProcReady(Service, b.cfg.ServeCmd[0], nil, "ready", args...)
		if err != nil {
			return nil, err
		}
		if err := svc.WaitReady(sctx, ready); err != nil {
			return nil, err
		}
		procs = append(procs, svc)
	}
	cli := cliRunner{bin: b.cfg.CLIBin, home: sys.Home(), dir: b.work, url: sys.Info.URL, timeout: b.cfg.Timeout}
	// The baseline also waits for the catalog to list the function.
	var base int64
	for {
		out, maxRSS, err := cli.run(sctx, ph.base...)
		if err == nil {
			base = maxRSS
			break
		}
		if sctx.Err() != nil {
			return nil, fmt.Errorf("dpc-cli %s never succeeded: %v: %s", strings.Join(ph.base, " "), err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ph.setup != nil {
		if out, _, err := cli.run(ctx, ph.setup...); err != nil {
			return nil, fmt.Errorf("dpc-cli %s: %w: %s", strings.Join(ph.setup, " "), err, out)
		}
	}

	b.cfg.Progress("%s: %d bytes", ph.name, b.cfg.Size)
	before := make([]int64, len(procs))
	for i, p := range procs {
		resetPeak(p.PID)
		before[i], _ = statusBytes(p.PID, "VmRSS")
	}
	smp := startSampler(procs)
	start := time.Now()
	out, maxRSS, err := cli.run(ctx, ph.args...)
	secs := time.Since(start).Seconds()
	peaks := smp.stop()
	if err != nil {
		return nil, fmt.Errorf("dpc-cli: %w: %s", err, out)
	}
	if err := ph.check(out); err != nil {
		return nil, err
	}
	target := b.cfg.Target
	for i, p := range procs {
		hwm, _ := statusBytes(p.PID, "VmHWM")
		after, _ := statusBytes(p.PID, "VmRSS")
		peak := max(hwm, peaks[i], before[i])
		rows = append(rows, Row{Phase: ph.name, Process: p.Name, Before: before[i], Peak: peak, After: after,
			Growth: peak - before[i], Met: peak-before[i] <= target, Seconds: secs})
	}
	rows = append(rows, Row{Phase: ph.name, Process: "dpc-cli", Before: base, Peak: maxRSS,
		Growth: maxRSS - base, Met: maxRSS-base <= target, Seconds: secs})
	return rows, nil
}

// or is a unless it is "", else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
