package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles the main packages pkgs, given relative to the module
// root ("./cmd/dpc-hub"), into dir, and returns each binary's path by its
// package. It runs outside any test (in TestMain), so it returns an error
// rather than failing one.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("proctest: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	// With -o naming a directory, one go build writes every package's
	// binary there, under the package's last path element.
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("proctest: go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := make(map[string]string, len(pkgs))
	for _, pkg := range pkgs {
		bins[pkg] = filepath.Join(dir, path.Base(pkg))
	}
	return bins, nil
}

// RunWithBinaries is a TestMain body for tests of DPC's binaries: it
// builds pkgs into a temporary directory, hands their paths (by package)
// to use, runs the tests, removes the directory, and returns the exit
// code for os.Exit — 1 if the build failed. The tests and the processes
// they start see an empty DPC_HOME (see Isolate).
func RunWithBinaries(m *testing.M, use func(bins map[string]string), pkgs ...string) int {
	dir, err := os.MkdirTemp("", "dpc-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := Isolate(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins, err := Build(dir, pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(bins)
	return m.Run()
}

// Isolate points DPC_HOME at an empty directory under dir: DPC's commands
// find no identity there unless a test puts one, so a profile of the
// machine's user (~/.config/dpc) never leaks into a test. It also keeps
// the hubs the tests start from announcing themselves on the LAN.
func Isolate(dir string) error {
	home := filepath.Join(dir, "dpc-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("proctest: %w", err)
	}
	// The hubs tests start stay off the LAN (dpc-hub announces itself
	// with multicast DNS by default); a test of discovery turns it on
	// inside a network namespace of its own (discovery/discoverytest).
	if err := os.Setenv("DPC_HUB_MDNS", "false"); err != nil {
		return fmt.Errorf("proctest: %w", err)
	}
	// Nor do they serve the web app on its fixed default port (:8443),
	// where two hubs would collide; a test of it names a port.
	if err := os.Setenv("DPC_HUB_WEB", ""); err != nil {
		return fmt.Errorf("proctest: %w", err)
	}
	return os.Setenv("DPC_HOME", home)
}
