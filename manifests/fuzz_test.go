package manifests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func FuzzParse(f *testing.F) {
	for _, name := range BuiltinNames() {
		data, _ := builtinFS.ReadFile(name + ".yml")
		f.Add(data)
	}
	f.Add([]byte(fullManifest))
	f.Add([]byte("name: s\nfunctions: &f\n  - funct_name: g\n    args_list: *f\n"))
	f.Add([]byte("name: s\nfunctions:\n  - {funct_name: f, description: 1.0, app_list: [2024], timeout: 0}\n"))
	f.Add([]byte("name: \"\\xff\"\nfunctions:\n- funct_name: a\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("Parse hangs on %q", data))
			}
		}()
		m, err := Parse("f.yml", data)
		if err != nil {
			if m != nil {
				t.Fatal("manifest and error together")
			}
			if strings.Contains(err.Error(), "parser failure") {
				t.Fatalf("panic inside Parse: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m2, err := Parse("again.yml", out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\n: %v", out, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the manifest:\n%#v\n%#v\nvia\n%s", m, m2, out)
		}
	})
}

func FuzzCheckArgs(f *testing.F) {
	f.Add("int int", `[2, 3]`)
	f.Add("int int", `{"a": 2, "b": 3}`)
	f.Add("", ``)
	f.Add("char string_list", `["é", ["a", ""]]`)
	f.Add("bytes float_list", `{"a": "aGk=", "b": [1e400]}`)
	f.Add("int", `{"a": 1, "a": 2}`)
	f.Add("bool_list", "[[true, null]]")
	f.Fuzz(func(t *testing.T, types, body string) {
		fn := &Function{Name: "f"}
		for i, ty := range strings.Fields(types) {
			if i >= 8 {
				break
			}
			fn.Args = append(fn.Args, Arg{Name: string(rune('a' + i)), Type: Type(ty)})
		}
		args, err := fn.CheckArgs(json.RawMessage(body))
		if err == nil {
			if len(args) != len(fn.Args) {
				t.Fatalf("%d arguments back for %d declared", len(args), len(fn.Args))
			}
			for i, a := range args {
				if got := mismatch(fn.Args[i].Type, a, false); got != "" || !json.Valid(a) {
					t.Fatalf("argument %d %s accepted but %s", i, a, got)
				}
			}
		} else if strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("message on several lines: %q", err)
		}
		for _, a := range fn.Args {
			fn.ReturnType = a.Type
			fn.CheckResult(json.RawMessage(body))
			FormatValue(a.Type, json.RawMessage(body))
		}
	})
}

func FuzzParseValue(f *testing.F) {
	for typ, ex := range examples {
		f.Add(string(typ), ex)
	}
	f.Add("string_list", `["a, b", "c"]`)
	f.Add("char", " ")
	f.Add("float", "1e400")
	f.Fuzz(func(t *testing.T, typ, s string) {
		ty := Type(typ)
		v, err := ParseValue(ty, s)
		if err != nil {
			return
		}
		if got := mismatch(ty, v, false); got != "" || !json.Valid(v) {
			t.Fatalf("ParseValue(%s, %q) = %s, which is %s", ty, s, v, got)
		}
		if ty == TypeBytes || ty == TypeBytesList {
			return // binary data is shown in base64, not read back
		}
		text := FormatValue(ty, v)
		back, err := ParseValue(ty, text)
		if err != nil {
			t.Fatalf("%s %q → %s → %q → %v", ty, s, v, text, err)
		}
		if !jsonEqual(t, v, back) {
			t.Fatalf("%s %q → %s → %q → %s", ty, s, v, text, back)
		}
	})
}
