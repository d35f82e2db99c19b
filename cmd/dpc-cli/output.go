package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/omq"
)

// writeJSON prints v as indented JSON, the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// displayNames names each function by its plain name, unless another
// service in fs has a function of the same name: then by service.function.
func displayNames(fs []catalog.FunctionInfo) []string {
	count := map[string]int{}
	for _, f := range fs {
		count[f.Function.Name]++
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Function.Name
		if count[f.Function.Name] > 1 {
			out[i] = f.Name
		}
	}
	return out
}

// jsonResult is a result for --json output: the raw JSON, or null for
// nothing.
func jsonResult(raw json.RawMessage) json.RawMessage {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// detailedError is an error with details for --json output besides its
// message: where a merge left the text to resolve, say. It unwraps to
// the error it adds to (a *cliError, for the exit code).
type detailedError struct {
	error
	details any
}

func (e *detailedError) Unwrap() error { return e.error }

// jsonError is how an error is written in --json mode: one JSON object on
// stderr, in place of the "dpc-cli: message" line, so that a script reads
// results from stdout and failures from stderr, both as JSON:
//
//	{"error": {"message": "...", "exit": 5, "code": 409, "details": {...}}}
type jsonError struct {
	Error jsonErrorBody `json:"error"`
}

type jsonErrorBody struct {
	// Message is what dpc-cli would print after "dpc-cli: ".
	Message string `json:"message"`
	// Exit is dpc-cli's exit code.
	Exit int `json:"exit"`
	// Code is the error code of the service that refused the call (400,
	// 404, 409, …), if one did.
	Code int `json:"code,omitempty"`
	// Details are the command's own, if any (see detailedError).
	Details any `json:"details,omitempty"`
}

// writeJSONError writes err as a jsonError: msg, exit code, and what err
// carries.
func writeJSONError(w io.Writer, err error, exit int, msg string) {
	body := jsonErrorBody{Message: msg, Exit: exit}
	var re *omq.Error
	if errors.As(err, &re) {
		body.Code = re.Code
	}
	var de *detailedError
	if errors.As(err, &de) {
		body.Details = de.details
	}
	if werr := writeJSON(w, jsonError{Error: body}); werr != nil {
		fmt.Fprintln(w, "dpc-cli:", msg) // stderr is all there is
	}
}

// jsonRequested reports whether args ask for --json before any "--": for
// an error of the command line itself, found before the flags are all
// read.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true":
			return true
		}
	}
	return false
}
