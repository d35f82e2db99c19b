package omq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Handler serves one function. It returns the result (encoded as JSON; a
// json.RawMessage is sent as is; nil sends null) or an error. Return an
// *Error to choose the error code; any other error is a 500.
type Handler interface {
	Handle(ctx context.Context, req *Request) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req *Request) (any, error) { return f(ctx, req) }

// Handlers binds functions defined at run time (from a manifest, say): pass
// it to Node.Bind in place of a Go value. Keys are function names.
type Handlers map[string]Handler

// Kind tells how a request reached the instance.
type Kind int

const (
	// KindUnicast: sent to the name's queue group; one instance got it.
	KindUnicast Kind = iota
	// KindMulti: fanned out to every instance.
	KindMulti
	// KindDirect: addressed to this one instance.
	KindDirect
	// KindDurable: taken from the JetStream lane; there is no caller waiting.
	KindDurable
)

func (k Kind) String() string {
	switch k {
	case KindUnicast:
		return "unicast"
	case KindMulti:
		return "multi"
	case KindDirect:
		return "direct"
	case KindDurable:
		return "durable"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Request is one call as an instance sees it.
type Request struct {
	Service  string
	Function string
	Instance string
	Kind     Kind
	// Args is the raw body: a JSON array, a JSON object, or empty.
	Args json.RawMessage
	// Header carries the request headers, including Dpc-Sent and
	// Dpc-Timeout. The call's deadline, on this process's clock, is the
	// handler context's.
	Header nats.Header
	// Sent is the caller's send time (zero if the caller did not say).
	Sent time.Time

	// positional, when hasPositional, is Args already split: see
	// SetPositional.
	positional    []json.RawMessage
	hasPositional bool
}

// SetPositional hands the handler its arguments already split, one raw
// JSON value each, in order: a host that checks every call against a
// manifest (package servicehost) splits them once, and Positional and
// Decode then take them as they are instead of parsing Args again. Args
// must hold the same arguments, as a JSON array, for handlers that read
// it; a handler that changes Args afterwards calls SetPositional again.
func (r *Request) SetPositional(args []json.RawMessage) {
	r.positional, r.hasPositional = args, true
}

// Positional returns the arguments of a by-position call, one raw JSON value
// each. It fails with a 400 *Error when the arguments are an object.
func (r *Request) Positional() ([]json.RawMessage, error) {
	if r.hasPositional {
		return r.positional, nil
	}
	t := bytes.TrimSpace(r.Args)
	if len(t) == 0 {
		return nil, nil
	}
	if t[0] != '[' {
		return nil, Errorf(CodeBadArguments, "%s takes arguments by position (a JSON array)", r.Function)
	}
	var out []json.RawMessage
	if err := json.Unmarshal(t, &out); err != nil {
		return nil, Errorf(CodeBadArguments, "malformed arguments to %s: %v", r.Function, err)
	}
	return out, nil
}

// Named returns the arguments of a by-name call. It fails with a 400 *Error
// when the arguments are an array.
func (r *Request) Named() (map[string]json.RawMessage, error) {
	t := bytes.TrimSpace(r.Args)
	if len(t) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if t[0] != '{' {
		return nil, Errorf(CodeBadArguments, "%s takes arguments by name (a JSON object)", r.Function)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(t, &out); err != nil {
		return nil, Errorf(CodeBadArguments, "malformed arguments to %s: %v", r.Function, err)
	}
	return out, nil
}

// Decode decodes positional arguments into dst, one pointer per argument,
// and fails with a 400 *Error naming the argument that did not fit.
func (r *Request) Decode(dst ...any) error {
	vals, err := r.Positional()
	if err != nil {
		return err
	}
	if len(vals) != len(dst) {
		return Errorf(CodeBadArguments, "%s takes %d arguments, got %d", r.Function, len(dst), len(vals))
	}
	for i, v := range vals {
		if err := unmarshal(v, dst[i]); err != nil {
			return Errorf(CodeBadArguments, "argument %d of %s: %v", i+1, r.Function, err)
		}
	}
	return nil
}
