package manifests

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fn builds a function from "name type" pairs.
func fn(name string, ret Type, args ...string) *Function {
	f := &Function{Name: name, ReturnType: ret}
	for _, a := range args {
		n, t, _ := strings.Cut(a, " ")
		f.Args = append(f.Args, Arg{Name: n, Type: Type(t)})
	}
	return f
}

func TestFunction_CheckArgs(t *testing.T) {
	add := fn("add", TypeInt, "a int", "b int")
	nop := fn("nop", TypeNone)
	cases := []struct {
		name string
		f    *Function
		body string
		want []string // the arguments in order, when valid
		err  string
	}{
		{"positional", add, `[2, 3]`, []string{"2", "3"}, ""},
		{"named", add, `{"b": 3, "a": 2}`, []string{"2", "3"}, ""},
		{"named, white space", add, " \n{ \"a\" : 2 , \"b\":3 }\t", []string{"2", "3"}, ""},
		{"empty for no args", nop, ``, nil, ""},
		{"spaces for no args", nop, " \n ", nil, ""},
		{"[] for no args", nop, `[]`, nil, ""},
		{"{} for no args", nop, `{}`, nil, ""},

		{"empty body", add, ``, nil, "add takes 2 arguments (a int, b int), got none"},
		{"too few", add, `[2]`, nil, "add takes 2 arguments (a int, b int), got 1"},
		{"too many", add, `[2, 3, 4]`, nil, "add takes 2 arguments (a int, b int), got 3"},
		{"args to nop", nop, `[1]`, nil, "nop takes no arguments, got 1"},
		{"one arg", fn("neg", TypeInt, "x int"), `[]`, nil, "neg takes 1 argument (x int), got 0"},
		{"null body", add, `null`, nil, "add: arguments must be a JSON array (by position) or object (by name), got null"},
		{"scalar body", add, `5`, nil, "add: arguments must be a JSON array (by position) or object (by name), got 5, a number"},
		{"string body", add, `"2,3"`, nil, `add: arguments must be a JSON array (by position) or object (by name), got "2,3", a string`},
		{"not JSON", add, "hello\nworld", nil, "add: arguments must be a JSON array (by position) or object (by name), got hello world, not JSON"},
		{"malformed", add, `[2,`, nil, "add: malformed arguments: unexpected end of JSON input"},
		{"trailing data", add, `[2,3] [4]`, nil, "add: malformed arguments: invalid character '[' after top-level value"},
		{"invalid UTF-8", add, "[\"\xff\", 3]", nil, "add: arguments are not valid UTF-8"},

		{"wrong type", add, `["x", 3]`, nil, `add: argument "a" (int): got "x", a string`},
		{"both wrong", add, `["x", true]`, nil, `add: argument "a" (int): got "x", a string; add: argument "b" (int): got true, a boolean`},
		{"null arg", add, `[null, 3]`, nil, `add: argument "a" (int): got null`},
		{"named missing", add, `{"a": 2}`, nil, `add: argument "b" (int): missing`},
		{"named unknown", add, `{"a": 2, "b": 3, "c": 4}`, nil, `add has no argument "c" (it takes a int, b int)`},
		{"named case matters", add, `{"A": 2, "b": 3}`, nil, `add has no argument "A" (did you mean "a"? it takes a int, b int); add: argument "a" (int): missing`},
		{"named misspelt", add, `{"a": 2, "c": 3}`, nil, `add has no argument "c" (did you mean "b"? it takes a int, b int); add: argument "b" (int): missing`},
		{"named far off", fn("neg", TypeInt, "value int"), `{"number": 2}`, nil, `neg has no argument "number" (it takes value int); neg: argument "value" (int): missing`},
		{"named twice", add, `{"a": 2, "a": 5, "b": 3}`, nil, `add: argument "a" given twice`},
		{"named to nop", nop, `{"x": 1}`, nil, `nop has no argument "x" (it takes no arguments)`},
		{"named wrong type", add, `{"a": 2, "b": [3]}`, nil, `add: argument "b" (int): got [3], a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.CheckArgs(json.RawMessage(tc.body))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if !errors.Is(err, ErrBadArguments) {
					t.Errorf("%v does not match ErrBadArguments", err)
				}
				if got != nil {
					t.Errorf("arguments %q came back with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gs []string
			for _, g := range got {
				gs = append(gs, string(g))
			}
			if !reflect.DeepEqual(gs, tc.want) {
				t.Errorf("got %q, want %q", gs, tc.want)
			}
		})
	}
}

func TestArgError_Fields(t *testing.T) {
	split := fn("split", TypeStringList, "text string", "separator char")
	_, err := split.CheckArgs(json.RawMessage(`{"text": 5, "separator": "ab"}`))
	var got []ArgError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ae *ArgError
		if !errors.As(e, &ae) {
			t.Fatalf("%T is not an *ArgError", e)
		}
		got = append(got, *ae)
	}
	want := []ArgError{
		{Function: "split", Arg: "text", Index: 0, Want: TypeString, Got: "5, a number"},
		{Function: "split", Arg: "separator", Index: 1, Want: TypeChar, Got: `"ab", a string of 2 characters`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	var one *ArgError
	if !errors.As(err, &one) || one.Arg != "text" {
		t.Errorf("errors.As on the whole error: %+v", one)
	}
}

// typeCases holds, for each type, JSON values of it and not of it, with
// what CheckArgs says about the latter.
var typeCases = []struct {
	t    Type
	good []string
	bad  map[string]string // value → Got
}{
	{TypeInt, []string{`0`, `-0`, `42`, `-7`, `9223372036854775807`, `-9223372036854775808`}, map[string]string{
		`2.0`:                 "2.0, a number written with a fraction or exponent (send 2)",
		`4e1`:                 "4e1, a number written with a fraction or exponent (send 40)",
		`1.5`:                 "1.5, not a whole number",
		`9223372036854775808`: "9223372036854775808, out of range for int (64 bits: -9223372036854775808 to 9223372036854775807)",
		`1e300`:               "1e300, not a whole number",
		`"42"`:                `"42", a string`,
		`true`:                "true, a boolean",
		`null`:                "null",
		`[1]`:                 "[1], a list",
		`{"a":1}`:             `{"a":1}, an object`,
		`123456789012345678901234567890123456789012345`: "1234567890123456789012345678901234567890…, out of range for int (64 bits: -9223372036854775808 to 9223372036854775807)",
	}},
	{TypeFloat, []string{`0`, `2.5`, `-3`, `1e-3`, `1E+300`, `1e-400`, `9223372036854775808`}, map[string]string{
		`1e400`: "1e400, out of range for float (64 bits)",
		`"2.5"`: `"2.5", a string`,
		`null`:  "null",
	}},
	{TypeChar, []string{`"x"`, `"é"`, `"😀"`, `"\u00e9"`, `" "`, `"\n"`, `"\ud83d\ude00"`}, map[string]string{
		`""`:        `"", an empty string`,
		`"ab"`:      `"ab", a string of 2 characters`,
		`"e\u0301"`: `"e\u0301", a string of 2 characters`,
		`120`:       "120, a number",
		`["x"]`:     `["x"], a list`,
	}},
	{TypeString, []string{`""`, `"hello"`, `"a\"b"`, `"日本語"`}, map[string]string{
		`5`:     "5, a number",
		`null`:  "null",
		`["a"]`: `["a"], a list`,
	}},
	{TypeBool, []string{`true`, `false`}, map[string]string{
		`"true"`: `"true", a string`,
		`1`:      "1, a number",
		`null`:   "null",
	}},
	{TypeBytes, []string{`""`, `"aGk="`, `"AAEC/w=="`}, map[string]string{
		`"aGk"`:  `"aGk", a string that is not base64 (standard alphabet, = padded)`,
		`"_-8="`: `"_-8=", a string that is not base64 (standard alphabet, = padded)`,
		`"hi!"`:  `"hi!", a string that is not base64 (standard alphabet, = padded)`,
		`[104]`:  "[104], a list",
		`null`:   "null",
	}},
	{TypeIntList, []string{`[]`, `[1]`, `[1, -2, 3]`}, map[string]string{
		`[1, "x"]`: `[1,"x"], a list whose element 1 is "x", a string`,
		`[1.5]`:    "[1.5], a list whose element 0 is 1.5, not a whole number",
		`[null]`:   "[null], a list whose element 0 is null",
		`1`:        "1, a number",
		`"1,2"`:    `"1,2", a string`,
		`null`:     "null",
		`[[1]]`:    "[[1]], a list whose element 0 is [1], a list",
	}},
	{TypeFloatList, []string{`[]`, `[1.5, 2, -1e3]`}, map[string]string{
		`[1, "2"]`: `[1,"2"], a list whose element 1 is "2", a string`,
	}},
	{TypeCharList, []string{`[]`, `["a", "é", " "]`}, map[string]string{
		`["a", "bc"]`: `["a","bc"], a list whose element 1 is "bc", a string of 2 characters`,
		`"abc"`:       `"abc", a string`,
	}},
	{TypeStringList, []string{`[]`, `["a", ""]`}, map[string]string{
		`["a", 1]`: `["a",1], a list whose element 1 is 1, a number`,
		`"a"`:      `"a", a string`,
	}},
	{TypeBoolList, []string{`[]`, `[true, false]`}, map[string]string{
		`[true, "false"]`: `[true,"false"], a list whose element 1 is "false", a string`,
	}},
	{TypeBytesList, []string{`[]`, `["aGk=", ""]`}, map[string]string{
		`["hi"]`: `["hi"], a list whose element 0 is "hi", a string that is not base64 (standard alphabet, = padded)`,
		`[null]`: "[null], a list whose element 0 is null",
	}},
}

func TestFunction_CheckArgsTypes(t *testing.T) {
	for _, tc := range typeCases {
		f := fn("f", TypeNone, "x "+string(tc.t))
		for _, v := range tc.good {
			if got, err := f.CheckArgs(json.RawMessage("[" + v + "]")); err != nil || len(got) != 1 {
				t.Errorf("%s: [%s]: %v", tc.t, v, err)
			}
			if _, err := f.CheckArgs(json.RawMessage(`{"x":` + v + "}")); err != nil {
				t.Errorf("%s: {x: %s}: %v", tc.t, v, err)
			}
		}
		for v, got := range tc.bad {
			_, err := f.CheckArgs(json.RawMessage("[" + v + "]"))
			want := `f: argument "x" (` + string(tc.t) + "): got " + got
			if err == nil || err.Error() != want {
				t.Errorf("%s: [%s]:\n got  %v\n want %s", tc.t, v, err, want)
			}
			var ae *ArgError
			if !errors.As(err, &ae) || ae.Got != got {
				t.Errorf("%s: [%s]: ArgError %+v", tc.t, v, ae)
			}
		}
	}
}

func TestFunction_CheckResult(t *testing.T) {
	cases := []struct {
		ret  Type
		body string
		err  string
	}{
		{TypeNone, ``, ""},
		{TypeNone, `null`, ""},
		{TypeNone, ` null `, ""},
		{TypeNone, `5`, "f: result (nothing): got 5, a number"},
		{TypeInt, `5`, ""},
		{TypeInt, `5.5`, "f: result (int): got 5.5, not a whole number"},
		{TypeInt, `"5"`, `f: result (int): got "5", a string`},
		{TypeInt, ``, "f: result (int): got nothing"},
		{TypeInt, `null`, "f: result (int): got nothing"},
		{TypeInt, `[5`, "f: result (int): got malformed JSON (unexpected end of JSON input)"},
		{TypeString, "\"\xff\"", "f: result (string): got a reply that is not valid UTF-8"},
		{TypeString, `""`, ""},
		{TypeChar, `"ab"`, `f: result (char): got "ab", a string of 2 characters`},
		{TypeIntList, `null`, ""}, // a nil Go slice
		{TypeIntList, ``, ""},
		{TypeIntList, `[1, 2]`, ""},
		{TypeIntList, `[1, null]`, `f: result (int_list): got [1,null], a list whose element 1 is null`},
		{TypeBytes, `null`, ""},
		{TypeBytesList, `["aGk=", null]`, ""}, // a nil []byte in a [][]byte
		{TypeStringList, `["a", 1]`, `f: result (string_list): got ["a",1], a list whose element 1 is 1, a number`},
	}
	for _, tc := range cases {
		err := fn("f", tc.ret).CheckResult(json.RawMessage(tc.body))
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s %q: %v", tc.ret, tc.body, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s %q: got %v, want %s", tc.ret, tc.body, err, tc.err)
		}
		var re *ResultError
		if !errors.Is(err, ErrBadResult) || !errors.As(err, &re) || re.Want != tc.ret {
			t.Errorf("%s %q: %v is not a *ResultError for %s", tc.ret, tc.body, err, tc.ret)
		}
	}
}

func TestFunction_Signature(t *testing.T) {
	for f, want := range map[*Function]string{
		fn("add", TypeInt, "a int", "b int"):              "add(a int, b int) int",
		fn("nop", TypeNone):                               "nop()",
		fn("split", TypeStringList, "t string", "c char"): "split(t string, c char) string_list",
	} {
		if got := f.Signature(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
