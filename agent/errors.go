package agent

import "github.com/dpc-project/dpc/omq"

// Sentinels for the agent's refusals, matched by code with errors.Is
// whether the error came from an in-process Agent or over the wire through
// Client: errors.Is(err, agent.ErrNotFound).
var (
	ErrBadRequest  = &omq.Error{Code: CodeBadRequest, Description: "bad request"}
	ErrNotFound    = &omq.Error{Code: CodeNotFound, Description: "no such process"}
	ErrConflict    = &omq.Error{Code: CodeConflict, Description: "instance id in use"}
	ErrFailed      = &omq.Error{Code: CodeFailed, Description: "could not start"}
	ErrUnavailable = &omq.Error{Code: CodeUnavailable, Description: "agent unavailable"}
)

// requestError is a refused request. It reads "agent: …" in process and
// unwraps to the *omq.Error the handler replies with, so that omq sends its
// code and the caller matches it with the sentinels above.
type requestError struct{ err *omq.Error }

func refuse(code int, format string, args ...any) error {
	return &requestError{err: omq.Errorf(code, format, args...)}
}

func (e *requestError) Error() string { return "agent: " + e.err.Description }
func (e *requestError) Unwrap() error { return e.err }
