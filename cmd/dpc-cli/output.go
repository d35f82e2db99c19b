package main

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/dpc-project/dpc/catalog"
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
