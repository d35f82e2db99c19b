// Package discoverytest runs a test where announcing and browsing with
// multicast DNS reaches nothing but the test itself: a network namespace
// of its own whose only interface is a loopback with multicast on. The
// test suite's hubs never meet another machine's, nor each other.
package discoverytest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// envInside names the test running inside its namespace.
const envInside = "DPC_TEST_NETNS"

// Interface is the namespace's only interface: what to announce and
// browse on.
const Interface = "lo"

// setup makes the namespace's loopback carry multicast: up, flagged
// multicast, and the multicast range routed to it (the default route a
// browser's socket would use does not exist there).
const setup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"`

// Isolate runs t again, alone, in a new network namespace (as root, with
// unshare(1) and ip(8)) and reports whether the caller is that run. In
// the first run it returns false once the inner run has finished — its
// output logged, its failure this test's — and the caller returns. Where
// namespaces or multicast are not available it skips t, saying why.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envInside) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("multicast DNS is tested in a network namespace of its own, which needs root; not announcing on this machine's LAN")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("multicast DNS is tested in a network namespace of its own, made with unshare(1) and ip(8): %v", err)
		}
	}
	if out, err := exec.Command("unshare", "--net", "--", "sh", "-c", setup, "true").CombinedOutput(); err != nil {
		t.Skipf("no network namespace with multicast on its loopback here (%v: %s); not announcing on this machine's LAN", err, out)
	}
	args := []string{"--net", "--", "sh", "-c", setup, os.Args[0],
		"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), envInside+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the run in the network namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the run in the network namespace did not run the test")
	}
	return false
}
