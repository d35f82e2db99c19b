//go:build linux

package procgroup

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child's group is its own, and Signal reaches what the child started
// even after the child itself has exited: Reap's exited sees the group
// whole, and nothing of it is left after.
func TestSignalReachesWhatTheChildLeft(t *testing.T) {
	// The shell starts a sleep in the background, prints its pid and exits.
	cmd := exec.Command("sh", "-c", "sleep 60 & echo $!")
	cmd.SysProcAttr = Attr(syscall.SIGKILL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	left, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("the child's output %q: %v", buf[:n], err)
	}
	if pgid, err := syscall.Getpgid(left); err != nil || pgid != cmd.Process.Pid {
		t.Fatalf("the background sleep is in group %d (%v), want the child's own, %d", pgid, err, cmd.Process.Pid)
	}
	var signalled error
	_ = Reap(cmd, func() { signalled = Signal(cmd.Process, syscall.SIGKILL) })
	if signalled != nil {
		t.Fatalf("signal the group after the child exited: %v", signalled)
	}
	// The sleep is gone (a zombie until init reaps it counts as gone).
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(left, 0)
		if errors.Is(err, syscall.ESRCH) || zombie(left) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background sleep %d outlived the group's kill", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "Z")
}
