package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// problems returns the message of every *Error in err, in order.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		var me *Error
		if !errors.As(e, &me) {
			t.Fatalf("problem %d is %T, not *Error: %v", i, e, e)
		}
		out[i] = me.Error()
	}
	return out
}

const fullManifest = `name: calc
version: 1.2.3-beta.1+build.5
description: A calculator.
functions:
  - funct_name: add
    description: Add two numbers.
    args_list:
      - arg_name: a
        arg_type: int
        arg_description: First
      - arg_name: b
        arg_type: int
        arg_description: Second
    return_type: int
    app_list: [calc, test]
    idempotent: true
    timeout: 1500ms
    cacheable:
      ttl: 1m
  - funct_name: nop
`

func TestParse_Full(t *testing.T) {
	m, err := Parse("calc.yml", []byte(fullManifest))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Name: "calc", Version: "1.2.3-beta.1+build.5", Description: "A calculator.",
		Functions: []Function{
			{
				Name: "add", Description: "Add two numbers.",
				Args: []Arg{
					{Name: "a", Type: TypeInt, Description: "First"},
					{Name: "b", Type: TypeInt, Description: "Second"},
				},
				ReturnType: TypeInt, Apps: []string{"calc", "test"}, Idempotent: true,
				Timeout: Duration(1500 * time.Millisecond), Cacheable: &Cache{TTL: Duration(time.Minute)},
			},
			{Name: "nop"},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
}

func TestParse_EmptyMeansNone(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"absent", "name: s\nfunctions:\n  - funct_name: f\n"},
		{"empty", "name: s\nfunctions:\n  - funct_name: f\n    args_list: []\n    app_list: []\n    return_type: \"\"\n    description: \"\"\n"},
		{"null", "name: s\ndescription:\nfunctions:\n  - funct_name: f\n    args_list:\n    app_list: ~\n    return_type:\n    idempotent:\n    timeout:\n    cacheable:\n"},
		{"cacheable false", "name: s\nfunctions:\n  - funct_name: f\n    cacheable: false\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("s.yml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			want := &Manifest{Name: "s", Version: DefaultVersion, Functions: []Function{{Name: "f"}}}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("got %+v, want %+v", m, want)
			}
			if !m.Functions[0].AvailableTo("anything") {
				t.Error("an empty app_list should mean every application")
			}
		})
	}
}

func TestParse_Aliases(t *testing.T) {
	m, err := Parse("s.yml", []byte(`name: s
functions:
  - funct_name: upper
    args_list: &text
      - {arg_name: text, arg_type: string}
    return_type: string
  - funct_name: lower
    args_list: *text
    return_type: string
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Function("lower").Signature(); got != "lower(text string) string" {
		t.Errorf("lower = %s", got)
	}
}

// Each case is one mistake; the wanted messages are exact.
func TestParse_Errors(t *testing.T) {
	const head = "name: s\nfunctions:\n  - funct_name: f\n" // lines 1-3
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"empty file", "", []string{"t.yml: empty manifest: want a mapping with name, version, description and functions"}},
		{"only comments", "# nothing\n", []string{"t.yml: empty manifest: want a mapping with name, version, description and functions"}},
		{"null document", "---\n~\n", []string{"t.yml:2: empty manifest: want a mapping with name, version, description and functions"}},
		{"two documents", head + "---\nname: t\n", []string{"t.yml:4: a second YAML document starts here; a manifest file holds one service, so split it into one file per service"}},
		{"syntax", "name: [s\n", []string{"t.yml:1: invalid YAML: did not find expected ',' or ']'"}},
		{"tab", "name: s\nfunctions:\n\t- funct_name: f\n", []string{"t.yml:3: invalid YAML: found character that cannot start any token (a tab: YAML indents with spaces only)"}},
		{"root list", "- name: s\n", []string{"t.yml:1: want a service: a mapping with name, version, description and functions, got a list"}},
		{"root scalar", "hello\n", []string{`t.yml:1: want a service: a mapping with name, version, description and functions, got a string ("hello")`}},

		{"unknown top field", head + "descripton: x\n", []string{"t.yml:4: descripton: unknown field (did you mean description?)"}},
		{"unknown field, no guess", head + "colour: red\n", []string{"t.yml:4: colour: unknown field (valid here: name, version, description, functions, command, scaling)"}},
		{"field at the wrong level", head + "arg_type: int\n", []string{"t.yml:4: arg_type: unknown field (arg_type belongs in an entry of args_list)"}},
		{"unknown function field", head + "    arg_typ: int\n", []string{"t.yml:4: functions[0].arg_typ: unknown field (did you mean arg_type? it belongs in an entry of args_list)"}},
		{"unknown arg field", head + "    args_list:\n      - arg_name: a\n        arg_typ: int\n",
			[]string{"t.yml:6: functions[0].args_list[0].arg_typ: unknown field (did you mean arg_type?)"}},
		{"synonym", head + "    returns: int\n", []string{"t.yml:4: functions[0].returns: unknown field (did you mean return_type?)"}},
		{"name for funct_name", "name: s\nfunctions:\n  - name: f\n", []string{"t.yml:3: functions[0].name: unknown field (did you mean funct_name?)"}},
		{"field twice", head + "name: t\n", []string{"t.yml:4: name: given twice (first at line 1)"}},
		{"merge key", "name: s\nfunctions:\n  - <<: {funct_name: f}\n", []string{
			"t.yml:3: functions[0].<<: merge keys (<<) are not supported; write the fields out",
			"t.yml:3: functions[0].funct_name: missing: the function name is required"}},
		{"complex key", head + "? [a]\n: b\n", []string{"t.yml:4: want a field name, got a list"}},

		{"scaling unknown field", head + "scaling:\n  mni: 1\n", []string{"t.yml:5: scaling.mni: unknown field (did you mean min?)"}},
		{"scaling field far from any", head + "scaling:\n  count: 1\n", []string{"t.yml:5: scaling.count: unknown field (valid here: min, max, policy, reactive, predictive, target_tracking, instances, idle)"}},
		{"scaling bad idle", head + "scaling:\n  idle: soon\n", []string{`t.yml:5: scaling.idle: want a duration like "2s", "500ms" or "1m30s", got "soon"`}},
		{"scaling bad policy", head + "scaling:\n  policy: magic\n", []string{"t.yml:5: scaling.policy: unknown policy \"magic\" (want one of [reactive predictive combined target-tracking fixed])"}},
		{"scaling max below min", head + "scaling:\n  min: 3\n  max: 2\n", []string{"t.yml:6: scaling.max: 2 is less than min 3"}},
		{"scaling negative", head + "scaling:\n  min: -1\n", []string{`t.yml:5: scaling.min: want a whole number ≥ 0, got an integer (-1)`}},
		{"scaling bad duration", head + "scaling:\n  target_tracking:\n    target: fast\n", []string{`t.yml:6: scaling.target_tracking.target: want a duration like "2s", "500ms" or "1m30s", got "fast"`}},
		{"command not a list", head + "command: dpc-service tst\n", []string{`t.yml:4: command: want a command line as a list, program first, like [dpc-service, tst], got a string ("dpc-service tst")`}},
		{"name missing", "functions:\n  - funct_name: f\n", []string{"t.yml:1: name: missing: the service name is required"}},
		{"name empty", "name: ''\nfunctions:\n  - funct_name: f\n", []string{"t.yml:1: name: empty: the service name is required"}},
		{"name with dot", "name: a.b\nfunctions:\n  - funct_name: f\n", []string{`t.yml:1: name: "a.b" is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)`}},
		{"name a list", "name: [a]\nfunctions:\n  - funct_name: f\n", []string{"t.yml:1: name: want a string, got a list",
			"t.yml:1: name: empty: the service name is required"}},
		{"version not semver", "name: s\nversion: 1.0\nfunctions:\n  - funct_name: f\n", []string{`t.yml:2: version: "1.0" is not a SemVer version: write MAJOR.MINOR.PATCH, like 1.0.0`}},
		{"version v-prefixed", "name: s\nversion: v1.0.0\nfunctions:\n  - funct_name: f\n", []string{`t.yml:2: version: "v1.0.0" is not a SemVer version: write MAJOR.MINOR.PATCH, like 1.0.0`}},
		{"description a mapping", "name: s\ndescription: {a: b}\nfunctions:\n  - funct_name: f\n", []string{"t.yml:2: description: want a string, got a mapping"}},

		{"functions missing", "name: s\n", []string{"t.yml:1: functions: missing: a service needs at least one function"}},
		{"functions empty", "name: s\nfunctions: []\n", []string{"t.yml:2: functions: empty: a service needs at least one function"}},
		{"functions null", "name: s\nfunctions:\n", []string{"t.yml:2: functions: empty: a service needs at least one function"}},
		{"functions a mapping", "name: s\nfunctions:\n  add: {}\n", []string{"t.yml:3: functions: want a list of functions, got a mapping"}},
		{"function a string", "name: s\nfunctions:\n  - add\n", []string{`t.yml:3: functions[0]: want a function: a mapping with funct_name, args_list, return_type, app_list and description, got a string ("add")`}},
		{"funct_name missing", "name: s\nfunctions:\n  - description: x\n", []string{"t.yml:3: functions[0].funct_name: missing: the function name is required"}},
		{"funct_name with space", "name: s\nfunctions:\n  - funct_name: add two\n", []string{`t.yml:3: functions[0].funct_name: "add two" is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)`}},
		{"funct_name wildcard", "name: s\nfunctions:\n  - funct_name: '>'\n", []string{`t.yml:3: functions[0].funct_name: ">" is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)`}},
		{"duplicate funct_name", head + "  - funct_name: g\n  - funct_name: f\n", []string{`t.yml:5: functions[2].funct_name: "f" is already the name of functions[0] (line 3); function names must be unique within a service`}},

		{"args_list a string", head + "    args_list: a\n", []string{`t.yml:4: functions[0].args_list: want a list of arguments, got a string ("a")`}},
		{"arg a string", head + "    args_list: [a]\n", []string{`t.yml:4: functions[0].args_list[0]: want an argument: a mapping with arg_name, arg_type and arg_description, got a string ("a")`}},
		{"arg_name missing", head + "    args_list:\n      - arg_type: int\n", []string{"t.yml:5: functions[0].args_list[0].arg_name: missing: the argument name is required"}},
		{"arg_name empty", head + "    args_list:\n      - {arg_name: '', arg_type: int}\n", []string{"t.yml:5: functions[0].args_list[0].arg_name: empty: the argument name is required"}},
		{"arg_name with space", head + "    args_list:\n      - {arg_name: first number, arg_type: int}\n", []string{`t.yml:5: functions[0].args_list[0].arg_name: "first number" is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)`}},
		{"duplicate arg_name", head + "    args_list:\n      - {arg_name: a, arg_type: int}\n      - {arg_name: a, arg_type: int}\n",
			[]string{`t.yml:6: functions[0].args_list[1].arg_name: "a" is already the name of args_list[0] (line 5); argument names must be unique within a function`}},
		{"arg_type missing", head + "    args_list:\n      - arg_name: a\n", []string{"t.yml:5: functions[0].args_list[0].arg_type: missing: want one of int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream"}},
		{"arg_type empty", head + "    args_list:\n      - {arg_name: a, arg_type: ''}\n", []string{"t.yml:5: functions[0].args_list[0].arg_type: missing: want one of int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream"}},
		{"arg_type synonym", head + "    args_list:\n      - {arg_name: a, arg_type: integer}\n", []string{`t.yml:5: functions[0].args_list[0].arg_type: unknown type "integer" (did you mean int?)`}},
		{"arg_type list spelling", head + "    args_list:\n      - {arg_name: a, arg_type: 'list[str]'}\n", []string{`t.yml:5: functions[0].args_list[0].arg_type: unknown type "list[str]" (did you mean string_list?)`}},
		{"arg_type typo", head + "    args_list:\n      - {arg_name: a, arg_type: flaot}\n", []string{`t.yml:5: functions[0].args_list[0].arg_type: unknown type "flaot" (did you mean float? valid types: int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream)`}},
		{"arg_type unknown", head + "    args_list:\n      - {arg_name: a, arg_type: matrix}\n", []string{`t.yml:5: functions[0].args_list[0].arg_type: unknown type "matrix" (valid types: int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream)`}},
		{"arg_type bare list", head + "    args_list:\n      - {arg_name: a, arg_type: list}\n", []string{`t.yml:5: functions[0].args_list[0].arg_type: unknown type "list" (say which list: int_list, float_list, char_list, string_list, bool_list, bytes_list)`}},
		{"return_type void", head + "    return_type: void\n", []string{`t.yml:4: functions[0].return_type: unknown type "void" (leave return_type empty or out when nothing is returned)`}},
		{"return_type unknown", head + "    return_type: matrix\n", []string{`t.yml:4: functions[0].return_type: unknown type "matrix" (valid types: int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream; leave it empty when nothing is returned)`}},
		{"return_type a list", head + "    return_type: [int]\n", []string{"t.yml:4: functions[0].return_type: want a string, got a list"}},

		{"app_list a string", head + "    app_list: notes\n", []string{`t.yml:4: functions[0].app_list: want a list of application names, got a string ("notes")`}},
		{"app empty", head + "    app_list: ['']\n", []string{"t.yml:4: functions[0].app_list[0]: empty application name"}},
		{"app with space", head + "    app_list: [my notes]\n", []string{`t.yml:4: functions[0].app_list[0]: "my notes" is not a valid application name: use letters, digits, '-' and '_' only`}},
		{"app twice", head + "    app_list: [notes, notes]\n", []string{`t.yml:4: functions[0].app_list[1]: "notes" is listed twice`}},

		{"idempotent yes", head + "    idempotent: yes\n", []string{`t.yml:4: functions[0].idempotent: want true or false, got a string ("yes")`}},
		{"idempotent 1", head + "    idempotent: 1\n", []string{"t.yml:4: functions[0].idempotent: want true or false, got an integer (1)"}},
		{"timeout no unit", head + "    timeout: 5\n", []string{`t.yml:4: functions[0].timeout: want a duration with a unit, like "5s" or "5ms", got "5"`}},
		{"timeout garbage", head + "    timeout: soon\n", []string{`t.yml:4: functions[0].timeout: want a duration like "2s", "500ms" or "1m30s", got "soon"`}},
		{"timeout negative", head + "    timeout: -1s\n", []string{`t.yml:4: functions[0].timeout: want a duration of zero or more, got "-1s"`}},
		{"timeout a list", head + "    timeout: [1s]\n", []string{`t.yml:4: functions[0].timeout: want a duration like "2s" or "500ms", got a list`}},
		{"cacheable true", head + "    cacheable: true\n", []string{"t.yml:4: functions[0].cacheable: want a mapping with the time a result may be reused, like {ttl: 1m}, got a boolean (true)"}},
		{"cacheable without ttl", head + "    cacheable: {}\n", []string{"t.yml:4: functions[0].cacheable.ttl: missing: say how long a result may be reused, like ttl: 1m"}},
		{"cacheable ttl null", head + "    cacheable:\n      ttl:\n", []string{"t.yml:5: functions[0].cacheable.ttl: missing: say how long a result may be reused, like ttl: 1m"}},
		{"cacheable ttl zero", head + "    cacheable: {ttl: 0s}\n", []string{"t.yml:4: functions[0].cacheable.ttl: must be more than zero (leave cacheable out if results must not be reused)"}},
		{"cacheable ttl negative", head + "    cacheable: {ttl: -1m}\n", []string{`t.yml:4: functions[0].cacheable.ttl: want a duration of zero or more, got "-1m"`}},
		{"cacheable ttl misspelt", head + "    cacheable: {tll: 1m}\n", []string{"t.yml:4: functions[0].cacheable.tll: unknown field (did you mean ttl?)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("t.yml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; parsed %+v", m)
			}
			if m != nil {
				t.Errorf("a manifest came back with the error")
			}
			got := problems(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestParse_AllProblemsTogether(t *testing.T) {
	_, err := Parse("manifests/tst.yml", []byte(`name: tst
version: 1
functions:
  - funct_name: add
    args_list:
      - {arg_name: a, arg_type: int}
      - {arg_name: a, arg_type: integer}
    return_type: int
    app_list: [test]
  - funct_name: add
    cacheable: {}
  - funct_name: split
    args_list:
      - arg_typ: string
`))
	want := []string{
		`manifests/tst.yml:2: version: "1" is not a SemVer version: write MAJOR.MINOR.PATCH, like 1.0.0`,
		`manifests/tst.yml:7: functions[0].args_list[1].arg_name: "a" is already the name of args_list[0] (line 6); argument names must be unique within a function`,
		`manifests/tst.yml:7: functions[0].args_list[1].arg_type: unknown type "integer" (did you mean int?)`,
		`manifests/tst.yml:10: functions[1].funct_name: "add" is already the name of functions[0] (line 4); function names must be unique within a service`,
		`manifests/tst.yml:11: functions[1].cacheable.ttl: missing: say how long a result may be reused, like ttl: 1m`,
		`manifests/tst.yml:14: functions[2].args_list[0].arg_typ: unknown field (did you mean arg_type?)`,
		`manifests/tst.yml:14: functions[2].args_list[0].arg_name: missing: the argument name is required`,
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestError_Fields(t *testing.T) {
	_, err := Parse("x.yml", []byte("name: s\nfunctions:\n  - funct_name: f\n    return_type:   intt\n"))
	e, ok := err.(*Error) // one problem: the *Error itself, not a join
	if !ok {
		t.Fatalf("%T is not an *Error", err)
	}
	want := Error{File: "x.yml", Line: 4, Column: 20, Field: "functions[0].return_type", Msg: `unknown type "intt" (did you mean int? valid types: int, float, char, string, bool, bytes, int_list, float_list, char_list, string_list, bool_list, bytes_list, stream; leave it empty when nothing is returned)`}
	if *e != want {
		t.Errorf("got  %#v\nwant %#v", *e, want)
	}
}

func TestError_Format(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yml", Line: 3, Field: "name", Msg: "m"}, "f.yml:3: name: m"},
		{Error{File: "f.yml", Field: "name", Msg: "m"}, "f.yml: name: m"},
		{Error{File: "f.yml", Line: 3, Msg: "m"}, "f.yml:3: m"},
		{Error{Line: 3, Field: "name", Msg: "m"}, "line 3: name: m"},
		{Error{Msg: "m"}, "m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%#v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestParse_TooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: s\nfunctions:\n")
	for range 200 {
		b.WriteString("  - funct_name: 'bad name'\n")
	}
	got := problems(t, func() error { _, err := Parse("s.yml", []byte(b.String())); return err }())
	if len(got) != maxProblems+1 || got[len(got)-1] != "s.yml: stopping after 50 problems" {
		t.Errorf("%d problems, last %q", len(got), got[len(got)-1])
	}
}

func TestParse_AliasBomb(t *testing.T) {
	// A 40 kB file that describes a million arguments through aliases:
	// refused after a bounded amount of work, not walked.
	var b strings.Builder
	b.WriteString("name: s\nfunctions:\n  - &f\n    funct_name: f\n    args_list: &a\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - {arg_name: x%d, arg_type: int}\n", i)
	}
	for range 1000 {
		b.WriteString("  - *f\n")
	}
	// Speed is not asserted here (the machine may be loaded): the walk
	// must stop at the item budget or the problem cap, not visit every
	// repeated argument.
	_, err := Parse("bomb.yml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many list items") && !strings.Contains(err.Error(), "stopping after 50 problems") {
		t.Fatalf("got %v, want a bounded refusal", err)
	}
}

func TestParse_ItemBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: s\nfunctions:\n")
	b.WriteString("  - funct_name: f0\n    app_list: &apps [")
	for i := range 1000 {
		fmt.Fprintf(&b, "a%d,", i)
	}
	b.WriteString("]\n")
	for i := 1; i < 200; i++ {
		fmt.Fprintf(&b, "  - {funct_name: f%d, app_list: *apps}\n", i)
	}
	got := problems(t, func() error { _, err := Parse("s.yml", []byte(b.String())); return err }())
	if len(got) != 1 || !strings.Contains(got[0], "too many list items (more than 100000, counting those repeated through aliases)") {
		t.Errorf("got %q", got)
	}
}

func TestParse_RecursiveAlias(t *testing.T) {
	_, err := Parse("r.yml", []byte("name: s\nfunctions: &f\n  - funct_name: g\n    args_list: *f\n"))
	if err == nil {
		t.Fatal("no error")
	}
}

func TestLoad_File(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calc.yml")
	if err := os.WriteFile(path, []byte(fullManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil || m.Name != "calc" {
		t.Fatalf("Load: %v, %+v", err, m)
	}
	if err := os.WriteFile(path, []byte("name: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path {
		t.Errorf("Load of a bad file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// A manifest may say how to start its service and how to scale it; the
// provisioner and the agents read both.
func TestParse_CommandAndScaling(t *testing.T) {
	src := `name: work
functions:
  - funct_name: work
command: [dpc-service, work, --service-time, 20ms]
scaling:
  min: 1
  max: 6
  policy: combined
  reactive: {response_time: 100ms, tau1: 1.2, tau2: 0.5}
  predictive: {slot: 1h, day: 24h, days: 7, percentile: 95, lead: 1h}
  target_tracking: {target: 50ms, percentile: 90, tolerance: 0.1, down_window: 1m}
  idle: 45s
`
	m, err := Parse("work.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Command, " "); got != "dpc-service work --service-time 20ms" {
		t.Errorf("command = %q", got)
	}
	s := m.Scaling
	if s == nil || *s.Min != 1 || *s.Max != 6 || s.Policy != "combined" {
		t.Fatalf("scaling = %+v", s)
	}
	if s.Reactive.ResponseTime.D() != 100*time.Millisecond || s.Reactive.Tau1 != 1.2 || s.Reactive.Tau2 != 0.5 {
		t.Errorf("reactive = %+v", s.Reactive)
	}
	if s.Predictive.Slot.D() != time.Hour || s.Predictive.Days != 7 || s.Predictive.Percentile != 95 {
		t.Errorf("predictive = %+v", s.Predictive)
	}
	if s.TargetTracking.Target.D() != 50*time.Millisecond || s.TargetTracking.DownWindow.D() != time.Minute {
		t.Errorf("target tracking = %+v", s.TargetTracking)
	}
	if s.Idle == nil || s.Idle.D() != 45*time.Second {
		t.Errorf("idle = %v, want 45s", s.Idle)
	}
	// Validate round-trips it.
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
