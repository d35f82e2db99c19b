package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
)

// TestExec_ManifestAlone runs a service that is a manifest alone — the
// example sysinfo.yml, whose functions run this machine's programs —
// under a real hub, and calls it with dpc-cli as a person would.
func TestExec_ManifestAlone(t *testing.T) {
	_, url := startHub(t, freePort(t), t.TempDir())
	proctest.Start(t, "dpc-service --manifest sysinfo.yml",
		exec.Command(bins.service, "--nats", url, "--manifest", "../examples/sysinfo.yml"))
	eventually(t, 30*time.Second, func() bool { return funcs(t, url)["sysinfo.sha256"] == 1 }, "sysinfo in the catalog")

	dir := t.TempDir()
	// A name a shell would act on: it must reach sha256sum as it is.
	file := filepath.Join(dir, "notes; rm -rf $(id) `x`")
	content := []byte(strings.Repeat("the Distributed Personal Computer\n", 100))
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)

	if r := cli(t, url, "call", "sysinfo.sha256", file); r.code != 0 || strings.TrimSpace(r.stdout) != hex.EncodeToString(sum[:]) {
		t.Errorf("call sysinfo.sha256: %+v, want %x", r, sum)
	}
	if r := cli(t, url, "call", "fileSize", "path="+file); r.code != 0 || strings.TrimSpace(r.stdout) != fmt.Sprint(len(content)) {
		t.Errorf("call fileSize: %+v, want %d", r, len(content))
	}
	if r := cli(t, url, "call", "sysinfo.listDir", dir); r.code != 0 || !strings.Contains(r.stdout, filepath.Base(file)) {
		t.Errorf("call listDir: %+v", r)
	}
	if r := cli(t, url, "call", "sysinfo.kernel"); r.code != 0 || !strings.HasPrefix(r.stdout, "Linux ") {
		t.Errorf("call kernel: %+v", r)
	}

	// A command that fails is a 500 with the end of its stderr.
	r := cli(t, url, "call", "sysinfo.sha256", filepath.Join(dir, "missing"))
	if r.code != 1 || !strings.Contains(r.stderr, "(500)") || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("call sha256 of a missing file: %+v, want exit 1 with a 500 saying why", r)
	}
	// A bad argument is refused before anything runs.
	if r := cli(t, url, "call", "sysinfo.fileSize"); r.code != 2 {
		t.Errorf("call fileSize without its path: %+v, want exit 2", r)
	}
}
