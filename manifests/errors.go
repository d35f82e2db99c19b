package manifests

import (
	"errors"
	"strconv"
	"strings"
)

// Error is one problem in a manifest: where it is (file, line, column),
// which field (a path such as functions[2].args_list[0].arg_type, or ""
// for the file as a whole) and what is wrong. Parse reports every problem
// it finds, joined with errors.Join; take them apart with errors.As or by
// unwrapping the join.
type Error struct {
	File   string // as given to Parse; "" if none was given
	Line   int    // 1-based; 0 if the YAML parser gave no position
	Column int    // 1-based; 0 if unknown
	Field  string // path of the field; "" for the document as a whole
	Msg    string
}

// Error returns "file:line: field: msg", leaving out the parts that are
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrBadArguments matches, with errors.Is, every error CheckArgs returns,
// so that a host can answer them all with a 400.
var ErrBadArguments = errors.New("manifests: bad arguments")

// ErrBadResult matches, with errors.Is, every error CheckResult returns.
var ErrBadResult = errors.New("manifests: bad result")

// ArgError is one argument of a call that does not fit the function's
// declaration, e.g. `add: argument "a" (int): got "x", a string`.
type ArgError struct {
	Function string // the function called
	Arg      string // the argument's declared name
	Index    int    // its position in args_list, from 0
	Want     Type   // its declared type
	Got      string // what was sent and why it does not fit; "" if the argument is missing
}

func (e *ArgError) Error() string {
	s := e.Function + ": argument " + strconv.Quote(e.Arg) + " (" + string(e.Want) + "): "
	if e.Got == "" {
		return s + "missing"
	}
	return s + "got " + e.Got
}

// Is makes every *ArgError match ErrBadArguments.
func (e *ArgError) Is(target error) bool { return target == ErrBadArguments }

// ResultError is a result that does not fit the function's return type,
// e.g. `add: result (int): got "5", a string`.
type ResultError struct {
	Function string
	Want     Type   // the declared return type; TypeNone for nothing
	Got      string // what was returned and why it does not fit
}

func (e *ResultError) Error() string {
	return e.Function + ": result (" + e.Want.String() + "): got " + e.Got
}

// Is makes every *ResultError match ErrBadResult.
func (e *ResultError) Is(target error) bool { return target == ErrBadResult }

// callError is a problem with a call's arguments as a whole: their shape,
// their number, a name the function does not have.
type callError struct{ msg string }

func (e *callError) Error() string        { return e.msg }
func (e *callError) Is(target error) bool { return target == ErrBadArguments }
func badCall(msg string) error            { return &callError{msg} }

// argErrors is several problems with one call. Its message is one line
// (problems separated by "; ") so that it fits a Nats-Service-Error
// header; errors.As finds each *ArgError in it.
type argErrors []error

func (e argErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e argErrors) Unwrap() []error { return e }
