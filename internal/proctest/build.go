package proctest

import (
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
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
