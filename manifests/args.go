package manifests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dpc-project/dpc/internal/suggest"
	"github.com/dpc-project/dpc/omq"
)

// CheckArgs checks a call's arguments, the request body, against f's
// args_list before the call reaches a handler, and returns them in
// declaration order. The body is
//
//   - empty (or only white space): no arguments; only for a function
//     that takes none;
//   - a JSON array: arguments by position, exactly one per declared
//     argument;
//   - a JSON object: arguments by name, every declared name present, no
//     other names, none twice.
//
// A function without arguments also accepts [] and {}. Each argument must
// have its type's JSON form (see the package documentation); null is no
// argument's form.
//
// Every problem found is reported: each argument that does not fit is an
// *ArgError; the error as a whole matches ErrBadArguments (errors.Is) and
// its message is one line, fit for a Nats-Service-Error header.
func (f *Function) CheckArgs(body json.RawMessage) ([]json.RawMessage, error) {
	b := bytes.TrimSpace(body)
	n := len(f.Args)
	if !utf8.Valid(b) {
		return nil, badCall(f.Name + ": arguments are not valid UTF-8")
	}
	switch {
	case len(b) == 0:
		if n != 0 {
			return nil, badCall(f.Name + " takes " + f.arity() + ", got none")
		}
		return nil, nil
	case b[0] != '[' && b[0] != '{':
		return nil, badCall(fmt.Sprintf("%s: arguments must be a JSON array (by position) or object (by name), got %s", f.Name, describe(b)))
	case !json.Valid(b):
		return nil, badCall(fmt.Sprintf("%s: malformed arguments: %s", f.Name, jsonSyntaxProblem(b)))
	case b[0] == '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil { // valid JSON: cannot fail
			return nil, badCall(fmt.Sprintf("%s: malformed arguments: %v", f.Name, err))
		}
		if len(raw) != n {
			return nil, badCall(fmt.Sprintf("%s takes %s, got %d", f.Name, f.arity(), len(raw)))
		}
		if n == 0 {
			return nil, nil
		}
		var errs argErrors
		for i, a := range f.Args {
			if got := mismatch(a.Type, raw[i], false); got != "" {
				errs = append(errs, &ArgError{Function: f.Name, Arg: a.Name, Index: i, Want: a.Type, Got: got})
			}
		}
		if errs != nil {
			return nil, errs
		}
		return raw, nil
	default:
		return f.checkNamed(b)
	}
}

// checkNamed checks arguments given by name, in a JSON object already
// known to be valid.
func (f *Function) checkNamed(b []byte) ([]json.RawMessage, error) {
	given := map[string]json.RawMessage{}
	var errs argErrors
	unknown := map[int]string{} // index in errs → a name f does not have
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.Token() // {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badCall(fmt.Sprintf("%s: malformed arguments: %v", f.Name, err))
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, badCall(fmt.Sprintf("%s: malformed arguments: %v", f.Name, err))
		}
		if _, dup := given[key]; dup {
			errs = append(errs, badCall(fmt.Sprintf("%s: argument %q given twice", f.Name, key)))
			continue
		}
		given[key] = v
		if f.arg(key) < 0 {
			unknown[len(errs)] = key
			errs = append(errs, nil) // once all names are known: see below
		}
	}
	// A name f does not have is probably one of those not given, misspelt.
	var notGiven []string
	for _, a := range f.Args {
		if _, ok := given[a.Name]; !ok {
			notGiven = append(notGiven, a.Name)
		}
	}
	for i, key := range unknown {
		meant := ""
		if s := suggest.Closest(key, notGiven); s != "" {
			meant = fmt.Sprintf("did you mean %q? ", s)
		}
		errs[i] = badCall(fmt.Sprintf("%s has no argument %q (%sit takes %s)", f.Name, key, meant, f.argNames()))
	}
	var out []json.RawMessage
	if len(f.Args) > 0 {
		out = make([]json.RawMessage, len(f.Args))
	}
	for i, a := range f.Args {
		v, ok := given[a.Name]
		got := ""
		if ok {
			got = mismatch(a.Type, v, false)
		}
		if !ok || got != "" {
			errs = append(errs, &ArgError{Function: f.Name, Arg: a.Name, Index: i, Want: a.Type, Got: got})
		}
		out[i] = v
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// CheckResult checks a function's result, a reply body, against its
// return_type, so that a host can tell a service that returns the wrong
// type from one that works. A function that returns nothing must reply
// empty or null. Since Go encodes nil slices as null, a list or bytes
// result may also be null (or empty), meaning empty; any other result
// must have its type's JSON form. The error is a *ResultError matching
// ErrBadResult.
func (f *Function) CheckResult(v json.RawMessage) error {
	b := bytes.TrimSpace(v)
	t := f.ReturnType
	bad := func(got string) error { return &ResultError{Function: f.Name, Want: t, Got: got} }
	switch {
	case !utf8.Valid(b):
		return bad("a reply that is not valid UTF-8")
	case len(b) == 0 || string(b) == "null":
		if t == TypeNone || t.IsList() || t == TypeBytes {
			return nil
		}
		return bad("nothing")
	case !json.Valid(b):
		return bad("malformed JSON (" + jsonSyntaxProblem(b) + ")")
	case t == TypeNone:
		return bad(describe(b))
	}
	if got := mismatch(t, b, true); got != "" {
		return bad(got)
	}
	return nil
}

// Signature returns the function as a person reads it:
// "add(a int, b int) int", "nopKserv()".
func (f *Function) Signature() string {
	var b strings.Builder
	b.WriteString(f.Name)
	b.WriteByte('(')
	for i, a := range f.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Name + " " + string(a.Type))
	}
	b.WriteByte(')')
	if f.ReturnType != TypeNone {
		b.WriteString(" " + string(f.ReturnType))
	}
	return b.String()
}

// arity is "no arguments", "1 argument (x int)", "2 arguments (a int, b int)".
func (f *Function) arity() string {
	switch len(f.Args) {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument (" + f.argNames() + ")"
	}
	return fmt.Sprintf("%d arguments (%s)", len(f.Args), f.argNames())
}

func (f *Function) argNames() string {
	if len(f.Args) == 0 {
		return "no arguments"
	}
	s := make([]string, len(f.Args))
	for i, a := range f.Args {
		s[i] = a.Name + " " + string(a.Type)
	}
	return strings.Join(s, ", ")
}

func (f *Function) arg(name string) int {
	for i, a := range f.Args {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// mismatch says why the JSON value v (valid JSON) is not of type t, as the
// Got of an *ArgError ("\"x\", a string"), or "" if it is. nullOK lets
// null stand for an empty list or bytes value (results from Go).
func mismatch(t Type, v []byte, nullOK bool) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	if string(v) == "null" {
		if nullOK && (t.IsList() || t == TypeBytes) {
			return ""
		}
		return "null"
	}
	switch t {
	case TypeInt:
		if !isNumber(v) {
			return describe(v)
		}
		if bytes.ContainsAny(v, ".eE") {
			if f, err := strconv.ParseFloat(string(v), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return fmt.Sprintf("%s, a number written with a fraction or exponent (send %d)", snippet(v), int64(f))
			}
			return fmt.Sprintf("%s, not a whole number", snippet(v))
		}
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			return fmt.Sprintf("%s, out of range for int (64 bits: %d to %d)", snippet(v), int64(math.MinInt64), int64(math.MaxInt64))
		}
	case TypeFloat:
		if !isNumber(v) {
			return describe(v)
		}
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return fmt.Sprintf("%s, out of range for float (64 bits)", snippet(v))
		}
	case TypeChar:
		s, ok := jsonString(v)
		if !ok {
			return describe(v)
		}
		switch n := utf8.RuneCountInString(s); n {
		case 1:
		case 0:
			return `"", an empty string`
		default:
			return fmt.Sprintf("%s, a string of %d characters", snippet(v), n)
		}
	case TypeString:
		if _, ok := jsonString(v); !ok {
			return describe(v)
		}
	case TypeBool:
		if string(v) != "true" && string(v) != "false" {
			return describe(v)
		}
	case TypeBytes:
		s, ok := jsonString(v)
		if !ok {
			return describe(v)
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return fmt.Sprintf("%s, a string that is not base64 (standard alphabet, = padded)", snippet(v))
		}
	case TypeStream:
		if _, err := omq.ParseStream(v); err != nil {
			return fmt.Sprintf(`%s, not a stream's descriptor {"stream":…,"key":…,"size":…}`, snippet(v))
		}
	default:
		if !t.IsList() {
			return fmt.Sprintf("%s, but %q is not a type", describe(v), string(t))
		}
		if v[0] != '[' {
			return describe(v)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return describe(v)
		}
		for i, item := range items {
			if got := mismatch(t.Elem(), item, nullOK); got != "" {
				return fmt.Sprintf("%s, a list whose element %d is %s", snippet(v), i, got)
			}
		}
	}
	return ""
}

func isNumber(v []byte) bool { return v[0] == '-' || '0' <= v[0] && v[0] <= '9' }

func jsonString(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// describe is a JSON value and what kind it is: `"x", a string`.
func describe(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	kind := ""
	switch c := v[0]; {
	case c == '"':
		kind = "a string"
	case c == '[':
		kind = "a list"
	case c == '{':
		kind = "an object"
	case c == 't' || c == 'f':
		kind = "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		kind = "a number"
	default:
		return snippet(v) + ", not JSON"
	}
	return snippet(v) + ", " + kind
}

// snippet is a JSON value shortened for a message, on one line.
func snippet(v []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		v = b.Bytes()
	}
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' ' // keep messages on one line
		}
		return r
	}, strings.ToValidUTF8(string(v), "\uFFFD"))
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// jsonSyntaxProblem is encoding/json's account of invalid JSON.
func jsonSyntaxProblem(b []byte) string {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err.Error()
	}
	return "invalid JSON"
}
