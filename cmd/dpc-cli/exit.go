package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// Exit codes; main's doc comment, --help (exitCodesHelp) and the README
// list them too. An error a service returns keeps its own meaning: only
// "nothing answers" is unavailable.
const (
	exitOK    = 0
	exitError = 1
	// exitUsage: the command line is wrong (a flag, a missing or badly
	// typed argument, an ambiguous function name), or the service refused
	// the arguments (400) or their size (413).
	exitUsage = 2
	// exitUnavailable: try again later. No instance answers, the hub is
	// unreachable, or the service says it cannot serve for now (503).
	exitUnavailable = 3
	exitTimeout     = 4
	exitConflict    = 5
	// exitDenied: the hub refused this identity (unknown, revoked, or a
	// permission its role lacks), a pairing code was refused, or the
	// service refused the caller (401, 403).
	exitDenied = 6
	// exitNotFound: what was named does not exist: a function or an
	// application the catalog does not know (with the closest names it
	// does), or a thing the service did not find (404: a note, say).
	exitNotFound = 7
	// exitInterrupted is the shell's convention for a program stopped by
	// SIGINT (128 + 2).
	exitInterrupted = 130
)

// exitCodesHelp is the table of exit codes shown by --help.
const exitCodesHelp = `Exit codes: 0 ok; ` +
	`1 error (the service failed: 500, or a code of its own, shown); ` +
	`2 bad usage or bad arguments (also a 400 or 413 from the service, or an ambiguous function name); ` +
	`3 unavailable, try again later (no instance answers, the hub is unreachable, or a 503 from the service); ` +
	`4 timeout; ` +
	`5 conflict (409: a note changed since the revision you edited, or a merge has conflicts to resolve); ` +
	`6 denied (the hub refused this device's credentials or a pairing code, or its role may not do that; a 401 or 403 from the service); ` +
	`7 not found (no such function or application in the catalog, or a 404 from the service: no such note); ` +
	`130 interrupted.`

// Error codes of services that dpc-cli gives a meaning of their own; omq
// names the others (400, 404, 413, 500, 503).
const (
	codeUnauthorized = 401
	codeForbidden    = 403
	// codeConflict is the error code of a call refused because the state
	// it assumed has changed, such as a note saved from an old revision.
	codeConflict = 409
)

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

func notFoundErrorf(cause error, format string, args ...any) error {
	return &cliError{code: exitNotFound, msg: fmt.Sprintf(format, args...), err: cause}
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

// remoteExitCode is the exit code of an error reply with code: what the
// service said, never an outage unless it said so (503).
func remoteExitCode(code int) int {
	switch code {
	case omq.CodeBadArguments, omq.CodeTooLarge:
		return exitUsage
	case codeUnauthorized, codeForbidden:
		return exitDenied
	case omq.CodeUnknownFunction:
		return exitNotFound
	case codeConflict:
		return exitConflict
	case omq.CodeUnavailable:
		return exitUnavailable
	}
	return exitError
}

// callFailure explains for a person why the call of function name
// (service.function) failed, with the exit code that goes with it.
// timeout is the call's timeout, for the message.
func callFailure(name string, err error, timeout time.Duration) error {
	var re *omq.Error
	switch {
	case errors.Is(err, context.Canceled):
		return &cliError{code: exitInterrupted, msg: fmt.Sprintf("call of %s interrupted", name), err: err}
	case errors.Is(err, omq.ErrNoResponders):
		msg := fmt.Sprintf("%s is not available at the moment: no instance of %s answers", name, serviceOf(name))
		var ni *noInstanceError
		if errors.As(err, &ni) && ni.waited >= 100*time.Millisecond {
			msg += fmt.Sprintf(" (waited %s for one)", ni.waited.Round(100*time.Millisecond))
		}
		return &cliError{code: exitUnavailable, msg: msg, err: err}
	case errors.Is(err, omq.ErrTimeout):
		return &cliError{code: exitTimeout, msg: fmt.Sprintf("%s timed out: no reply within %s", name, timeout), err: err}
	case errors.Is(err, omq.ErrClosed):
		return &cliError{code: exitUnavailable, msg: fmt.Sprintf("%s: the connection to the hub is closed", name), err: err}
	case errors.As(err, &re):
		return &cliError{code: remoteExitCode(re.Code), msg: remoteMessage(name, re), err: err}
	case errors.Is(err, omq.ErrTooLarge):
		// Refused here, before sending: larger than this node's maximum.
		return &cliError{code: exitUsage, msg: fmt.Sprintf("%s: %v", name, err), err: err}
	}
	return &cliError{code: exitError, msg: fmt.Sprintf("%s: %v", name, err), err: err}
}

// serviceOf is the service of a qualified function name: "tst" of
// "tst.add".
func serviceOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// remoteMessage says what an error reply of a service means, with the
// service's own description.
func remoteMessage(name string, re *omq.Error) string {
	switch re.Code {
	case omq.CodeBadArguments:
		return fmt.Sprintf("bad arguments to %s (400): %s", name, re.Description)
	case codeUnauthorized, codeForbidden:
		return fmt.Sprintf("%s refused the call (%d): %s", name, re.Code, re.Description)
	case omq.CodeUnknownFunction:
		// The description says what was not found ("no note named …").
		if strings.Contains(strings.ToLower(re.Description), "not found") {
			return fmt.Sprintf("%s: %s (404)", name, re.Description)
		}
		return fmt.Sprintf("%s: not found (404): %s", name, re.Description)
	case codeConflict:
		return fmt.Sprintf("conflict in %s (409): %s", name, re.Description)
	case omq.CodeTooLarge:
		return fmt.Sprintf("%s: too large (413): %s", name, re.Description)
	case omq.CodeHandlerFailure:
		return fmt.Sprintf("%s failed in the service (500): %s", name, re.Description)
	case omq.CodeUnavailable:
		return fmt.Sprintf("%s cannot serve the call for now (503): %s", name, re.Description)
	}
	return fmt.Sprintf("%s failed (%d): %s", name, re.Code, re.Description)
}
