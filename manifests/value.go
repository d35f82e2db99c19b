package manifests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values as a person types and reads them, for a command-line client that
// prompts for each argument and prints the result.

// examples are what a message shows as the form wanted.
var examples = map[Type]string{
	TypeInt: "42", TypeFloat: "2.5", TypeChar: "x", TypeString: "hello", TypeBool: "true", TypeBytes: "hello",
	TypeIntList: "1, 2, 3", TypeFloatList: "1.5, 2, 3.25", TypeCharList: "a, b, c",
	TypeStringList: "red, green, blue", TypeBoolList: "true, false", TypeBytesList: "hello, world",
	TypeStream: "@file.bin",
}

// ParseValue turns what a person typed into the JSON value of type t:
//
//	int     a whole number: "42", "-7"                   → 42, -7
//	float   a number: "2.5", "1e-3", "3"                 → 2.5, 0.001, 3
//	char    exactly one character: "x", "é", "😀"        → "x"
//	string  the text as typed, no quotes needed          → "the text"
//	bool    true, false, yes, no, y, n (any case)        → true, false
//	bytes   the text as typed, sent as its UTF-8 bytes   → "aGVsbG8=" (base64)
//	lists   items separated by commas: "1, 2, 3"         → [1,2,3]
//	        or a JSON array: [1, 2, 3], ["a, b", "c"]
//
// Surrounding white space is ignored except in string and bytes values
// (and in a char value that is itself one white-space character). In the
// comma form each item is trimmed and must not be empty; an empty input
// is the empty list. Use the JSON array form for items that hold commas or
// white space at their ends; in it, each string item is read as that item
// would be typed ("2" is the int 2, "hi" as bytes is the text hi) and any
// other item must already have the element's JSON form.
//
// Errors say what was expected, with an example.
func ParseValue(t Type, s string) (json.RawMessage, error) {
	switch {
	case t == TypeNone:
		return nil, fmt.Errorf("nothing to enter: the type is empty")
	case !t.Valid():
		return nil, fmt.Errorf("unknown type %q (valid types: %s)", string(t), typeList())
	case t == TypeStream:
		// Its content is stored first (omq.Node.PutStream), which a
		// client does from a file, not from typed text.
		return nil, fmt.Errorf("a stream is sent from a file (in dpc-cli: @PATH), not typed")
	case t.IsList():
		return parseList(t, s)
	}
	return parseScalar(t, s)
}

func parseScalar(t Type, s string) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(s)
	switch t {
	case TypeInt:
		n, err := strconv.ParseInt(trimmed, 10, 64)
		if err == nil {
			return json.RawMessage(strconv.FormatInt(n, 10)), nil
		}
		if errorsIsRange(err) {
			return nil, fmt.Errorf("%s is out of range: a whole number from %d to %d", trimmed, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return nil, fmt.Errorf("want a whole number, like 42; got %s", quoteInput(s))
	case TypeFloat:
		f, err := strconv.ParseFloat(trimmed, 64)
		switch {
		case err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && isDecimal(trimmed):
			return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64)), nil
		case errorsIsRange(err):
			return nil, fmt.Errorf("%s is out of range for a 64-bit float", trimmed)
		case strings.Count(trimmed, ",") == 1 && !strings.Contains(trimmed, "."):
			return nil, fmt.Errorf("want a number with a decimal point, like 2.5; got %s", quoteInput(s))
		}
		return nil, fmt.Errorf("want a number, like 2.5 or -3 or 1e-3; got %s", quoteInput(s))
	case TypeChar:
		c := s
		if utf8.RuneCountInString(c) != 1 {
			c = trimmed
		}
		switch n := utf8.RuneCountInString(c); {
		case n == 1:
			return jsonText(c), nil
		case n == 0:
			return nil, fmt.Errorf("want exactly one character, like x; got nothing")
		default:
			return nil, fmt.Errorf("want exactly one character, like x; got %s (%d characters)", quoteInput(s), n)
		}
	case TypeString:
		return jsonText(s), nil
	case TypeBool:
		switch strings.ToLower(trimmed) {
		case "true", "yes", "y":
			return json.RawMessage("true"), nil
		case "false", "no", "n":
			return json.RawMessage("false"), nil
		}
		return nil, fmt.Errorf("want true or false (or yes or no); got %s", quoteInput(s))
	case TypeBytes:
		return jsonText(base64.StdEncoding.EncodeToString([]byte(s))), nil
	}
	return nil, fmt.Errorf("unknown type %q", string(t))
}

func parseList(t Type, s string) (json.RawMessage, error) {
	elem := t.Elem()
	trimmed := strings.TrimSpace(s)
	form := fmt.Sprintf("a list of %s separated by commas, like %s, or a JSON array, like [%s]", elem, examples[t], jsonExample(t))
	var items []json.RawMessage
	if strings.HasPrefix(trimmed, "[") {
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(trimmed), &raw); err != nil {
			return nil, fmt.Errorf("want %s; this starts like a JSON array but is not one (%v)", form, err)
		}
		for i, r := range raw {
			var v json.RawMessage
			if str, ok := jsonString(r); ok {
				var err error
				if v, err = parseScalar(elem, str); err != nil {
					return nil, fmt.Errorf("item %d: %v", i+1, err)
				}
			} else if got := mismatch(elem, r, false); got != "" {
				return nil, fmt.Errorf("item %d: want %s, like %s; got %s", i+1, elem, examples[elem], got)
			} else {
				v = r
			}
			items = append(items, v)
		}
	} else if trimmed != "" {
		for i, item := range strings.Split(trimmed, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, fmt.Errorf("item %d is empty; want %s", i+1, form)
			}
			v, err := parseScalar(elem, item)
			if err != nil {
				return nil, fmt.Errorf("item %d: %v (a list is %s)", i+1, err, form)
			}
			items = append(items, v)
		}
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// FormatValue turns a JSON value of type t into text for a person: numbers
// as sent, strings and chars without quotes, bytes as their text if it is
// printable UTF-8 (else base64, with a note saying so), lists as items
// separated by ", " — or, when an item would make that ambiguous (a comma,
// white space at its ends, an empty item), as a JSON array. An empty list
// is "[]"; nothing (an empty or null result of a function that returns
// nothing) is "". For every type but binary bytes, ParseValue reads the text
// back to the same value.
//
// A value that is not of type t is shown as its JSON text.
func FormatValue(t Type, v json.RawMessage) string {
	b := bytes.TrimSpace(v)
	if len(b) == 0 || (string(b) == "null" && (t == TypeNone || t == TypeBytes)) {
		return ""
	}
	if string(b) == "null" && t.IsList() {
		return "[]"
	}
	if !utf8.Valid(b) || !json.Valid(b) || !t.Valid() || mismatch(t, b, true) != "" {
		return compactJSON(b)
	}
	if !t.IsList() {
		s, _ := formatScalar(t, b)
		return s
	}
	var raw []json.RawMessage
	json.Unmarshal(b, &raw) // checked by mismatch
	if len(raw) == 0 {
		return "[]"
	}
	items := make([]string, len(raw))
	ambiguous, binary := false, false
	for i, r := range raw {
		s, text := formatScalar(t.Elem(), r)
		items[i] = s
		binary = binary || !text
		ambiguous = ambiguous || s == "" || s != strings.TrimSpace(s) || strings.ContainsAny(s, ",\n\r") ||
			(i == 0 && strings.HasPrefix(s, "["))
	}
	if binary {
		return compactJSON(b) + " (binary data, shown in base64)"
	}
	if ambiguous {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.Encode(items)
		return strings.TrimSpace(out.String())
	}
	return strings.Join(items, ", ")
}

// formatScalar formats one value already checked to be of type t; text is
// false for bytes that are not printable text (then shown in base64).
func formatScalar(t Type, v []byte) (s string, text bool) {
	switch t {
	case TypeChar, TypeString:
		s, _ := jsonString(v)
		return s, true
	case TypeBytes:
		if string(v) == "null" {
			return "", true
		}
		enc, _ := jsonString(v)
		dec, _ := base64.StdEncoding.DecodeString(enc)
		if printable(dec) {
			return string(dec), true
		}
		unit := "bytes"
		if len(dec) == 1 {
			unit = "byte"
		}
		return fmt.Sprintf("%s (%d %s of binary data, shown in base64)", enc, len(dec), unit), false
	}
	return string(v), true
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}

// jsonText is s as a JSON string, with <, > and & left as they are.
func jsonText(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSpace(b.Bytes())
}

func jsonExample(t Type) string {
	switch t.Elem() {
	case TypeInt, TypeFloat, TypeBool:
		return examples[t]
	}
	parts := strings.Split(examples[t], ", ")
	for i, p := range parts {
		parts[i] = strconv.Quote(p)
	}
	return strings.Join(parts, ", ")
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return out.String()
}

// quoteInput shows what a person typed, quoted, shortened if long.
func quoteInput(s string) string {
	if s == "" {
		return "nothing"
	}
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

// isDecimal rejects what strconv.ParseFloat takes but JSON has no form
// for or a person would not mean: hex floats, "inf", "nan", underscores.
func isDecimal(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

func errorsIsRange(err error) bool { return errors.Is(err, strconv.ErrRange) }
