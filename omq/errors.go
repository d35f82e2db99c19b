package omq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrNoResponders: no instance is bound under the name (or at the
	// addressed instance). Returned at once, not after the timeout.
	ErrNoResponders = errors.New("omq: no responders")
	// ErrTimeout: no reply within the call's deadline. It also matches
	// context.DeadlineExceeded.
	ErrTimeout = errors.New("omq: timeout")
	// ErrClosed: the Node or Instance was closed.
	ErrClosed = errors.New("omq: closed")
	// ErrNoJetStream: a durable send or bind needs JetStream, and the server
	// has it off.
	ErrNoJetStream = errors.New("omq: JetStream not available")
)

// Error codes carried in the Nats-Service-Error-Code header.
const (
	CodeBadArguments    = 400
	CodeUnknownFunction = 404
	// CodeTooLarge: a request or reply body is larger than the receiver's
	// (or the sender's) body maximum; see WithMaxBody.
	CodeTooLarge       = 413
	CodeHandlerFailure = 500
	// CodeUnavailable: the instance cannot serve the call now but may soon
	// (the storage it needs is electing a leader, say). A call marked
	// Idempotent is sent again, backing off, until its timeout; the
	// durable lane offers it again like any 5xx.
	CodeUnavailable = 503
)

// Remote error sentinels, matched by code: errors.Is(err, ErrBadArguments)
// is true for any *Error with code 400.
var (
	ErrBadArguments    = &Error{Code: CodeBadArguments, Description: "bad arguments"}
	ErrUnknownFunction = &Error{Code: CodeUnknownFunction, Description: "unknown function"}
	ErrHandlerFailure  = &Error{Code: CodeHandlerFailure, Description: "handler failure"}
	ErrUnavailable     = &Error{Code: CodeUnavailable, Description: "unavailable"}
	// ErrTooLarge matches a remote 413 (the instance refused the request's
	// body, or could not send its result) and also the local refusals: a
	// body this node will not store, or a reply object it will not read,
	// because it is larger than WithMaxBody. errors.As to *Error tells the
	// two apart: only the remote one is an *Error.
	ErrTooLarge = &Error{Code: CodeTooLarge, Description: "body too large"}
)

// Error is a failure reported by the remote instance: a code (HTTP-like:
// 400 bad arguments, 404 unknown function, 413 body too large, 500 handler
// failure, or any code a
// handler chooses) and a description. Handlers return it to choose the code;
// callers receive it from Call.
type Error struct {
	Code        int
	Description string
}

// Errorf builds an *Error a handler can return to reply with a given code.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return fmt.Sprintf("omq: remote error %d: %s", e.Code, e.Description)
}

// Is matches another *Error with the same code, so that the sentinels above
// work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// remoteError builds the caller-side error from reply headers.
func remoteError(desc, code string) *Error {
	c, err := strconv.Atoi(code)
	if err != nil {
		c = CodeHandlerFailure
	}
	return &Error{Code: c, Description: desc}
}

// timeoutError says which call timed out; it is both ErrTimeout and
// context.DeadlineExceeded.
type timeoutError struct{ what string }

func (e *timeoutError) Error() string { return "omq: timeout: " + e.what }
func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// noRespondersError names what had no responders.
type noRespondersError struct{ subject string }

func (e *noRespondersError) Error() string {
	return "omq: no responders on " + e.subject
}
func (e *noRespondersError) Is(target error) bool { return target == ErrNoResponders }
