package manifests

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Validate holds a manifest that did not come from Parse — one decoded from
// JSON, say, or built in code — to the rules Parse enforces. The problems
// are *Error values as from Parse, but without File, Line or Column (there
// is no file): "functions[0].args_list[1].arg_type: unknown type …".
// An empty Version is valid and means DefaultVersion.
func (m *Manifest) Validate() error {
	// The rules live in the parser, which works on YAML nodes; rather than
	// keep a second copy of them for structs, write the struct as YAML and
	// parse that. Positions in that text mean nothing to the caller, so
	// they are dropped.
	data, err := yaml.Marshal(m)
	if err != nil {
		return &Error{Msg: fmt.Sprintf("cannot write the manifest as YAML: %v", err)}
	}
	_, err = parse(&parser{noPositions: true}, data)
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		if pe, ok := e.(*Error); ok {
			pe.Line, pe.Column = 0, 0
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
