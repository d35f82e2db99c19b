package manifests

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const execManifest = `name: sysinfo
functions:
  - funct_name: du
    args_list:
      - {arg_name: path, arg_type: string}
    return_type: int
    exec: [sh, -c, 'du -sb -- "$1" | cut -f1', sh, "{path}"]
  - funct_name: sums
    args_list:
      - {arg_name: files, arg_type: string_list}
      - {arg_name: n, arg_type: int}
    return_type: string_list
    exec: [head, "-n{n}", "--", "{files}", "{{literal}}", ""]
`

func TestParse_Exec(t *testing.T) {
	m, err := Parse("s.yml", []byte(execManifest))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Function("du").Exec, []string{"sh", "-c", `du -sb -- "$1" | cut -f1`, "sh", "{path}"}; !reflect.DeepEqual(got, want) {
		t.Errorf("du.exec = %q, want %q", got, want)
	}
	if got, want := m.Function("sums").Exec, []string{"head", "-n{n}", "--", "{files}", "{{literal}}", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("sums.exec = %q, want %q", got, want)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// The command is this host's business: not in the JSON of $SRV
	// metadata and the catalog.
	j, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), "exec") || strings.Contains(string(j), "cut -f1") {
		t.Errorf("the JSON carries the command: %s", j)
	}
	// YAML keeps it, so that Validate checks it.
	y, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("again.yml", y)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Errorf("YAML round trip: %v\n%s", err, y)
	}
}

func TestSplitExec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ExecPart
	}{
		{"uptime", []ExecPart{{Text: "uptime"}}},
		{"", []ExecPart{{}}},
		{"{path}", []ExecPart{{Arg: "path"}}},
		{"--path={path}", []ExecPart{{Text: "--path="}, {Arg: "path"}}},
		{"{a}{b}", []ExecPart{{Arg: "a"}, {Arg: "b"}}},
		{"{a}-{b}.txt", []ExecPart{{Arg: "a"}, {Text: "-"}, {Arg: "b"}, {Text: ".txt"}}},
		{"{{a}}", []ExecPart{{Text: "{a}"}}},
		{"x{{a}}y{a}", []ExecPart{{Text: "x{a}y"}, {Arg: "a"}}},
		{"{{{a}}}", []ExecPart{{Text: "{{a}}"}}},
		{"{{a}", []ExecPart{{Text: "{"}, {Arg: "a"}}},
		{"{a}}", []ExecPart{{Arg: "a"}, {Text: "}"}}},
		{"{if(x) print}}", []ExecPart{{Text: "{if(x) print}}"}}},
		{"{if(x){print}}", []ExecPart{{Text: "{if(x)"}, {Arg: "print"}, {Text: "}"}}},
		{"{{}}", []ExecPart{{Text: "{{}}"}}},
		{"$HOME", []ExecPart{{Text: "$HOME"}}},
		// Braces that make no placeholder are text.
		{"{print $1}", []ExecPart{{Text: "{print $1}"}}},
		{"{}", []ExecPart{{Text: "{}"}}},
		{"{a.b}", []ExecPart{{Text: "{a.b}"}}},
		{"x{a", []ExecPart{{Text: "x{a"}}},
		{"a}", []ExecPart{{Text: "a}"}}},
		{`n=$(du -sb -- "$1") && echo "${n%%[[:space:]]*}"`, []ExecPart{{Text: `n=$(du -sb -- "$1") && echo "${n%%[[:space:]]*}"`}}},
		{"${x}", []ExecPart{{Text: "$"}, {Arg: "x"}}},
		{"{ a }", []ExecPart{{Text: "{ a }"}}},
	} {
		if got := SplitExec(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitExec(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

// Each case is one mistake in exec; the wanted messages are exact.
func TestParse_ExecErrors(t *testing.T) {
	const head = "name: s\nfunctions:\n  - funct_name: f\n" // lines 1-3
	const arg = "    args_list:\n      - {arg_name: path, arg_type: string}\n"
	const list = "    args_list:\n      - {arg_name: files, arg_type: string_list}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"a string", head + "    exec: du -sb {path}\n", []string{
			`t.yml:4: functions[0].exec: want a list, program first, like [du, -sb, --, "{path}"], got a string ("du -sb {path}"): no shell splits it into words, so write each word as an element`}},
		{"a mapping", head + "    exec: {program: du}\n", []string{
			`t.yml:4: functions[0].exec: want a list, program first, like [du, -sb, --, "{path}"], got a mapping`}},
		{"empty", head + "    exec: []\n", []string{
			"t.yml:4: functions[0].exec: empty: name the program to run, like exec: [uptime]"}},
		{"an element a list", head + "    exec: [du, [a]]\n", []string{
			"t.yml:4: functions[0].exec[1]: want a string (one word of the command line), got a list"}},
		{"an element null", head + "    exec: [du, ~]\n", []string{
			"t.yml:4: functions[0].exec[1]: want a string (one word of the command line), got nothing (null)"}},
		{"empty program", head + "    exec: ['', x]\n", []string{
			"t.yml:4: functions[0].exec[0]: the program is empty"}},
		{"program a placeholder", head + arg + "    exec: ['{path}']\n", []string{
			"t.yml:6: functions[0].exec[0]: the program cannot be a placeholder: a caller must not choose what runs (arguments go in the elements after it)"}},
		{"misspelt placeholder", head + arg + "    exec: [du, '{pth}']\n", []string{
			"t.yml:6: functions[0].exec[1]: {pth} names no argument (did you mean {path}? or write {{pth}} for the text {pth})"}},
		{"unknown placeholder", head + arg + "    exec: [du, '{size}', '{path}']\n", []string{
			"t.yml:6: functions[0].exec[1]: {size} names no argument (placeholders name arguments of args_list: path; write {{size}} for the text {size})"}},
		{"placeholder without arguments", head + "    exec: [du, '{path}']\n", []string{
			"t.yml:4: functions[0].exec[1]: {path} names no argument (the function takes no arguments; write {{path}} for the text {path})"}},
		{"shell variable in braces", head + arg + "    exec: [sh, -c, 'echo ${HOME}/\"$1\"', sh, '{path}']\n", []string{
			"t.yml:6: functions[0].exec[2]: {HOME} names no argument (for a shell variable write $HOME or ${{HOME}})"}},
		{"list inside a word", head + list + "    exec: [cat, '--files={files}']\n", []string{
			`t.yml:6: functions[0].exec[1]: {files} is a string_list: a list becomes one word per item, so its placeholder must be a whole element, "{files}", not part of "--files={files}"`}},
		{"unused argument", head + arg + "    exec: [uptime]\n", []string{
			`t.yml:6: functions[0].exec: argument "path" is not used: put {path} in an element of exec, or take the argument out of args_list`}},
		{"placeholder in a shell script", head + arg + "    exec: [sh, -c, 'du -sb {path}']\n", []string{
			`t.yml:6: functions[0].exec[2]: a placeholder inside a shell script would let a caller's value run as code: pass the value as a word of its own and refer to it in the script (for a shell: [sh, -c, 'du -sb -- "$1"', sh, "{path}"])`}},
		{"placeholder in a bash script after options", head + arg + "    exec: [/bin/bash, -o, pipefail, -ec, 'du {path}']\n", []string{
			`t.yml:6: functions[0].exec[4]: a placeholder inside a shell script would let`}},
		{"placeholder in a python script", head + arg + "    exec: [python3, -c, 'print(\"{path}\")']\n", []string{
			`t.yml:6: functions[0].exec[2]: a placeholder inside a Python script would let`}},
		{"placeholder in a perl script", head + arg + "    exec: [perl, -ne, 'print if /{path}/']\n", []string{
			`t.yml:6: functions[0].exec[2]: a placeholder inside a perl script would let`}},
		{"NUL", head + "    exec: [\"a\\0b\"]\n", []string{
			"t.yml:4: functions[0].exec[0]: holds a NUL character, which no command-line word can"}},
		{"exec at the top", "exec: [uptime]\n" + head, []string{
			"t.yml:1: exec: unknown field (exec belongs in an entry of functions)"}},
		{"command in a function", head + "    command: [uptime]\n", []string{
			"t.yml:4: functions[0].command: unknown field (did you mean exec?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yml", []byte(tc.yaml))
			got := problems(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// A shell script that takes the value as "$1" is fine, and so is a
// placeholder after the script (the script's own arguments), or in a
// script file's arguments.
func TestParse_ExecScriptsThatAreFine(t *testing.T) {
	for _, exec := range []string{
		`[sh, -c, 'du -sb -- "$1"', sh, "{path}"]`,
		`[bash, -o, pipefail, -c, 'du -sb -- "$1" | cut -f1', bash, "{path}"]`,
		`[sh, ./script.sh, "{path}"]`,
		`[python3, -c, 'import sys; print(sys.argv[1])', "{path}"]`,
		`[env, "{path}"]`,
	} {
		y := "name: s\nfunctions:\n  - funct_name: f\n    args_list: [{arg_name: path, arg_type: string}]\n    exec: " + exec + "\n"
		if _, err := Parse("t.yml", []byte(y)); err != nil {
			t.Errorf("%s: %v", exec, err)
		}
	}
}

// Options.CheckProgram is asked about each program as the file is read,
// and what it refuses is a problem at the program's line, with the others.
func TestParseWith_CheckProgram(t *testing.T) {
	y := `name: s
functions:
  - funct_name: a
    exec: [uptime]
  - funct_name: b
    exec: [no-such-program, x]
  - funct_name: c
    retrun_type: int
    exec: [uptime]
`
	var asked []string
	check := func(p string) error {
		asked = append(asked, p)
		if p == "no-such-program" {
			return errors.New(`program "no-such-program" is not on this host`)
		}
		return nil
	}
	_, err := ParseWith("t.yml", []byte(y), Options{CheckProgram: check})
	want := []string{
		`t.yml:6: functions[1].exec[0]: program "no-such-program" is not on this host`,
		"t.yml:8: functions[2].retrun_type: unknown field (did you mean return_type?)",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(asked, []string{"uptime", "no-such-program", "uptime"}) {
		t.Errorf("asked about %q", asked)
	}
	// Parse alone does not look.
	if _, err := Parse("t.yml", []byte(strings.Replace(y, "retrun_type", "return_type", 1))); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

var placeholderRE = regexp.MustCompile(`\{[A-Za-z0-9_-]+\}`)

func FuzzSplitExec(f *testing.F) {
	for _, s := range []string{"uptime", "--path={path}", "{{x}}", "{print $1}", "x{a", "a}", "{a}{b}", "", "{{a}", "{a}}}", "${n%%.*}", "{{{a}}}", "{{a}{b}}", "x{{a}}y{a}", "{if(x){print}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := SplitExec(s)
		if len(parts) == 0 {
			t.Fatalf("SplitExec(%q) is no parts", s)
		}
		// Written back with each {name} of the text doubled, the parts
		// split the same.
		var b strings.Builder
		for _, p := range parts {
			if p.Arg != "" {
				if p.Text != "" {
					t.Fatalf("part with text and placeholder: %+v", p)
				}
				b.WriteString("{" + p.Arg + "}")
				continue
			}
			b.WriteString(placeholderRE.ReplaceAllString(p.Text, "{$0}"))
		}
		if again := SplitExec(b.String()); !reflect.DeepEqual(again, parts) {
			t.Fatalf("SplitExec(%q) = %+v; written back as %q it is %+v", s, parts, b.String(), again)
		}
	})
}

// The example in README.md's section on exec parses.
func TestREADME_ExecExample(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "## Functions that run a command")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no yaml block in README.md's section on exec")
	}
	m, err := Parse("README.md", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Functions {
		if len(f.Exec) == 0 {
			t.Errorf("%s has no exec", f.Name)
		}
	}
}
