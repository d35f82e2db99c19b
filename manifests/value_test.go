package manifests

import (
	"encoding/json"
	"testing"
)

func TestParseValue(t *testing.T) {
	cases := []struct {
		t    Type
		in   string
		want string // the JSON, when valid
		err  string
	}{
		{TypeInt, "42", "42", ""},
		{TypeInt, "  -7 ", "-7", ""},
		{TypeInt, "+5", "5", ""},
		{TypeInt, "007", "7", ""},
		{TypeInt, "9223372036854775807", "9223372036854775807", ""},
		{TypeInt, "9223372036854775808", "", "9223372036854775808 is out of range: a whole number from -9223372036854775808 to 9223372036854775807"},
		{TypeInt, "2.5", "", `want a whole number, like 42; got "2.5"`},
		{TypeInt, "x", "", `want a whole number, like 42; got "x"`},
		{TypeInt, "", "", "want a whole number, like 42; got nothing"},

		{TypeFloat, "2.5", "2.5", ""},
		{TypeFloat, " 3 ", "3", ""},
		{TypeFloat, "1e-3", "0.001", ""},
		{TypeFloat, "-0.5", "-0.5", ""},
		{TypeFloat, "1e21", "1e+21", ""},
		{TypeFloat, "1e400", "", "1e400 is out of range for a 64-bit float"},
		{TypeFloat, "inf", "", `want a number, like 2.5 or -3 or 1e-3; got "inf"`},
		{TypeFloat, "NaN", "", `want a number, like 2.5 or -3 or 1e-3; got "NaN"`},
		{TypeFloat, "0x1p-2", "", `want a number, like 2.5 or -3 or 1e-3; got "0x1p-2"`},
		{TypeFloat, "2,5", "", `want a number with a decimal point, like 2.5; got "2,5"`},

		{TypeChar, "x", `"x"`, ""},
		{TypeChar, " x ", `"x"`, ""},
		{TypeChar, " ", `" "`, ""},
		{TypeChar, "😀", `"😀"`, ""},
		{TypeChar, "é", `"é"`, ""},
		{TypeChar, "\"", `"\""`, ""},
		{TypeChar, "ab", "", `want exactly one character, like x; got "ab" (2 characters)`},
		{TypeChar, "", "", "want exactly one character, like x; got nothing"},

		{TypeString, "hello world", `"hello world"`, ""},
		{TypeString, "", `""`, ""},
		{TypeString, `"quoted"`, `"\"quoted\""`, ""},
		{TypeString, " <a&b> ", `" <a&b> "`, ""},

		{TypeBool, "true", "true", ""},
		{TypeBool, "YES", "true", ""},
		{TypeBool, " n ", "false", ""},
		{TypeBool, "False", "false", ""},
		{TypeBool, "1", "", `want true or false (or yes or no); got "1"`},

		{TypeBytes, "hi", `"aGk="`, ""},
		{TypeBytes, "", `""`, ""},

		{TypeIntList, "1, 2, 3", "[1,2,3]", ""},
		{TypeIntList, "1,2,3", "[1,2,3]", ""},
		{TypeIntList, "7", "[7]", ""},
		{TypeIntList, "", "[]", ""},
		{TypeIntList, "  ", "[]", ""},
		{TypeIntList, "[]", "[]", ""},
		{TypeIntList, "[1, 2, 3]", "[1,2,3]", ""},
		{TypeIntList, `["1", 2]`, "[1,2]", ""},
		{TypeIntList, "1, x", "", `item 2: want a whole number, like 42; got "x" (a list is a list of int separated by commas, like 1, 2, 3, or a JSON array, like [1, 2, 3])`},
		{TypeIntList, "1, , 3", "", "item 2 is empty; want a list of int separated by commas, like 1, 2, 3, or a JSON array, like [1, 2, 3]"},
		{TypeIntList, "1, 2,", "", "item 3 is empty; want a list of int separated by commas, like 1, 2, 3, or a JSON array, like [1, 2, 3]"},
		{TypeIntList, "[1, 2", "", "want a list of int separated by commas, like 1, 2, 3, or a JSON array, like [1, 2, 3]; this starts like a JSON array but is not one (unexpected end of JSON input)"},
		{TypeIntList, "[1.5]", "", "item 1: want int, like 42; got 1.5, not a whole number"},
		{TypeFloatList, "1.5, 2", "[1.5,2]", ""},
		{TypeCharList, "a, b, é", `["a","b","é"]`, ""},
		{TypeCharList, `[",", " "]`, `[","," "]`, ""},
		{TypeCharList, "a, bc", "", `item 2: want exactly one character, like x; got "bc" (2 characters) (a list is a list of char separated by commas, like a, b, c, or a JSON array, like ["a", "b", "c"])`},
		{TypeStringList, "a, b", `["a","b"]`, ""},
		{TypeStringList, "  red  ,green ", `["red","green"]`, ""},
		{TypeStringList, `["a, b", "c"]`, `["a, b","c"]`, ""},
		{TypeStringList, `["a", 1]`, "", "item 2: want string, like hello; got 1, a number"},
		{TypeBoolList, "yes, no, true", "[true,false,true]", ""},
		{TypeBytesList, "hi, there", `["aGk=","dGhlcmU="]`, ""},
		{TypeBytesList, `["hi"]`, `["aGk="]`, ""},

		{TypeNone, "x", "", "nothing to enter: the type is empty"},
		{Type("matrix"), "x", "", `unknown type "matrix" (valid types: int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream)`},
	}
	for _, tc := range cases {
		got, err := ParseValue(tc.t, tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s %q: error %v\n want %s", tc.t, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: got %s, %v; want %s", tc.t, tc.in, got, err, tc.want)
			continue
		}
		if mismatch(tc.t, got, false) != "" {
			t.Errorf("%s %q: %s is not of the type: %s", tc.t, tc.in, got, mismatch(tc.t, got, false))
		}
	}
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		t    Type
		v    string
		want string
	}{
		{TypeNone, ``, ""},
		{TypeNone, `null`, ""},
		{TypeNone, `5`, "5"},
		{TypeInt, `42`, "42"},
		{TypeFloat, `2.50`, "2.50"},
		{TypeChar, `"é"`, "é"},
		{TypeString, `"hello\nworld"`, "hello\nworld"},
		{TypeString, `""`, ""},
		{TypeBool, `true`, "true"},
		{TypeBytes, `"aGk="`, "hi"},
		{TypeBytes, `""`, ""},
		{TypeBytes, `null`, ""},
		{TypeBytes, `"AAEC/w=="`, "AAEC/w== (4 bytes of binary data, shown in base64)"},
		{TypeBytes, `"/w=="`, "/w== (1 byte of binary data, shown in base64)"},
		{TypeIntList, `[1,2,3]`, "1, 2, 3"},
		{TypeIntList, `[]`, "[]"},
		{TypeIntList, `null`, "[]"},
		{TypeStringList, `["red","green"]`, "red, green"},
		{TypeStringList, `["a, b","c"]`, `["a, b","c"]`},
		{TypeStringList, `[" a"]`, `[" a"]`},
		{TypeStringList, `[""]`, `[""]`},
		{TypeStringList, `["[x"]`, `["[x"]`},
		{TypeStringList, `["<&>"]`, "<&>"},
		{TypeCharList, `[","," "]`, `[","," "]`},
		{TypeCharList, `["a","b"]`, "a, b"},
		{TypeBytesList, `["aGk=","dGhlcmU="]`, "hi, there"},
		{TypeBytesList, `["aGk=","/w=="]`, `["aGk=","/w=="] (binary data, shown in base64)`},
		{TypeBoolList, `[true,false]`, "true, false"},
		// Not of the type: shown as JSON.
		{TypeInt, `"x"`, `"x"`},
		{TypeInt, ` { "a" : 1 } `, `{"a":1}`},
		{TypeInt, `[1,`, `[1,`},
		{Type("matrix"), `[[1]]`, `[[1]]`},
	}
	for _, tc := range cases {
		if got := FormatValue(tc.t, json.RawMessage(tc.v)); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.t, tc.v, got, tc.want)
		}
	}
}

// What FormatValue prints, ParseValue reads back to the same value (for
// all but binary bytes).
func TestFormatValue_RoundTrip(t *testing.T) {
	values := map[Type][]string{
		TypeInt:        {`0`, `-42`, `9223372036854775807`},
		TypeFloat:      {`2.5`, `-1e-300`, `3`},
		TypeChar:       {`"x"`, `" "`, `","`, `"😀"`, `"["`},
		TypeString:     {`""`, `"hello, world"`, `"  padded  "`, `"[not json"`, `"line\nbreak"`},
		TypeBool:       {`true`, `false`},
		TypeBytes:      {`""`, `"aGk="`},
		TypeIntList:    {`[]`, `[1,2,3]`, `[-1]`},
		TypeFloatList:  {`[]`, `[1.5,2]`},
		TypeCharList:   {`[]`, `["a","b"]`, `[","," ","["]`, `["\""]`},
		TypeStringList: {`[]`, `["a","b"]`, `["a, b","c"]`, `[""]`, `["[x","y"]`, `["x","[y"]`, `["\"q\""]`, `["a\nb"]`},
		TypeBoolList:   {`[true,false]`},
		TypeBytesList:  {`[]`, `["aGk="]`, `["aGksIHRoZXJl"]`},
	}
	for typ, vs := range values {
		for _, v := range vs {
			text := FormatValue(typ, json.RawMessage(v))
			back, err := ParseValue(typ, text)
			if err != nil {
				t.Errorf("%s %s → %q → %v", typ, v, text, err)
				continue
			}
			if !jsonEqual(t, back, json.RawMessage(v)) {
				t.Errorf("%s %s → %q → %s", typ, v, text, back)
			}
		}
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}
