package execfn

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/manifests"
)

func TestTemplate_Argv(t *testing.T) {
	f := &manifests.Function{
		Name: "f",
		Args: []manifests.Arg{
			{Name: "s", Type: manifests.TypeString},
			{Name: "n", Type: manifests.TypeInt},
			{Name: "x", Type: manifests.TypeFloat},
			{Name: "b", Type: manifests.TypeBool},
			{Name: "c", Type: manifests.TypeChar},
			{Name: "raw", Type: manifests.TypeBytes},
			{Name: "files", Type: manifests.TypeStringList},
			{Name: "ns", Type: manifests.TypeIntList},
		},
	}
	for _, tc := range []struct {
		name string
		exec []string
		args string // JSON array of s, n, x, b, c, raw, files, ns
		want []string
		err  string
	}{
		{"each its own word", []string{"p", "{s}", "{n}", "{x}", "{b}", "{c}", "{raw}"},
			`["a b", 42, 2.5, true, "é", "aGk=", [], []]`, []string{"a b", "42", "2.5", "true", "é", "hi"}, ""},
		{"within a word", []string{"p", "--path={s}", "-n{n}", "{s}:{n}", "{{s}}", "${s}"},
			`["/tmp/x y", -7, 1e-3, false, "x", "", [], []]`, []string{"--path=/tmp/x y", "-n-7", "/tmp/x y:-7", "{s}", "$/tmp/x y"}, ""},
		{"shell syntax is data", []string{"p", "{s}", "--x={s}"},
			`["; rm -rf / $(id) ` + "`id`" + ` && echo \"hi\" | cat > /tmp/x", 0, 0, false, "x", "", [], []]`,
			[]string{"; rm -rf / $(id) `id` && echo \"hi\" | cat > /tmp/x", "--x=; rm -rf / $(id) `id` && echo \"hi\" | cat > /tmp/x"}, ""},
		{"a list is one word per item", []string{"p", "--", "{files}", "{ns}", "end"},
			`["", 0, 0, false, "x", "", ["a b", "", "-c"], [1, 2]]`, []string{"--", "a b", "", "-c", "1", "2", "end"}, ""},
		{"an empty list is no word", []string{"p", "{files}", "end"},
			`["", 0, 0, false, "x", "", [], []]`, []string{"end"}, ""},
		{"an empty string is one word", []string{"p", "{s}", ""},
			`["", 0, 0, false, "x", "", [], []]`, []string{"", ""}, ""},
		{"bytes as they are", []string{"p", "{raw}"},
			`["", 0, 0, false, "x", "/wEC", [], []]`, []string{"\xff\x01\x02"}, ""},
		{"NUL in a string", []string{"p", "{s}"},
			`["a\u0000b", 0, 0, false, "x", "", [], []]`, nil, `f: argument "s" (string) holds a NUL character`},
		{"NUL in a list item", []string{"p", "{files}"},
			`["", 0, 0, false, "x", "", ["ok", "\u0000"], []]`, nil, `f: argument "files" (string_list) holds a NUL character`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn := *f
			fn.Exec = tc.exec
			tmpl, err := newTemplate(&fn)
			if err != nil {
				t.Fatal(err)
			}
			var args []json.RawMessage
			if err := json.Unmarshal([]byte(tc.args), &args); err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.argv(args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// Whatever a caller sends arrives as one word, byte for byte: printf %s
// writes its argument back, and nothing a shell would read is read.
func TestHandler_NoShellInjection(t *testing.T) {
	_, hs := handlersFor(t, Config{}, `
  - funct_name: echo
    args_list: [{arg_name: s, arg_type: string}]
    return_type: string
    exec: [printf, "%s", "{s}"]
  - funct_name: echoFlag
    args_list: [{arg_name: s, arg_type: string}]
    return_type: string
    exec: [printf, "%s", "--value={s}"]
  - funct_name: each
    args_list: [{arg_name: xs, arg_type: string_list}]
    return_type: string_list
    exec: [printf, '%s\n', "{xs}"]
`)
	for _, s := range []string{
		`"; rm -rf /`,
		`$(id)`,
		"`id`",
		`a b  c`,
		`' " \ $HOME * ? [a] {s} {{s}} %d %s`,
		`-n`,
		"tab\there, line\nbreak",
		`ünïcödé 😀`,
		``,
	} {
		arg, _ := json.Marshal([]string{s})
		v, err := call(t, hs["echo"], string(arg))
		var got string
		if err == nil {
			err = json.Unmarshal(v, &got)
		}
		if err != nil || got != strings.TrimSuffix(s, "\n") {
			t.Errorf("echo %q = %q, %v", s, got, err)
		}
		v, err = call(t, hs["echoFlag"], string(arg))
		got = ""
		if err == nil {
			err = json.Unmarshal(v, &got)
		}
		if err != nil || got != "--value="+s {
			t.Errorf("echoFlag %q = %q, %v", s, got, err)
		}
	}
	v, err := call(t, hs["each"], `[["$(id)", "a b", "; ls", "*"]]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(t, v); !reflect.DeepEqual(got, []string{"$(id)", "a b", "; ls", "*"}) {
		t.Errorf("each = %q", got)
	}
}
