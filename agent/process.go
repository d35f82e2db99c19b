package agent

import (
	"bufio"
	"context"
	"errors"
	"github.com/dpc-project/dpc/internal/procgroup"
	"github.com/dpc-project/dpc/logstream"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// maxLine bounds one forwarded line of output, so that a process
	// writing without newlines cannot make the agent buffer without end;
	// the rest of a longer line is dropped.
	maxLine = 4096
	// drainOutput is how long the agent keeps reading a process's output
	// after it exited: a child that escaped its process group may hold the
	// pipe open for ever.
	drainOutput = time.Second
	// killWait bounds the wait for a process to go after SIGKILL; only a
	// process stuck in the kernel takes longer.
	killWait = 5 * time.Second
)

// process is one instance the agent started.
type process struct {
	id      string
	service string
	command []string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed once the process is reaped, its exit recorded and cleanup run
	cleanup func()        // what Credentials.Issue returned, run once the process has exited

	// Guarded by Agent.mu.
	gone     bool // it has exited (maybe not yet reaped): signal it no more
	state    string
	stopped  bool      // a stop was asked for before it exited
	killAt   time.Time // when the earliest pending escalation sends SIGKILL
	exited   time.Time
	exitCode int
	errText  string
}

// snapshot is the process as list reports it. Call with Agent.mu held.
func (p *process) snapshot(agentID string) Process {
	out := Process{
		ID:      p.id,
		Service: p.service,
		Agent:   agentID,
		PID:     p.cmd.Process.Pid,
		State:   p.state,
		Command: slices.Clone(p.command),
		Started: p.started,
		Stopped: p.stopped,
	}
	if p.state == StateExited {
		t := p.exited
		out.Exited = &t
		out.ExitCode = p.exitCode
		out.Error = p.errText
	}
	return out
}

// exitStatus turns Wait's result into the exit code and error of
// Process: -1 and "signal: killed" for a signal.
func exitStatus(cmd *exec.Cmd, err error) (code int, text string) {
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if err != nil {
		text = err.Error()
		if cmd.ProcessState == nil {
			code = -1
		}
	}
	return code, text
}

// forward logs each line a process writes to r, with its instance id,
// until r ends or its read deadline passes. It closes r.
//
// The lines go to the agent's stderr only, not to the hub's window of
// logs: a DPC process publishes its own records (package logstream), and
// forwarding them too would show each twice. A program that is not a DPC
// process publishes its records itself, or they stay on this host.
func forward(log *slog.Logger, r *os.File) {
	defer r.Close()
	local := logstream.Suppress(context.Background())
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			if full {
				log.InfoContext(local, "output", "line", text, "truncated", true)
			} else {
				log.InfoContext(local, "output", "line", text)
			}
		}
		for full {
			_, err = br.ReadSlice('\n')
			full = errors.Is(err, bufio.ErrBufferFull)
		}
		if err != nil {
			return
		}
	}
}

// signal sends sig to the process's group, logging a failure other than
// the group being gone already.
func (p *process) signal(log *slog.Logger, sig syscall.Signal) {
	err := procgroup.Signal(p.cmd.Process, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrProcessDone) {
		log.Warn("signal failed", "instance", p.id, "signal", sig.String(), "err", err)
	}
}
