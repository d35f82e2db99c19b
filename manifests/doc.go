// Package manifests describes DPC services: one YAML file per service
// listing its functions with the fields of the DPC thesis (funct_name,
// args_list, return_type, app_list, description), plus the service's name,
// version and description and, per function, whether it is safe to retry,
// its timeout, whether its results may be cached and, for a function with
// no code, the command that implements it (exec; SplitExec reads its
// placeholders, package execfn runs it). manifests/README.md is the
// schema.
//
// # Reading manifests
//
// Parse (or Load, for a file) reads one manifest and validates it
// strictly: unknown fields, wrong YAML types, unknown types, names that
// cannot be NATS subject tokens, duplicate function or argument names,
// versions that are not SemVer, cacheable without a ttl, empty files and
// files with several documents are all refused. Every problem is reported
// at once, each as a *Error naming file, line and field:
//
//	m, err := manifests.Load("tst.yml")
//	// tst.yml:14: functions[2].args_list[0].arg_typ: unknown field (did you mean arg_type?)
//	// tst.yml:17: functions[2].return_type: unknown type "integer" (did you mean int?)
//
// Take the problems apart with errors.As (the first) or by unwrapping the
// join (all of them):
//
//	var e *manifests.Error
//	if errors.As(err, &e) { … e.File, e.Line, e.Field, e.Msg … }
//
// Manifest.Validate applies the same rules to a manifest decoded from JSON
// or built in code.
//
// Builtin returns the manifests embedded in this package: "hub" (the hub's
// built-in functions), "tst" (the thesis's test service) and "textutil"
// (an example service for the notes application only).
//
// # Types on the wire
//
// Calls carry their arguments and results as JSON (see docs/PROTOCOL.md).
// Each type of arg_type and return_type has exactly one JSON form:
//
//	int          a JSON integer within 64 bits: 42, -7. Not 42.0 or 4.2e1,
//	             though they are whole: a number written with a fraction
//	             or exponent is refused, as Go's encoding/json refuses it
//	             for an int, so that every service language reads the
//	             same values.
//	float        any JSON number within float64: 2.5, 3, 1e-3
//	char         a JSON string of exactly one Unicode code point: "x", "é", "😀"
//	             (a letter with a separate combining accent is two)
//	string       a JSON string
//	bool         true or false
//	bytes        a JSON string holding standard, padded base64, as Go's
//	             encoding/json writes []byte: "aGk=" for the bytes of "hi"
//	<t>_list     a JSON array of <t>'s form: [1, 2], ["a", "b"], []
//
// null is not the form of any argument; a result may be null only where Go
// writes null, for an empty list or bytes value (and for a function that
// returns nothing, which replies null or nothing at all).
//
// Function.CheckArgs holds a call's arguments (by position or by name) to
// these forms before the call reaches a handler, and Function.CheckResult
// holds a reply to the return type. ParseValue and FormatValue turn the
// forms into text a person types and reads, for a command-line client.
package manifests
