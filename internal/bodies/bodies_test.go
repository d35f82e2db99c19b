package bodies

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/benchreport"
)

// serveArg, as the test binary's first argument, makes it the files
// service of TestRun_SmallBody (Config.ServeCmd) instead of running tests.
const serveArg = "bodies-test-serve"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == serveArg {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Serve(ctx, os.Args[2], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestWriteText(t *testing.T) {
	rep := &Report{
		Machine: benchreport.Machine{NumCPU: 2, OS: "linux", Arch: "amd64"},
		Size:    100 << 20, Target: 64 << 20,
		Rows: []Row{
			{Phase: "argument", Process: "hub", Before: 20 << 20, Peak: 30 << 20, After: 25 << 20, Growth: 10 << 20, Met: true, Seconds: 1.25},
			{Phase: "argument", Process: "dpc-cli", Before: 10 << 20, Peak: 90 << 20, Growth: 80 << 20, Seconds: 1.25},
		},
	}
	var out bytes.Buffer
	if err := WriteText(&out, rep); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Large bodies: 104857600 bytes (100 MiB)",
		"machine: unknown CPU, 2 cores, linux/amd64",
		"phase", "RSS before",
		"argument      hub    20.0 MiB  30.0 MiB  10.0 MiB  25.0 MiB  ≤ 64.0 MiB  yes      1.2\n",
		"argument  dpc-cli    10.0 MiB  90.0 MiB  80.0 MiB         —  ≤ 64.0 MiB   NO      1.2\n",
		"Each phase on a fresh hub",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the table lacks %q:\n%s", want, text)
		}
	}
}

func TestWriteBodies_SizeAndSum(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int64{0, 1000, 1<<20 + 3} {
		for name, write := range map[string]func(string, int64) (string, string, error){"body": writeBody, "text": writeText} {
			path, sum, err := write(filepath.Join(dir, fmt.Sprintf("%s-%d", name, size)), size)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != size {
				t.Errorf("%s of %d bytes: wrote %d", name, size, fi.Size())
			}
			if got, err := fileSum(path); err != nil || got != sum {
				t.Errorf("%s of %d bytes: SHA-256 %s (%v), said %s", name, size, got, err, sum)
			}
		}
	}
}

// A small body through every phase, with real processes: a row per
// process a phase measures, each sane. 9 MiB is over the hub's default
// largest note (8 MiB): the notes phases pass only with the hub's
// DPC_HUB_MAX_NOTE set.
func TestRun_SmallBody(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dpc-hub and dpc-cli and starts them")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Size: 9 << 20, Target: 1 << 30, Timeout: 30 * time.Second,
		ServeCmd: []string{self, serveArg},
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Phase+"/"+r.Process)
		if r.Before <= 0 || r.Peak < r.Before || r.Growth != r.Peak-r.Before || !r.Met || r.Seconds <= 0 {
			t.Errorf("insane row %+v", r)
		}
	}
	want := "argument/hub argument/files argument/dpc-cli argument+result/hub argument+result/files argument+result/dpc-cli " +
		"note save/hub note save/dpc-cli note get/hub note get/dpc-cli"
	if strings.Join(got, " ") != want {
		t.Errorf("rows %q, want %q", strings.Join(got, " "), want)
	}
}
