package proctest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Process is a running binary whose stdout and stderr go to one Buffer.
type Process struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	out    *Buffer
	exited chan struct{} // closed once Wait has returned
	err    error         // Wait's result, set before exited is closed
}

// Start starts cmd, prepared by the caller (arguments, environment, a stdin
// pipe), under name for messages. At cleanup the process is killed and, if
// the test failed, its output logged.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{t: t, name: name, cmd: cmd, out: &Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// Output is the process's stdout and stderr, as written so far.
func (p *Process) Output() *Buffer { return p.out }

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and returns the exit error, failing the test if the
// process has not exited within timeout. Once it has, its output is
// complete. A process that had already ended cannot be signalled: Stop
// then returns that error.
func (p *Process) Stop(timeout time.Duration) error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s did not stop within %s of SIGTERM", p.name, timeout)
		return nil
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit by itself and returns
// its exit error, failing the test if it is still running then.
func (p *Process) Wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s", p.name, timeout)
		return nil
	}
}
