package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
)

// exitOf is the exit code of a finished command.
func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// The built binary: exit codes through os.Exit, and a real SIGINT, which
// stops a command (130) but in the interactive mode cancels only the call
// in progress.
func TestBinary_SignalsAndExitCodes(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	waiting := make(chan struct{}, 1)
	startExtra(t, sys.url, waiting)

	out, err := exec.Command(cliBinary, append(append([]string{"--nats", sys.url}, auth(sys.url)...), "call", "tst.add", "1")...).CombinedOutput()
	if code := exitOf(t, err); code != exitUsage || !strings.HasPrefix(string(out), "dpc-cli: add: missing b") {
		t.Fatalf("call with a missing argument: exit %d, %s", code, out)
	}

	// SIGINT stops a command.
	var stderr proctest.Buffer
	cmd := exec.Command(cliBinary, append(append([]string{"--nats", sys.url}, auth(sys.url)...), "--timeout", "1m", "call", "wait")...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-waiting
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := exitOf(t, cmd.Wait()); code != exitInterrupted || !strings.Contains(stderr.String(), "dpc-cli: call of extra.wait interrupted") {
		t.Fatalf("after SIGINT: exit %d, stderr %q", code, stderr.String())
	}

	// In the interactive mode SIGINT cancels the call; EOF then ends the
	// session with 0.
	var stdout proctest.Buffer
	cmd = exec.Command(cliBinary, append(append([]string{"--nats", sys.url}, auth(sys.url)...), "--timeout", "1m", "--app", "test")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	brokertest.Eventually(t, waitLong, func() bool { return strings.Contains(stdout.String(), "Select functionality: ") }, "the functions menu")
	stdin.Write([]byte(menu(stdout.String())["wait"] + "\n"))
	<-waiting
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, waitLong, func() bool { return strings.Contains(stdout.String(), "Call of wait() cancelled.") }, "the call cancelled")
	stdin.Close()
	if code := exitOf(t, cmd.Wait()); code != 0 {
		t.Fatalf("interactive mode: exit %d after EOF:\n%s", code, stdout.String())
	}
}
