package execfn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/manifests"
)

func TestParseOutput(t *testing.T) {
	for _, tc := range []struct {
		typ  manifests.Type
		out  string
		want string // JSON; "" with err
		err  string
	}{
		{manifests.TypeNone, "anything\n", "", ""},
		{manifests.TypeString, "hello\n", `"hello"`, ""},
		{manifests.TypeString, "hello\n\n", `"hello\n"`, ""},
		{manifests.TypeString, "  two\nlines  ", `"  two\nlines  "`, ""},
		{manifests.TypeString, "", `""`, ""},
		{manifests.TypeString, "<&>", `"<&>"`, ""},
		{manifests.TypeString, "\xff", "", "the output is not UTF-8 text (return_type bytes takes any output)"},
		{manifests.TypeInt, "42\n", `42`, ""},
		{manifests.TypeInt, "  -7 \n", `-7`, ""},
		{manifests.TypeInt, "12345\t/tmp\n", "", `the output is not an int: want a whole number, like 42; got "12345\t/tmp"`},
		{manifests.TypeInt, "", "", "the output is not an int: want a whole number, like 42; got nothing"},
		{manifests.TypeInt, "99999999999999999999", "", "out of range"},
		{manifests.TypeFloat, "1234.56 5678.9\n", "", "the output is not a float"},
		{manifests.TypeFloat, "1234.56\n", `1234.56`, ""},
		{manifests.TypeFloat, "3\n", `3`, ""},
		{manifests.TypeBool, "true\n", `true`, ""},
		{manifests.TypeBool, "No\n", `false`, ""},
		{manifests.TypeBool, "1\n", "", "the output is not a bool"},
		{manifests.TypeChar, "x\n", `"x"`, ""},
		{manifests.TypeChar, " \n", `" "`, ""},
		{manifests.TypeChar, "xy\n", "", "the output is not a char: want exactly one character"},
		{manifests.TypeBytes, "hi\n", `"aGkK"`, ""},
		{manifests.TypeBytes, "\xff\x00", `"/wA="`, ""},
		{manifests.TypeBytes, "", `""`, ""},
		{manifests.TypeStringList, "a\nb c\n", `["a","b c"]`, ""},
		{manifests.TypeStringList, "a\n\nb\n", `["a","","b"]`, ""},
		{manifests.TypeStringList, "", `[]`, ""},
		{manifests.TypeStringList, "\n", `[""]`, ""},
		{manifests.TypeStringList, "no newline at the end", `["no newline at the end"]`, ""},
		{manifests.TypeIntList, "1\n 2 \n3\n", `[1,2,3]`, ""},
		{manifests.TypeIntList, "1\n2\nthree\n", "", `line 3 of the output is not an int (a int_list is one item per line): want a whole number, like 42; got "three"`},
		{manifests.TypeIntList, "1,2,3\n", "", "line 1 of the output is not an int"},
		{manifests.TypeFloatList, "0.5\n1e3\n", `[0.5,1000]`, ""},
		{manifests.TypeBoolList, "yes\nfalse\n", `[true,false]`, ""},
		{manifests.TypeCharList, "a\né\n", `["a","é"]`, ""},
		{manifests.TypeBytesList, "hi\n\xff\n", `["aGk=","/w=="]`, ""},
	} {
		got, err := parseOutput(tc.typ, []byte(tc.out))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: got %s, %v; want an error containing %q", tc.typ, tc.out, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: got %s, %v; want %s", tc.typ, tc.out, got, err, tc.want)
			continue
		}
		// What parses is what the manifest promises.
		f := &manifests.Function{Name: "f", ReturnType: tc.typ}
		if err := f.CheckResult(got); err != nil {
			t.Errorf("%s %q: %s fails CheckResult: %v", tc.typ, tc.out, got, err)
		}
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, ty := range manifests.Types() {
		f.Add(string(ty), "1\n2\n")
	}
	f.Add("string", "\xff")
	f.Add("char_list", " \n\n")
	f.Fuzz(func(t *testing.T, typ, out string) {
		ty := manifests.Type(typ)
		if !ty.Valid() {
			return
		}
		v, err := parseOutput(ty, []byte(out))
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("message on several lines: %q", err)
			}
			return
		}
		if !json.Valid(v) {
			t.Fatalf("%s %q → invalid JSON %s", ty, out, v)
		}
		f := &manifests.Function{Name: "f", ReturnType: ty}
		if err := f.CheckResult(v); err != nil {
			t.Fatalf("%s %q → %s, which fails CheckResult: %v", ty, out, v, err)
		}
	})
}
