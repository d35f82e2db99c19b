package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Exit codes; main's doc comment and --help list them too.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitTimeout     = 4
	exitConflict    = 5
	// exitDenied: the hub refused this identity (unknown, revoked, or a
	// permission its role lacks), or a pairing code was refused.
	exitDenied = 6
	// exitInterrupted is the shell's convention for a program stopped by
	// SIGINT (128 + 2).
	exitInterrupted = 130
)

// exitCodesHelp is the table of exit codes shown by --help.
const exitCodesHelp = `Exit codes: 0 ok; 1 error; 2 bad usage or bad arguments (also a 400 from the service, or an ambiguous function name); 3 unavailable (no instance answers, not in the catalog, hub unreachable); 4 timeout; 5 conflict (409: a note changed since the revision you edited); 6 denied (the hub refused this device's credentials or a pairing code, or its role may not do that); 130 interrupted.`

// codeConflict is the error code of a call refused because the state it
// assumed has changed, such as a note saved from an old revision.
const codeConflict = 409

// cliError is an error with the exit code it should end dpc-cli with.
// Its message is what the user reads after "dpc-cli: ".
type cliError struct {
	code int
	msg  string
	err  error // the cause, for errors.Is; may be nil
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// ExitCode lets kong and exitCode read the code.
func (e *cliError) ExitCode() int { return e.code }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func unavailableErrorf(cause error, format string, args ...any) error {
	return &cliError{code: exitUnavailable, msg: fmt.Sprintf(format, args...), err: cause}
}

// exitCode is the exit code err should end dpc-cli with.
func exitCode(err error) int {
	var ce *cliError
	var re *omq.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, omq.ErrNoResponders), errors.Is(err, omq.ErrClosed):
		return exitUnavailable
	case errors.Is(err, omq.ErrTimeout):
		return exitTimeout
	case errors.As(err, &re):
		return remoteExitCode(re.Code)
	}
	return exitError
}

func remoteExitCode(code int) int {
	switch code {
	case omq.CodeBadArguments:
		return exitUsage
	case omq.CodeUnknownFunction:
		return exitUnavailable
	case codeConflict:
		return exitConflict
	}
	return exitError
}

// callFailure explains for a person why the call of function name failed,
// with the exit code that goes with it. timeout is the call's timeout, for
// the message.
func callFailure(name string, err error, timeout time.Duration) error {
	var re *omq.Error
	switch {
	case errors.Is(err, context.Canceled):
		return &cliError{code: exitInterrupted, msg: fmt.Sprintf("call of %s interrupted", name), err: err}
	case errors.Is(err, omq.ErrNoResponders):
		return &cliError{code: exitUnavailable, msg: fmt.Sprintf("%s is not available at the moment: no instance of its service answers", name), err: err}
	case errors.Is(err, omq.ErrTimeout):
		return &cliError{code: exitTimeout, msg: fmt.Sprintf("%s timed out: no reply within %s", name, timeout), err: err}
	case errors.Is(err, omq.ErrClosed):
		return &cliError{code: exitUnavailable, msg: fmt.Sprintf("%s: the connection to the hub is closed", name), err: err}
	case errors.As(err, &re):
		return &cliError{code: remoteExitCode(re.Code), msg: remoteMessage(name, re), err: err}
	}
	return &cliError{code: exitError, msg: fmt.Sprintf("%s: %v", name, err), err: err}
}

// remoteMessage says what an error reply of a service means.
func remoteMessage(name string, re *omq.Error) string {
	switch re.Code {
	case omq.CodeBadArguments:
		return fmt.Sprintf("bad arguments to %s (400): %s", name, re.Description)
	case omq.CodeUnknownFunction:
		return fmt.Sprintf("%s is not available (404): %s", name, re.Description)
	case codeConflict:
		return fmt.Sprintf("conflict in %s (409): %s", name, re.Description)
	case omq.CodeHandlerFailure:
		return fmt.Sprintf("%s failed in the service (500): %s", name, re.Description)
	}
	return fmt.Sprintf("%s failed (%d): %s", name, re.Code, re.Description)
}
