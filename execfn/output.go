package execfn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dpc-project/dpc/manifests"
)

// parseOutput reads a command's standard output as the JSON value of
// type t:
//
//	nothing     the output is ignored
//	bytes       the output as it is
//	string      the output less one trailing newline
//	int, float, bool, char
//	            the output as manifests.ParseValue reads what a person
//	            types (so white space around it is ignored)
//	lists       one item per line, each read as above (a string item is
//	            the line as it is); no output is the empty list
//
// Only bytes take output that is not UTF-8. The error says what was
// wrong, for a 500 that names the function.
func parseOutput(t manifests.Type, out []byte) (json.RawMessage, error) {
	switch {
	case t == manifests.TypeNone:
		return nil, nil
	case t == manifests.TypeBytes:
		return manifests.ParseValue(t, string(out))
	case t != manifests.TypeBytesList && !utf8.Valid(out):
		return nil, fmt.Errorf("the output is not UTF-8 text (return_type bytes takes any output)")
	}
	text := strings.TrimSuffix(string(out), "\n")
	if !t.IsList() {
		v, err := manifests.ParseValue(t, text)
		if err != nil {
			return nil, fmt.Errorf("the output is not %s %s: %w", article(t), t, err)
		}
		return v, nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	if len(out) > 0 {
		for i, line := range strings.Split(text, "\n") {
			v, err := manifests.ParseValue(t.Elem(), line)
			if err != nil {
				return nil, fmt.Errorf("line %d of the output is not %s %s (a %s is one item per line): %w", i+1, article(t.Elem()), t.Elem(), t, err)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(v)
		}
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

func article(t manifests.Type) string {
	if t == manifests.TypeInt {
		return "an"
	}
	return "a"
}
