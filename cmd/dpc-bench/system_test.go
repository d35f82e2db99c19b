package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/internal/benchsys"
	"github.com/dpc-project/dpc/internal/callbench"
	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/internal/soak"
	"github.com/dpc-project/dpc/internal/thesis"
	"github.com/dpc-project/dpc/trust"
)

// The thesis, soak and replay tests run real processes: dpc-hub,
// dpc-service, dpc-agent and dpc-provisioner, built once per test binary
// run, on first use.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// userHome stands for the user's DPC profile directory: DPC_HOME of the
// tests, empty, which no system the bench starts may read or write.
var userHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dpc-bench-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := proctest.Isolate(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	userHome = os.Getenv(trust.EnvHome)
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkUserHomeUntouched fails if a run wrote into the user's DPC_HOME.
func checkUserHomeUntouched(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(userHome)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the bench wrote %s into the user's DPC_HOME", e.Name())
	}
}

// binDir builds the binaries on first use and returns their directory.
func binDir(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("runs real processes and reads /proc")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dpc-bench-test-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = benchsys.Build(ctx, buildDir, benchsys.HubPackage, benchsys.ServicePackage, benchsys.AgentPackage, benchsys.ProvisionerPackage)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// systemFlags returns flags that start the built binaries, quietly.
func systemFlags(t *testing.T) SystemFlags {
	t.Helper()
	dir := binDir(t)
	return SystemFlags{HubBin: dir + "/dpc-hub", ServiceBin: dir + "/dpc-service", StartTimeout: time.Minute, Timeout: 5 * time.Second, JSON: true}
}

// checkGone fails if a process the bench started is still there: every
// one must have been stopped and waited for.
func checkGone(t *testing.T, procs []benchsys.ProcInfo) {
	t.Helper()
	if len(procs) == 0 {
		t.Fatal("no processes reported")
	}
	for _, p := range procs {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID)); err == nil {
			t.Errorf("%s (pid %d) still running after the command returned", p.Name, p.PID)
		}
	}
}

func TestThesisCmd_SaneReport(t *testing.T) {
	cmd := ThesisCmd{SystemFlags: systemFlags(t), Runs: 2, Calls: 20, Warmup: 5}
	var out, progress bytes.Buffer
	cmd.Quiet = false
	if err := cmd.Run(t.Context(), &out, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var rep thesis.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON report does not decode: %v\n%s", err, out.String())
	}
	checkGone(t, rep.System.Processes)
	checkUserHomeUntouched(t)
	if !rep.System.Started || rep.System.URL == "" || rep.System.ServerVersion == "" {
		t.Errorf("system not filled in: %+v", rep.System)
	}
	if len(rep.Functions) != 2 {
		t.Fatalf("want nopKserv and nopExtra, got %d functions", len(rep.Functions))
	}
	for _, f := range rep.Functions {
		if len(f.Runs) != cmd.Runs {
			t.Errorf("%s: %d runs, want %d", f.Name, len(f.Runs), cmd.Runs)
		}
		for _, r := range f.Runs {
			if r.Seconds <= 0 || r.OpsPerSec <= 0 {
				t.Errorf("%s: run without calls: %+v", f.Name, r)
			}
		}
		if f.AverageSeconds <= 0 || f.OpsPerSec <= 0 || f.PerCall <= 0 || f.Ratio <= 0 {
			t.Errorf("%s: no average: %+v", f.Name, f)
		}
		if f.Thesis.OpsPerSec == 0 || len(f.Thesis.RunSeconds) != 5 {
			t.Errorf("%s: the thesis's figures are missing: %+v", f.Name, f.Thesis)
		}
		var names []string
		for _, c := range f.CPU {
			names = append(names, c.Name)
			if c.Percent < 0 {
				t.Errorf("%s: negative CPU for %s", f.Name, c.Name)
			}
		}
		if got := strings.Join(names, ","); got != "hub,tst#1,client" {
			t.Errorf("%s: CPU of %q, want hub,tst#1,client", f.Name, got)
		}
	}
	if n := strings.Count(progress.String(), " run "); n != 4 {
		t.Errorf("want 4 progress lines of runs, got %d:\n%s", n, progress.String())
	}

	var text bytes.Buffer
	if err := thesis.WriteText(&text, &rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hub.nopKserv", "tst.nopExtra", "403.23", "363.64", "average", "38–60% (K-serv)", "ratio"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestSoakCmd_SaneReport(t *testing.T) {
	cmd := SoakCmd{SystemFlags: systemFlags(t), Instances: 2, Idle: time.Second, Calls: 200, Clients: 2,
		SampleEvery: 50, Warmup: 50, IdleAfter: 200 * time.Millisecond}
	var out, progress bytes.Buffer
	if err := cmd.Run(t.Context(), &out, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var rep soak.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON report does not decode: %v\n%s", err, out.String())
	}
	checkGone(t, rep.System.Processes)

	procs := []string{"hub", "tst#1", "tst#2"}
	for _, w := range []*soak.IdleWindow{rep.Idle, rep.IdleAfter} {
		if w == nil {
			t.Fatal("an idle window is missing")
		}
		if len(w.Processes) != len(procs) {
			t.Fatalf("idle: want %v, got %+v", procs, w.Processes)
		}
		for i, p := range w.Processes {
			if p.Name != procs[i] || p.PID <= 0 || p.CPUPercent < 0 || p.RSS <= 0 {
				t.Errorf("idle: implausible %+v", p)
			}
		}
	}
	if len(rep.Samples) != 5 {
		t.Fatalf("want samples at 0, 50, 100, 150, 200 calls, got %d", len(rep.Samples))
	}
	for i, s := range rep.Samples {
		if s.Calls != i*50 {
			t.Errorf("sample %d at %d calls, want %d", i, s.Calls, i*50)
		}
		for _, p := range append(procs, procstat.ClientName) {
			if s.RSS[p] <= 0 {
				t.Errorf("sample %d: no RSS for %s: %v", i, p, s.RSS)
			}
		}
		if s.HubHeapInuse <= 0 || s.HubGoroutines <= 0 || s.ClientHeapInuse <= 0 {
			t.Errorf("sample %d: no heap or goroutines: %+v", i, s)
		}
		if i > 0 && s.OpsPerSec <= 0 {
			t.Errorf("sample %d: no rate", i)
		}
	}
	if len(rep.Growth) == 0 {
		t.Fatal("no growth figures")
	}
	for _, g := range rep.Growth {
		if g.FromCalls != 50 || g.ToCalls != 200 {
			t.Errorf("%s: growth from %d to %d calls, want 50 to 200", g.Series, g.FromCalls, g.ToCalls)
		}
	}
	// Half the calls are tst.add. Stats are gathered best-effort, so an
	// instance may be missing on a loaded machine; both there, they must
	// account for every call.
	if len(rep.InstanceCalls) == 2 {
		if n := rep.InstanceCalls[0].Calls + rep.InstanceCalls[1].Calls; n != 100 {
			t.Errorf("instances handled %d add calls, want 100: %+v", n, rep.InstanceCalls)
		}
	}

	var text bytes.Buffer
	if err := soak.WriteText(&text, &rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"idle, before the calls", "hub heap in use", "tst#2 RSS", "trend per 100k calls", "idle, after the calls"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// With --nats the commands measure a running system and leave it running.
func TestThesisCmd_RunningSystem(t *testing.T) {
	flags := systemFlags(t)
	sys, err := benchsys.StartTst(t.Context(), flags.options(), 1, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sys.Stop(); err != nil {
			t.Error(err)
		}
	}()
	prof, err := trust.LoadProfile(sys.Home())
	if err != nil {
		t.Fatal(err)
	}
	cmd := ThesisCmd{Runs: 1, Calls: 10, SystemFlags: SystemFlags{
		NATS: sys.Info.URL, Creds: prof.CredsFile(), TLSCA: prof.CAFile(), PIDs: map[string]int{"hub": sys.Hub().PID},
		StartTimeout: time.Minute, Timeout: 5 * time.Second, JSON: true, Quiet: true,
	}}
	var out bytes.Buffer
	if err := cmd.Run(t.Context(), &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var rep thesis.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.System.Started {
		t.Error("reported as started by the bench")
	}
	if cpu := rep.Functions[0].CPU; len(cpu) != 2 || cpu[0].Name != "hub" || cpu[1].Name != procstat.ClientName {
		t.Errorf("want the CPU of hub and client, got %+v", cpu)
	}
	for _, p := range sys.Procs {
		if p.Exited() {
			t.Errorf("%s stopped by a run against it", p.Name)
		}
	}
}

// A running hub trusts no one by default: without its credentials and CA
// the bench cannot measure it.
func TestThesisCmd_RunningSystemNeedsCredentials(t *testing.T) {
	flags := systemFlags(t)
	sys, err := benchsys.StartTst(t.Context(), flags.options(), 1, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sys.Stop(); err != nil {
			t.Error(err)
		}
	}()
	cmd := ThesisCmd{Runs: 1, Calls: 10, SystemFlags: SystemFlags{
		NATS: sys.Info.URL, StartTimeout: 5 * time.Second, Timeout: time.Second, JSON: true, Quiet: true,
	}}
	var out bytes.Buffer
	if err := cmd.Run(t.Context(), &out, &out); err == nil {
		t.Fatalf("measured a hub without its credentials:\n%s", out.String())
	}
}

// compare --url against a real hub connects with the hub's CA and the
// owner's credentials (--creds, --tls-ca), over TLS.
func TestCompareCmd_Hub(t *testing.T) {
	flags := systemFlags(t)
	sys := benchsys.New(func(string, ...any) {}, "")
	defer func() {
		if err := sys.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := sys.MakeDir("dpc-bench-test-"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := sys.StartHub(ctx, flags.HubBin); err != nil {
		t.Fatal(err)
	}
	checkUserHomeUntouched(t)
	prof, err := trust.LoadProfile(sys.Home())
	if err != nil {
		t.Fatal(err)
	}
	cmd := CompareCmd{
		URL: sys.Info.URL, Creds: prof.CredsFile(), TLSCA: prof.CAFile(),
		Clients: []int{1}, Requests: 50, Repeats: 1, Sides: []string{callbench.SideRaw, callbench.SideOMQ},
		Timeout: 5 * time.Second, JSON: true, Quiet: true,
		MinThroughput: callbench.DefaultTargets.MinThroughput, MaxP50: callbench.DefaultTargets.MaxP50,
	}
	var out, errOut bytes.Buffer
	if err := cmd.Run(t.Context(), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep callbench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON report does not decode: %v\n%s", err, out.String())
	}
	if rep.Server.Embedded || !rep.Server.TLS || !rep.Server.Auth {
		t.Errorf("want an external server over TLS with authentication, got %+v", rep.Server)
	}
	if len(rep.Cases) != 2 {
		t.Fatalf("want 2 cases, got %d", len(rep.Cases))
	}
	for _, c := range rep.Cases {
		if c.Median.Ops != 50 {
			t.Errorf("%s: %d calls, want 50", c.Side, c.Median.Ops)
		}
	}

	// Without the credentials (and no profile) the hub lets no one in.
	cmd.Creds, cmd.TLSCA = "", ""
	if err := cmd.Run(t.Context(), &out, &errOut); err == nil {
		t.Error("compare ran against the hub without credentials")
	}
}

// An interrupt (the context ending) stops the processes and reports
// errInterrupted.
func TestSoakCmd_InterruptStopsProcesses(t *testing.T) {
	cmd := SoakCmd{SystemFlags: systemFlags(t), Instances: 1, Idle: time.Minute, Calls: 100, Clients: 1, SampleEvery: 10}
	cmd.Quiet = false
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	progress := &cancelOn{text: "idle for", cancel: cancel}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx, &out, progress) }()
	select {
	case err := <-done:
		if !errors.Is(err, errInterrupted) {
			t.Fatalf("want errInterrupted, got %v\n%s", err, progress.String())
		}
	case <-time.After(50 * time.Second):
		t.Fatal("soak did not stop after its context was cancelled")
	}
	var rep soak.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("no report after the interrupt: %v\n%s", err, out.String())
	}
	if !rep.Interrupted {
		t.Error("report not marked interrupted")
	}
	checkGone(t, rep.System.Processes)
}

// cancelOn collects progress and cancels when a line contains text.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	text   string
	cancel func()
}

func (c *cancelOn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(b, []byte(c.text)) {
		c.cancel()
	}
	return c.buf.Write(b)
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func TestCLI_Commands(t *testing.T) {
	tests := []struct {
		args  []string
		want  string
		check func(*CLI) error
	}{
		{nil, "compare", func(c *CLI) error {
			if len(c.Compare.Clients) != 2 {
				return fmt.Errorf("default clients %v", c.Compare.Clients)
			}
			return nil
		}},
		{[]string{"--clients", "1,4", "--json"}, "compare", func(c *CLI) error {
			if len(c.Compare.Clients) != 2 || c.Compare.Clients[1] != 4 || !c.Compare.JSON {
				return fmt.Errorf("flags without a command: %+v", c.Compare)
			}
			return nil
		}},
		{[]string{"compare", "--sides", "raw"}, "compare", nil},
		{[]string{"compare", "--url", "tls://h:4222", "--creds", "system_test.go", "--tls-ca", "compare_test.go"}, "compare", func(c *CLI) error {
			if c.Compare.URL != "tls://h:4222" || filepath.Base(c.Compare.Creds) != "system_test.go" || filepath.Base(c.Compare.TLSCA) != "compare_test.go" {
				return fmt.Errorf("compare hub flags %+v", c.Compare)
			}
			return nil
		}},
		{[]string{"thesis"}, "thesis", func(c *CLI) error {
			if c.Thesis.Runs != 5 || c.Thesis.Calls != 1000 {
				return fmt.Errorf("thesis defaults %d runs of %d", c.Thesis.Runs, c.Thesis.Calls)
			}
			return nil
		}},
		{[]string{"soak", "--nats", "nats://h:4222", "--pid", "hub=12", "--pid", "tst=34", "--creds", "system_test.go"}, "soak", func(c *CLI) error {
			if c.Soak.PIDs["hub"] != 12 || c.Soak.PIDs["tst"] != 34 || c.Soak.Idle != 30*time.Second || c.Soak.Calls != 100000 || filepath.Base(c.Soak.Creds) != "system_test.go" {
				return fmt.Errorf("soak flags %+v", c.Soak)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"args"}, tt.args...), " "), func(t *testing.T) {
			var cli CLI
			parser, err := kong.New(&cli, kong.Name("dpc-bench"), kong.Exit(func(int) { t.Fatal("exit") }))
			if err != nil {
				t.Fatal(err)
			}
			kctx, err := parser.Parse(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := kctx.Selected().Name; got != tt.want {
				t.Fatalf("selected %q, want %q", got, tt.want)
			}
			if _, ok := kctx.Selected().Target.Addr().Interface().(command); !ok {
				t.Fatal("selected command has no Run")
			}
			if tt.check != nil {
				if err := tt.check(&cli); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
