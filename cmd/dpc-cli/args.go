package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dpc-project/dpc/manifests"
)

// callArgs builds a call's arguments from the command line: each word is
// NAME=VALUE for a declared argument NAME, or a plain value for the next
// argument not given by name, typed by the manifest (manifests.ParseValue).
// argsJSON, if not empty, is the arguments as JSON instead. The result is
// a JSON array in declaration order, or argsJSON as given, or nil for no
// arguments. Problems are usage errors naming the argument.
func callArgs(f *manifests.Function, words []string, argsJSON string) (json.RawMessage, error) {
	if argsJSON != "" {
		if len(words) > 0 {
			return nil, usageErrorf("give the arguments of %s either as words or with --args-json, not both", f.Name)
		}
		raw := json.RawMessage(strings.TrimSpace(argsJSON))
		if _, err := f.CheckArgs(raw); err != nil {
			return nil, usageErrorf("--args-json: %v; %s", err, usageOf(f))
		}
		return raw, nil
	}
	n := len(f.Args)
	vals := make([]json.RawMessage, n)
	var positional []string
	for _, w := range words {
		name, value, ok := strings.Cut(w, "=")
		i := argIndex(f, name)
		if !ok || i < 0 {
			positional = append(positional, w)
			continue
		}
		if vals[i] != nil {
			return nil, usageErrorf("argument %s of %s is given twice", name, f.Name)
		}
		v, err := parseArg(f, i, value)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	next := 0
	for _, w := range positional {
		for next < n && vals[next] != nil {
			next++
		}
		if next == n {
			return nil, usageErrorf("%s takes %s; %q is one value too many; %s", f.Name, arity(f), w, usageOf(f))
		}
		v, err := parseArg(f, next, w)
		if err != nil {
			return nil, err
		}
		vals[next] = v
	}
	var missing []string
	for i, v := range vals {
		if v == nil {
			missing = append(missing, describeArg(f.Args[i]))
		}
	}
	if len(missing) > 0 {
		return nil, usageErrorf("%s: missing %s; %s", f.Name, strings.Join(missing, ", "), usageOf(f))
	}
	if n == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

func parseArg(f *manifests.Function, i int, s string) (json.RawMessage, error) {
	a := f.Args[i]
	v, err := manifests.ParseValue(a.Type, s)
	if err != nil {
		return nil, usageErrorf("argument %s (%s) of %s: %v", a.Name, a.Type, f.Name, err)
	}
	return v, nil
}

func argIndex(f *manifests.Function, name string) int {
	for i, a := range f.Args {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// describeArg is "b (int: second number)".
func describeArg(a manifests.Arg) string {
	if a.Description == "" {
		return fmt.Sprintf("%s (%s)", a.Name, a.Type)
	}
	return fmt.Sprintf("%s (%s: %s)", a.Name, a.Type, a.Description)
}

func arity(f *manifests.Function) string {
	switch len(f.Args) {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", len(f.Args))
}

// usageOf is how to call f: "usage: add a=INT b=INT".
func usageOf(f *manifests.Function) string {
	return "usage: " + callSyntax(f.Name, f)
}

// callSyntax is "name a=INT b=INT".
func callSyntax(name string, f *manifests.Function) string {
	var b strings.Builder
	b.WriteString(name)
	for _, a := range f.Args {
		b.WriteString(" " + a.Name + "=" + strings.ToUpper(string(a.Type)))
	}
	return b.String()
}
