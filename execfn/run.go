package execfn

import (
	"context"
	"errors"
	"fmt"
	"github.com/dpc-project/dpc/internal/procgroup"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// drainOutput is how long output is still read after the command's group
// is gone: only a process that left the group (setsid) can hold the pipes
// open that long, and it must not hold the call.
const drainOutput = time.Second

// runner runs commands, one per call.
type runner struct {
	env       []string
	maxOutput int
	log       *slog.Logger
}

// command is one call's command line.
type command struct {
	fn      string // service.function, for messages
	program string // as the manifest names it: argv[0]
	path    string // the program found on PATH
	args    []string
	timeout time.Duration
}

// runError is why a command failed, with the end of its standard error.
// Its message is one line, fit for an error reply.
type runError struct {
	msg    string
	stderr string
}

func (e *runError) Error() string {
	if e.stderr == "" {
		return e.msg
	}
	return e.msg + "; stderr: " + e.stderr
}

// run runs c to completion and returns its standard output, and the end
// of its standard error (for a result that then fails to parse). The
// command is killed, with its whole process group, when c.timeout passes,
// when ctx ends, or when its output passes the runner's limit; when it
// exits, what it left in its group is killed too.
func (r *runner) run(ctx context.Context, c command) (stdout []byte, stderr string, err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, "", &runError{msg: fmt.Sprintf("%s: the call ended (%v) before %s started", c.fn, err, c.program)}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", c.fn, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, "", fmt.Errorf("%s: %w", c.fn, err)
	}
	cmd := &exec.Cmd{
		Path:   c.path,
		Args:   append([]string{c.program}, c.args...),
		Env:    r.env,
		Stdout: outW,
		Stderr: errW,
		// A group of its own, so that a timeout kills the command and all
		// it started, and a Ctrl-C at dpc-service's terminal reaches
		// dpc-service alone; SIGKILL should dpc-service die without
		// stopping it.
		SysProcAttr: procgroup.Attr(syscall.SIGKILL),
	}
	start := time.Now()
	err = cmd.Start()
	// The child has its own copies; ours would keep the pipes open.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		// Found at start, so gone since, or a script whose interpreter
		// is missing: the error says which file.
		return nil, "", &runError{msg: fmt.Sprintf("%s: cannot run %s: %v", c.fn, c.program, err)}
	}
	log := r.log.With("function", c.fn, "program", c.program, "pid", cmd.Process.Pid)

	// Read both pipes while the command runs, stdout up to the limit.
	var out limited
	out.max = r.maxOutput
	var errTail tail
	overflow := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer outR.Close()
		if _, err := io.Copy(&out, outR); errors.Is(err, errOverflow) {
			close(overflow)
		}
	}()
	go func() {
		defer readers.Done()
		defer errR.Close()
		io.Copy(&errTail, errR)
	}()

	// Kill the group from here only while the leader is not yet reaped:
	// until then its id cannot belong to anyone else's group.
	var mu sync.Mutex
	gone := false
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if !gone {
			if err := procgroup.Signal(cmd.Process, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrProcessDone) {
				log.Warn("killing the command failed", "err", err)
			}
		}
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		defer close(done)
		waitErr = procgroup.Reap(cmd, func() {
			kill() // what it left running in its group
			mu.Lock()
			gone = true
			mu.Unlock()
		})
	}()

	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	var stopped string // why it was killed, if it was
	select {
	case <-done:
	case <-timer.C:
		stopped = fmt.Sprintf("timed out after %s", c.timeout)
	case <-ctx.Done():
		stopped = fmt.Sprintf("the call ended (%v) before %s finished", context.Cause(ctx), c.program)
	case <-overflow:
		stopped = fmt.Sprintf("%s wrote more than %s to its output, the most a result may be", c.program, size(r.maxOutput))
	}
	if stopped != "" {
		kill()
	}
	<-done
	// The group is gone; only a process that left it can still hold the
	// pipes, and it is not waited for long.
	deadline := time.Now().Add(drainOutput)
	outR.SetReadDeadline(deadline)
	errR.SetReadDeadline(deadline)
	readers.Wait()
	stderr = errTail.String()
	elapsed := time.Since(start)

	if stopped != "" {
		// omq logs the call's failure; this adds the process.
		log.Debug("command stopped", "why", stopped, "elapsed", elapsed)
		return nil, stderr, &runError{msg: fmt.Sprintf("%s: %s; stopped %s and everything it started", c.fn, stopped, c.program), stderr: stderr}
	}
	if out.over {
		// It exited on its own as the limit was passed.
		return nil, stderr, &runError{msg: fmt.Sprintf("%s: %s wrote more than %s to its output, the most a result may be", c.fn, c.program, size(r.maxOutput)), stderr: stderr}
	}
	if waitErr != nil {
		var ee *exec.ExitError
		msg := fmt.Sprintf("%s: %s failed: %v", c.fn, c.program, waitErr)
		if errors.As(waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				msg = fmt.Sprintf("%s: %s was killed by signal %s", c.fn, c.program, ws.Signal())
			} else {
				msg = fmt.Sprintf("%s: %s exited with status %d", c.fn, c.program, ee.ExitCode())
			}
		}
		if stderr == "" {
			msg += " and wrote nothing to stderr"
		}
		log.Debug("command failed", "err", waitErr, "stderr", stderr, "elapsed", elapsed)
		return nil, stderr, &runError{msg: msg, stderr: stderr}
	}
	log.Debug("command done", "elapsed", elapsed, "bytes", len(out.b))
	return out.b, stderr, nil
}

// errOverflow ends the copy of a command's output past the limit.
var errOverflow = errors.New("execfn: output over the limit")

// limited keeps up to max bytes and fails the write that passes them.
type limited struct {
	b    []byte
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > l.max {
		l.over = true
		return 0, errOverflow
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// size writes a byte count as a person reads it: 1 MiB, 64 KiB, 100 bytes.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
