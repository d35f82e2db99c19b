package omq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

var (
	typeOfContext = reflect.TypeFor[context.Context]()
	typeOfError   = reflect.TypeFor[error]()
)

// methodHandler calls one exported method of a bound Go value.
type methodHandler struct {
	name     string
	recv     reflect.Value
	method   reflect.Method
	hasCtx   bool
	params   []reflect.Type
	argNames []string // optional, for calls by name to multi-parameter methods
	hasValue bool     // returns a result value
	hasError bool     // last result is an error
	// direct calls the common signatures func() and func() error without
	// reflect.Value.Call, which costs more than the call itself.
	direct func() (any, error)
	// frame is a struct type with one field per parameter: a call's
	// arguments are decoded into one (pooled in scratch), not into an
	// allocation each.
	frame   reflect.Type
	scratch sync.Pool // of *callScratch
}

// FunctionName is the function name a method is bound under: the method name
// with its leading capitals lowered, so Add → add, AddMany → addMany,
// HTTPGet → httpGet.
func FunctionName(method string) string {
	r := []rune(method)
	for i := range r {
		if !unicode.IsUpper(r[i]) {
			break
		}
		// Keep the last capital of an acronym that starts a word: HTTPGet → httpGet.
		if i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) {
			break
		}
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// reflectHandlers turns the exported methods of v into handlers. Every
// unsuitable method is reported, with what to change, unless skipUnsuitable.
func reflectHandlers(v any, argNames map[string][]string, skipUnsuitable bool) (Handlers, error) {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	if rt.NumMethod() == 0 {
		hint := ""
		if rt.Kind() != reflect.Pointer && reflect.PointerTo(rt).NumMethod() > 0 {
			hint = " (its methods have pointer receivers: bind a pointer)"
		}
		return nil, fmt.Errorf("omq: bind %s: type has no exported methods%s", rt, hint)
	}
	out := Handlers{}
	var problems []error
	for i := 0; i < rt.NumMethod(); i++ {
		m := rt.Method(i)
		h, err := newMethodHandler(rv, m)
		if err != nil {
			if !skipUnsuitable {
				problems = append(problems, fmt.Errorf("method %s.%s: %w", rt, m.Name, err))
			}
			continue
		}
		if names, ok := argNames[h.name]; ok {
			if len(names) != len(h.params) {
				problems = append(problems, fmt.Errorf("method %s.%s: %d argument names given for %d parameters", rt, m.Name, len(names), len(h.params)))
			}
			h.argNames = names
		}
		out[h.name] = h
	}
	for fn := range argNames {
		if _, ok := out[fn]; !ok {
			problems = append(problems, fmt.Errorf("argument names given for %q, which is not a function of %s", fn, rt))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("omq: bind %s: %w (or pass SkipUnsuitable to leave such methods out)", rt, errors.Join(problems...))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("omq: bind %s: no suitable methods", rt)
	}
	return out, nil
}

func newMethodHandler(recv reflect.Value, m reflect.Method) (*methodHandler, error) {
	mt := m.Type
	h := &methodHandler{name: FunctionName(m.Name), recv: recv, method: m}
	if err := checkName("function", h.name); err != nil {
		return nil, err
	}
	for i := 1; i < mt.NumIn(); i++ { // 0 is the receiver
		p := mt.In(i)
		if i == 1 && p == typeOfContext {
			h.hasCtx = true
			continue
		}
		if p == typeOfContext {
			return nil, errors.New("context.Context must be the first parameter")
		}
		if mt.IsVariadic() && i == mt.NumIn()-1 {
			return nil, errors.New("variadic parameters are not supported; take a slice")
		}
		if !jsonable(p) {
			return nil, fmt.Errorf("parameter %d has type %s, which JSON cannot carry", i, p)
		}
		h.params = append(h.params, p)
	}
	switch mt.NumOut() {
	case 0:
	case 1:
		if mt.Out(0) == typeOfError {
			h.hasError = true
		} else {
			h.hasValue = true
		}
	case 2:
		if mt.Out(1) != typeOfError {
			return nil, fmt.Errorf("second result is %s; want (T, error)", mt.Out(1))
		}
		h.hasValue, h.hasError = true, true
	default:
		return nil, fmt.Errorf("returns %d values; want (), (T), (error) or (T, error)", mt.NumOut())
	}
	if h.hasValue && !jsonable(mt.Out(0)) {
		return nil, fmt.Errorf("result type %s cannot be carried as JSON", mt.Out(0))
	}
	if len(h.params) > 0 {
		fields := make([]reflect.StructField, len(h.params))
		for i, p := range h.params {
			fields[i] = reflect.StructField{Name: fmt.Sprintf("A%d", i), Type: p}
		}
		h.frame = reflect.StructOf(fields)
	}
	if len(h.params) == 0 && !h.hasCtx {
		switch f := recv.Method(m.Index).Interface().(type) {
		case func():
			h.direct = func() (any, error) { f(); return nil, nil }
		case func() error:
			h.direct = func() (any, error) { return nil, f() }
		}
	}
	return h, nil
}

func jsonable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return jsonable(t.Elem())
	case reflect.Map:
		return jsonable(t.Key()) && jsonable(t.Elem())
	}
	return true
}

// Handle decodes the arguments into the method's parameters and calls it.
func (h *methodHandler) Handle(ctx context.Context, req *Request) (any, error) {
	return h.call(ctx, req.Args)
}

// callScratch is what one call needs besides the arguments themselves,
// pooled per method: nothing in it outlives the call.
type callScratch struct {
	in []reflect.Value // the receiver, the context, the arguments
	// frame holds the decoded arguments, zero between calls (encoding/json
	// would otherwise reuse a slice's array or a map a call was given).
	// Call copies them to the method, which keeps nothing of the frame.
	frame reflect.Value
	ptrs  []any // pointers to frame's fields
	// work is a copy of ptrs for each call: encoding/json sets an element
	// to nil where the array has null. dst is the slice it decodes into.
	work []any
	dst  []any
}

func (h *methodHandler) newScratch() *callScratch {
	n := len(h.params)
	sc := &callScratch{in: make([]reflect.Value, 0, n+2), ptrs: make([]any, n), work: make([]any, n)}
	if n > 0 {
		sc.frame = reflect.New(h.frame).Elem()
		for i := range sc.ptrs {
			sc.ptrs[i] = sc.frame.Field(i).Addr().Interface()
		}
	}
	return sc
}

// call decodes args, the request body, and calls the method.
func (h *methodHandler) call(ctx context.Context, args []byte) (any, error) {
	if h.direct != nil {
		if _, err := h.decode(args, nil, nil); err != nil {
			return nil, err
		}
		return h.direct()
	}
	sc, _ := h.scratch.Get().(*callScratch)
	if sc == nil {
		sc = h.newScratch()
	}
	defer h.release(sc)
	in := append(sc.in[:0], h.recv)
	if h.hasCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	decoded, err := h.decode(args, in, sc)
	if err != nil {
		sc.in = in
		return nil, err
	}
	sc.in = decoded
	out := h.method.Func.Call(decoded)
	var res any
	if h.hasValue {
		res = out[0].Interface()
	}
	if h.hasError {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	return res, nil
}

// release returns sc to the pool holding nothing of the call.
func (h *methodHandler) release(sc *callScratch) {
	clear(sc.in)
	sc.in = sc.in[:0]
	clear(sc.work)
	sc.dst = nil
	if sc.frame.IsValid() {
		sc.frame.SetZero()
	}
	h.scratch.Put(sc)
}

// decode decodes the arguments into the method's parameters, appended to
// in. sc, when not nil, lends decodePositional its pointers.
func (h *methodHandler) decode(args []byte, in []reflect.Value, sc *callScratch) ([]reflect.Value, error) {
	body := bytes.TrimSpace(args)
	n := len(h.params)
	if n == 0 && (string(body) == "{}" || string(body) == "[]") {
		return in, nil
	}
	switch {
	case len(body) == 0:
		if n != 0 {
			return nil, Errorf(CodeBadArguments, "%s takes %s, got none", h.name, h.arity())
		}
		return in, nil
	case body[0] == '[':
		if sc == nil {
			sc = h.newScratch()
		}
		if in, ok := h.decodePositional(body, in, sc); ok {
			return in, nil
		}
		// Something did not fit: decode again, one argument at a time,
		// to say which.
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, Errorf(CodeBadArguments, "malformed arguments to %s: %v", h.name, err)
		}
		if len(raw) != n {
			return nil, Errorf(CodeBadArguments, "%s takes %s, got %d", h.name, h.arity(), len(raw))
		}
		vals := make([]reflect.Value, n)
		for i, r := range raw {
			p := reflect.New(h.params[i])
			if err := json.Unmarshal(r, p.Interface()); err != nil {
				return nil, Errorf(CodeBadArguments, "argument %d (%s) of %s: %v", i+1, h.paramName(i), h.name, jsonProblem(err))
			}
			vals[i] = p.Elem()
		}
		return append(in, vals...), nil
	case body[0] == '{' && h.argNames != nil:
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, Errorf(CodeBadArguments, "malformed arguments to %s: %v", h.name, err)
		}
		vals := make([]reflect.Value, n)
		for i, name := range h.argNames {
			r, ok := raw[name]
			if !ok {
				return nil, Errorf(CodeBadArguments, "%s: missing argument %q", h.name, name)
			}
			delete(raw, name)
			p := reflect.New(h.params[i])
			if err := json.Unmarshal(r, p.Interface()); err != nil {
				return nil, Errorf(CodeBadArguments, "argument %q of %s: %v", name, h.name, jsonProblem(err))
			}
			vals[i] = p.Elem()
		}
		for extra := range raw {
			return nil, Errorf(CodeBadArguments, "%s has no argument %q (takes %s)", h.name, extra, h.signature())
		}
		return append(in, vals...), nil
	case body[0] == '{' && n == 1:
		// One parameter: the object is that parameter (a struct's fields
		// are the names).
		p := reflect.New(h.params[0])
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p.Interface()); err != nil {
			return nil, Errorf(CodeBadArguments, "arguments of %s: %v", h.name, jsonProblem(err))
		}
		return append(in, p.Elem()), nil
	case body[0] == '{':
		return nil, Errorf(CodeBadArguments, "%s takes arguments by position (%s); it has no argument names", h.name, h.signature())
	}
	return nil, Errorf(CodeBadArguments, "malformed arguments to %s: want a JSON array or object", h.name)
}

// decodePositional decodes a JSON array of exactly one argument per
// parameter in one pass, into one frame for all of them: encoding/json
// decodes into the pointers an []any already holds. It says false on any
// problem, for decode to find and name it.
func (h *methodHandler) decodePositional(body []byte, in []reflect.Value, sc *callScratch) ([]reflect.Value, bool) {
	n := len(h.params)
	sc.dst = sc.work[:n:n] // a longer array grows a copy, never work
	copy(sc.dst, sc.ptrs)
	if err := unmarshal(body, &sc.dst); err != nil || len(sc.dst) != n {
		return nil, false
	}
	for i := range n {
		in = append(in, sc.frame.Field(i))
	}
	return in, true
}

func (h *methodHandler) paramName(i int) string {
	if h.argNames != nil {
		return h.argNames[i]
	}
	return h.params[i].String()
}

// arity says how many arguments the function takes, and of which types.
func (h *methodHandler) arity() string {
	switch len(h.params) {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument (" + h.signature() + ")"
	}
	return fmt.Sprintf("%d arguments (%s)", len(h.params), h.signature())
}

func (h *methodHandler) signature() string {
	parts := make([]string, len(h.params))
	for i, p := range h.params {
		if h.argNames != nil {
			parts[i] = h.argNames[i] + " " + p.String()
		} else {
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, ", ")
}

// jsonProblem shortens encoding/json's messages to what a caller can act on.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field != "" {
			return fmt.Sprintf("field %s: got JSON %s, want %s", ute.Field, ute.Value, ute.Type)
		}
		return fmt.Sprintf("got JSON %s, want %s", ute.Value, ute.Type)
	}
	return err.Error()
}
