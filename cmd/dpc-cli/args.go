package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dpc-project/dpc/internal/suggest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// callArgs builds a call's arguments from the command line: each word is
// NAME=VALUE for a declared argument NAME, or a plain value for the next
// argument not given by name, typed by the manifest (manifests.ParseValue).
// argsJSON, if not empty, is the arguments as JSON instead. The result is
// a JSON array in declaration order, or argsJSON as given, or nil for no
// arguments. Problems are usage errors naming the argument.
//
// A word NAME=VALUE whose NAME is not declared is a plain value ("x=y" to
// a string argument), unless it reads as a misspelt name: NAME is close to
// a declared one (txt=… for text), or the word fits no argument as a
// value (c=2 to add, whose next argument is an int). Then the error says
// the function has no argument NAME, and which it probably meant.
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
			if ok && len(name) > 1 && looksLikeName(name) {
				if meant := suggest.Closest(name, argNames(f)); meant != "" {
					return nil, usageErrorf("%s has no argument %s; did you mean %s? (a value with '=' in it is given by name: %s=%s); %s", f.Name, name, meant, meant, w, usageOf(f))
				}
			}
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
			if err := noSuchArg(f, w, vals); err != nil {
				return nil, err
			}
			return nil, usageErrorf("%s takes %s; %q is one value too many; %s", f.Name, arity(f), w, usageOf(f))
		}
		v, err := parseArg(f, next, w)
		if err != nil {
			if err := noSuchArg(f, w, vals); err != nil {
				return nil, err
			}
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
	if a.Type == manifests.TypeStream {
		return streamWord(f, a, s)
	}
	v, err := manifests.ParseValue(a.Type, s)
	if err != nil {
		return nil, usageErrorf("argument %s (%s) of %s: %v", a.Name, a.Type, f.Name, err)
	}
	return v, nil
}

// noSuchArg is the error for a word NAME=VALUE that fits no argument as
// a value, when NAME reads as an argument name: f has no argument NAME,
// with the one meant among those still without a value. nil otherwise.
func noSuchArg(f *manifests.Function, w string, vals []json.RawMessage) error {
	name, _, ok := strings.Cut(w, "=")
	if !ok || !looksLikeName(name) {
		return nil
	}
	var free []string
	for i, v := range vals {
		if v == nil {
			free = append(free, f.Args[i].Name)
		}
	}
	if meant := suggest.Closest(name, free); meant != "" {
		return usageErrorf("%s has no argument %s; did you mean %s? %s", f.Name, name, meant, usageOf(f))
	}
	return usageErrorf("%s has no argument %s; %s", f.Name, name, usageOf(f))
}

// looksLikeName: s could be an argument's name (which the manifest
// allows: letters, digits, '-' and '_'), starting with a letter or '_'
// so that a number such as the 2 of "2=x" does not count.
func looksLikeName(s string) bool {
	if s == "" || !omq.ValidName(s) {
		return false
	}
	c := s[0]
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func argNames(f *manifests.Function) []string {
	names := make([]string, len(f.Args))
	for i, a := range f.Args {
		names[i] = a.Name
	}
	return names
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
