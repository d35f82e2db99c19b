package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go"
)

// The bodies bench: what moving one large body costs in memory in every
// process it passes. Each phase starts a real hub (and, for calls, a real
// service: this binary, as a service that hashes a stream argument or
// streams it back) and moves --size bytes with a real dpc-cli: as a stream
// argument (files.sum @FILE), both ways (files.cat @FILE --out FILE), as a
// note saved (notes save, streamed for a large file) and as a note read
// (notes get -o FILE). For the hub and the service it resets the peak RSS
// the kernel keeps (VmHWM, by writing 5 to /proc/PID/clear_refs) before
// the phase, samples VmRSS during it, and reports the larger of the two
// peaks less the RSS before. dpc-cli is a new process each time: its peak
// is the maximum RSS the kernel reports when it exits, less that of the
// same command with 1 KiB.

// BodiesCmd is the bodies bench's flags.
type BodiesCmd struct {
	Size    int64         `help:"Size of the body sent, in bytes." default:"104857600"`
	Target  int64         `help:"Target: peak RSS growth of every process at most this many bytes." default:"67108864"`
	Timeout time.Duration `help:"Timeout of each call." default:"5m"`
	HubBin  string        `name:"hub-bin" help:"dpc-hub binary (default: go build it)." type:"existingfile" placeholder:"FILE"`
	CLIBin  string        `name:"cli-bin" help:"dpc-cli binary (default: go build it)." type:"existingfile" placeholder:"FILE"`
	LogDir  string        `name:"log-dir" help:"Write each started process's whole output to DIR/<name>.log (each phase overwrites the last's)." type:"existingdir" placeholder:"DIR"`
	JSON    bool          `help:"Print the report as JSON on stdout instead of a table."`
	Quiet   bool          `short:"q" help:"No progress lines on stderr."`

	// Serve runs this process as the bench's files service instead, on
	// the hub at the URL given (with the profile in DPC_HOME).
	Serve string `hidden:"" placeholder:"URL"`
}

// BodiesReport is the bodies bench's result.
type BodiesReport struct {
	Machine benchreport.Machine `json:"machine"`
	Size    int64               `json:"size"`
	Target  int64               `json:"target"`
	Rows    []BodiesRow         `json:"rows"`
}

// BodiesRow is one process in one phase.
type BodiesRow struct {
	Phase   string  `json:"phase"`
	Process string  `json:"process"`
	Before  int64   `json:"rss_before"`
	Peak    int64   `json:"rss_peak"`
	After   int64   `json:"rss_after,omitempty"`
	Growth  int64   `json:"growth"`
	Met     bool    `json:"met"`
	Seconds float64 `json:"seconds"`
}

const (
	bodiesService = "files"
	cliPackage    = "github.com/dpc-project/dpc/cmd/dpc-cli"
)

func (c *BodiesCmd) Run(ctx context.Context, stdout, stderr io.Writer) error {
	if c.Serve != "" {
		return serveFiles(ctx, c.Serve, stderr)
	}
	progress := func(format string, args ...any) {
		if !c.Quiet {
			fmt.Fprintf(stderr, "dpc-bench: "+format+"\n", args...)
		}
	}
	work, err := os.MkdirTemp("", "dpc-bench-bodies-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := bodiesBench{c: c, work: work, progress: progress, hubBin: c.HubBin, cliBin: c.CLIBin}
	if b.hubBin == "" || b.cliBin == "" {
		progress("building dpc-hub and dpc-cli")
		if err := benchsys.Build(ctx, work, benchsys.HubPackage, cliPackage); err != nil {
			return err
		}
		b.hubBin, b.cliBin = cmp(b.hubBin, filepath.Join(work, "dpc-hub")), cmp(b.cliBin, filepath.Join(work, "dpc-cli"))
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}

	small, _, err := writeBody(filepath.Join(work, "small.bin"), 1024)
	if err != nil {
		return err
	}
	big, sum, err := writeBody(filepath.Join(work, "big.bin"), c.Size)
	if err != nil {
		return err
	}
	smallNote, _, err := writeText(filepath.Join(work, "small.txt"), 1024)
	if err != nil {
		return err
	}
	bigNote, noteSum, err := writeText(filepath.Join(work, "big.txt"), c.Size)
	if err != nil {
		return err
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
	callBase := []string{"call", bodiesService + ".sum", "@" + small}
	noteBase := []string{"notes", "--state", state, "save", smallNote, "--name", "small"}
	saveBig := []string{"notes", "--state", state, "save", bigNote, "--name", "big"}
	phases := []bodiesPhase{
		{name: "argument", service: true, base: callBase,
			args: []string{"call", bodiesService + ".sum", "@" + big},
			check: func(out string) error {
				if strings.TrimSpace(out) != sum {
					return fmt.Errorf("files.sum says %q, want %s", strings.TrimSpace(out), sum)
				}
				return nil
			}},
		{name: "argument+result", service: true, base: callBase,
			args: []string{"call", bodiesService + ".cat", "@" + big, "--out", back}, check: sumIs(sum)},
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
	rep := BodiesReport{Machine: benchreport.ReadMachine(), Size: c.Size, Target: c.Target}
	for _, ph := range phases {
		os.Remove(state)
		rows, err := b.run(ctx, ph)
		if err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return fmt.Errorf("%s: %w", ph.name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	if c.JSON {
		return benchreport.WriteJSON(stdout, rep)
	}
	return writeBodies(stdout, rep)
}

// bodiesBench runs the phases, each on a system of its own: a fresh hub
// (and files service), so that no phase starts with memory an earlier
// one left free in a process, which would hide its own growth.
type bodiesBench struct {
	c                    *BodiesCmd
	work                 string
	progress             func(string, ...any)
	hubBin, cliBin, self string
}

// bodiesPhase is one body moved: dpc-cli runs args once base (the same
// command with 1 KiB, for dpc-cli's baseline) and setup (unmeasured) have
// run.
type bodiesPhase struct {
	name    string
	service bool // the files service is on the body's path
	base    []string
	setup   []string
	args    []string
	check   func(out string) error
}

func (b *bodiesBench) run(ctx context.Context, ph bodiesPhase) (rows []BodiesRow, err error) {
	sys := benchsys.New(b.progress, b.c.LogDir)
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
	if err := startHub(sctx, sys, b.hubBin, fmt.Sprintf("DPC_HUB_MAX_NOTE=%d", b.c.Size+1<<20)); err != nil {
		return nil, err
	}
	procs := []*benchsys.Proc{sys.Hub()}
	if ph.service {
		svc, ready, err := sys.StartProcReady(bodiesService, b.self, nil, "ready", "bodies", "--serve", sys.Info.URL)
		if err != nil {
			return nil, err
		}
		if err := svc.WaitReady(sctx, ready); err != nil {
			return nil, err
		}
		procs = append(procs, svc)
	}
	cli := cliRunner{bin: b.cliBin, home: sys.Home(), dir: b.work, url: sys.Info.URL, timeout: b.c.Timeout}
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

	b.progress("%s: %d bytes", ph.name, b.c.Size)
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
	target := b.c.Target
	for i, p := range procs {
		hwm, _ := statusBytes(p.PID, "VmHWM")
		after, _ := statusBytes(p.PID, "VmRSS")
		peak := max(hwm, peaks[i], before[i])
		rows = append(rows, BodiesRow{Phase: ph.name, Process: p.Name, Before: before[i], Peak: peak, After: after,
			Growth: peak - before[i], Met: peak-before[i] <= target, Seconds: secs})
	}
	rows = append(rows, BodiesRow{Phase: ph.name, Process: "dpc-cli", Before: base, Peak: maxRSS,
		Growth: maxRSS - base, Met: maxRSS-base <= target, Seconds: secs})
	return rows, nil
}

// startHub is benchsys's System.StartHub with env added to the hub's
// (System.StartHub takes none): a dpc-hub on random loopback ports, with
// its data and its owner's profile in the system's directory; the URL
// goes in sys.Info.
func startHub(ctx context.Context, sys *benchsys.System, hubBin string, env ...string) error {
	hub, ready, err := sys.StartProcReady(benchsys.HubProc, hubBin, env, "dpc-hub ready",
		"--name", "dpc-bench-hub", "--host", "127.0.0.1", "--port=-1", "--http-port=0",
		"--metrics", "", "--data", filepath.Join(filepath.Dir(sys.Home()), "data"), "--log-format", "json")
	if err != nil {
		return err
	}
	var line []byte
	select {
	case line = <-ready:
	case <-ctx.Done():
		return fmt.Errorf("dpc-hub (pid %d) not ready: %w", hub.PID, context.Cause(ctx))
	}
	var rec struct {
		NATS string `json:"nats"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		return fmt.Errorf("dpc-hub's ready line %s: %w", line, err)
	}
	sys.Info.URL = rec.NATS
	return nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeBodies(w io.Writer, rep BodiesReport) error {
	fmt.Fprintf(w, "Large bodies: %d bytes (%.0f MiB) through a real dpc-hub, files service and dpc-cli\n", rep.Size, float64(rep.Size)/(1<<20))
	m := rep.Machine
	fmt.Fprintf(w, "machine: %s, %d cores, %s/%s, kernel %s, %s\n\n", cmp(m.CPUModel, "unknown CPU"), m.NumCPU, m.OS, m.Arch, m.Kernel, m.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tprocess\tRSS before\tpeak\tgrowth\tafter\ttarget\tmet\tseconds\t")
	for _, r := range rep.Rows {
		after := "—"
		if r.After > 0 {
			after = mib(r.After)
		}
		met := "yes"
		if !r.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t≤ %s\t%s\t%.1f\t\n", r.Phase, r.Process, mib(r.Before), mib(r.Peak), mib(r.Growth), after, mib(rep.Target), met, r.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nEach phase on a fresh hub (and files service). dpc-cli is a new process per command: before is its peak on the same command with 1 KiB (a call; a notes save).")
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// writeBody writes size bytes of noise to path, a block at a time, and
// returns the path and its SHA-256.
func writeBody(path string, size int64) (string, string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		b := buf[:min(left, int64(len(buf)))]
		_, _ = rng.Read(b)
		if _, err := f.Write(b); err != nil {
			return "", "", err
		}
		h.Write(b)
		left -= int64(len(b))
	}
	return path, hex.EncodeToString(h.Sum(nil)), f.Close()
}

// writeText writes size bytes of text lines (hex digits) to path, a
// block at a time, and returns the path and its SHA-256.
func writeText(path string, size int64) (string, string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{8})
	raw := make([]byte, 32<<10)
	buf := make([]byte, 0, 1<<20)
	for left := size; left > 0; {
		buf = buf[:0]
		for len(buf) < cap(buf)-2*len(raw) {
			_, _ = rng.Read(raw)
			for i := 0; i < len(raw); i += 40 {
				buf = hex.AppendEncode(buf, raw[i:min(i+40, len(raw))])
				buf = append(buf, '\n')
			}
		}
		b := buf[:min(left, int64(len(buf)))]
		if _, err := f.Write(b); err != nil {
			return "", "", err
		}
		h.Write(b)
		left -= int64(len(b))
	}
	return path, hex.EncodeToString(h.Sum(nil)), f.Close()
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

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

// filesManifest is the bench's service: one function that reads a stream
// argument to the end, one that streams it back.
var filesManifest = &manifests.Manifest{
	Name: bodiesService, Version: "1.0.0", Description: "dpc-bench bodies: streamed arguments and results",
	Functions: []manifests.Function{
		{Name: "sum", Description: "The SHA-256 of a stream.", ReturnType: manifests.TypeString,
			Args: []manifests.Arg{{Name: "data", Type: manifests.TypeStream}}},
		{Name: "cat", Description: "A stream back.", ReturnType: manifests.TypeStream,
			Args: []manifests.Arg{{Name: "data", Type: manifests.TypeStream}}},
	},
}

// serveFiles is the bench's service process: it serves filesManifest on
// the hub at url until ctx ends, and logs a JSON line whose msg is ready
// once bound.
func serveFiles(ctx context.Context, url string, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	url, opts, err := hubconn.Resolve(url, "", "")
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("dpc-bench files")}, opts...)...)
	if err != nil {
		return err
	}
	defer nc.Close()
	node, err := hubconn.NewNode(nc)
	if err != nil {
		return err
	}
	svc := servicehost.Service{Manifest: filesManifest, Handlers: omq.Handlers{
		"sum": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			h := sha256.New()
			if _, err := io.Copy(h, servicehost.Stream(ctx, "data")); err != nil {
				return nil, err
			}
			return hex.EncodeToString(h.Sum(nil)), nil
		}),
		"cat": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			return servicehost.Stream(ctx, "data"), nil
		}),
	}}
	cfg := servicehost.Config{Logger: log}
	inst, err := servicehost.Bind(ctx, node, svc, cfg)
	if err != nil {
		return err
	}
	log.Info("ready")
	err = servicehost.Serve(ctx, node, svc, inst, cfg)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
