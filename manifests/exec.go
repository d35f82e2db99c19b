package manifests

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/dpc-project/dpc/internal/suggest"
	"github.com/dpc-project/dpc/omq"
	"gopkg.in/yaml.v3"
)

// A function's exec field: the command that implements it (manifests/README.md,
// "Functions that run a command"). The schema lives here; running the command
// is package execfn's.

// ExecPart is a piece of one element of exec: literal text, or a
// placeholder naming an argument. At most one of Text and Arg is set;
// the empty element is one part with neither.
type ExecPart struct {
	Text string // literal text, with {{name}} already turned into {name}
	Arg  string // the argument a placeholder {name} stands for
}

// SplitExec splits one element of exec into literal text and
// placeholders: "--path={path}" is the text "--path=" and the placeholder
// of argument path. A placeholder is a name in braces, the name made of
// letters, digits, '-' and '_' as argument names are, and "{{name}}" is
// the literal text "{name}". Every other brace is text as written, so
// that most awk programs ('{print $1}'), shell expansions ("${n%%.*}")
// and find's {} need no escaping.
func SplitExec(s string) []ExecPart {
	var parts []ExecPart
	var text strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			text.WriteByte(s[i])
			continue
		}
		if strings.HasPrefix(s[i:], "{{") {
			if end := strings.Index(s[i+2:], "}}"); end > 0 && omq.ValidName(s[i+2:i+2+end]) {
				text.WriteString(s[i+1 : i+3+end]) // {name}
				i += end + 3
				continue
			}
		}
		if end := strings.IndexByte(s[i+1:], '}'); end > 0 && omq.ValidName(s[i+1:i+1+end]) {
			if text.Len() > 0 {
				parts = append(parts, ExecPart{Text: text.String()})
				text.Reset()
			}
			parts = append(parts, ExecPart{Arg: s[i+1 : i+1+end]})
			i += end + 1
			continue
		}
		text.WriteByte('{')
	}
	if text.Len() > 0 || len(parts) == 0 {
		// The empty element is still one word of the command line.
		parts = append(parts, ExecPart{Text: text.String()})
	}
	return parts
}

// execForm is the form exec takes, for messages.
const execForm = `a list, program first, like [du, -sb, --, "{path}"]`

// exec reads a function's exec field against its (already read)
// arguments. A program check (Options.CheckProgram) runs here, while the
// positions are known.
func (p *parser) exec(n *yaml.Node, path string, args []Arg) []string {
	r := resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind == yaml.ScalarNode {
		p.errorf(n, path, "want %s, got %s: no shell splits it into words, so write each word as an element", execForm, describeNode(r))
		return nil
	}
	items := p.seq(n, path, execForm)
	if r.Kind == yaml.SequenceNode && len(items) == 0 && !p.stopped {
		p.errorf(n, path, "empty: name the program to run, like exec: [uptime]")
		return nil
	}
	argType := map[string]Type{}
	for _, a := range args {
		argType[a.Name] = a.Type
	}
	words := make([]string, len(items))
	for i, it := range items {
		words[i] = resolve(it).Value
	}
	script, lang := scriptAt(words)
	problems := len(p.errs)
	used := map[string]bool{}
	var out []string
	for i, it := range items {
		epath := fmt.Sprintf("%s[%d]", path, i)
		ri := resolve(it)
		if ri.Kind != yaml.ScalarNode || isNull(ri) {
			p.errorf(it, epath, "want a string (one word of the command line), got %s", describeNode(ri))
			continue
		}
		s := ri.Value
		out = append(out, s)
		if strings.IndexByte(s, 0) >= 0 {
			p.errorf(it, epath, "holds a NUL character, which no command-line word can")
			continue
		}
		parts := SplitExec(s)
		if i == 0 {
			p.program(it, epath, s, parts)
			continue
		}
		for _, part := range parts {
			if part.Arg == "" {
				continue
			}
			used[part.Arg] = true
			t, ok := argType[part.Arg]
			switch {
			case !ok:
				p.errorf(it, epath, "{%s} names no argument (%s)", part.Arg, suggestArg(part.Arg, args, s))
			case t == TypeStream:
				// A command line holds words, not a body of any size.
				p.errorf(it, epath, "{%s} is a stream, which a command cannot take as a word: only a Go service (package servicehost) takes streams", part.Arg)
			case t.IsList() && len(parts) > 1:
				p.errorf(it, epath, "{%s} is a %s: a list becomes one word per item, so its placeholder must be a whole element, \"{%s}\", not part of %q", part.Arg, t, part.Arg, s)
			}
		}
		if i == script && slices.ContainsFunc(parts, func(p ExecPart) bool { _, ok := argType[p.Arg]; return p.Arg != "" && ok }) {
			p.errorf(it, epath, "a placeholder inside a %s script would let a caller's value run as code: pass the value as a word of its own and refer to it in the script (for a shell: [sh, -c, 'du -sb -- \"$1\"', sh, \"{path}\"])", lang)
		}
	}
	// An argument no element uses would be sent and then ignored; said
	// only when exec itself is fine, lest one typo be reported twice.
	clean := len(p.errs) == problems
	for _, a := range args {
		if clean && !used[a.Name] && a.Name != "" {
			p.errorf(n, path, "argument %q is not used: put {%s} in an element of exec, or take the argument out of args_list", a.Name, a.Name)
		}
	}
	return out
}

// program checks exec[0], which is taken as written: it must not be a
// placeholder, for a caller must not choose what runs, and it is offered
// to Options.CheckProgram.
func (p *parser) program(n *yaml.Node, path, s string, parts []ExecPart) {
	switch {
	case s == "":
		p.errorf(n, path, "the program is empty")
	case containsPlaceholder(parts):
		p.errorf(n, path, "the program cannot be a placeholder: a caller must not choose what runs (arguments go in the elements after it)")
	case p.checkProgram != nil:
		if err := p.checkProgram(s); err != nil {
			p.errorf(n, path, "%v", err)
		}
	}
}

func containsPlaceholder(parts []ExecPart) bool {
	for _, p := range parts {
		if p.Arg != "" {
			return true
		}
	}
	return false
}

// scriptAt finds the element of exec that is program text for the
// interpreter exec[0] names — for a shell, the first operand after an
// option cluster with c (sh -c, bash -ec, bash -o pipefail -c); for
// python the word after -c; for perl, ruby and node the word after -e (or
// a cluster ending in it, perl -ne) — and names the language; -1 if none.
// It catches the usual way to turn a placeholder back into code
// injection; it is a guard against a mistake, not a sandbox.
func scriptAt(words []string) (int, string) {
	if len(words) < 2 {
		return -1, ""
	}
	cluster := func(w string) bool { // -c, -ec, -xc: short options only
		if len(w) < 2 || w[0] != '-' || w[1] == '-' {
			return false
		}
		for _, r := range w[1:] {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return false
			}
		}
		return true
	}
	prog := path.Base(words[0])
	switch {
	case slices.Contains([]string{"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish"}, prog):
		c := false
		for i := 1; i < len(words); i++ {
			w := words[i]
			switch {
			case cluster(w) || (len(w) > 1 && w[0] == '+'):
				c = c || (w[0] == '-' && strings.ContainsRune(w, 'c'))
				if w == "-o" || w == "+o" || w == "-O" || w == "+O" {
					i++ // the option's name: -o pipefail
				}
			case c:
				return i, "shell"
			default:
				return -1, "" // a script file, not -c
			}
		}
	case strings.HasPrefix(prog, "python"):
		if i := slices.Index(words, "-c"); i > 0 && i+1 < len(words) {
			return i + 1, "Python"
		}
	case slices.Contains([]string{"perl", "ruby", "node", "nodejs"}, prog):
		for i := 1; i+1 < len(words); i++ {
			if w := words[i]; cluster(w) && strings.ContainsAny(w[len(w)-1:], "eE") || w == "--eval" {
				return i + 1, prog
			}
		}
	}
	return -1, ""
}

// suggestArg explains a placeholder that names no argument, in element s.
func suggestArg(name string, args []Arg, s string) string {
	if strings.Contains(s, "${"+name+"}") {
		return "for a shell variable write $" + name + " or ${{" + name + "}}"
	}
	if len(args) == 0 {
		return "the function takes no arguments; write {{" + name + "}} for the text {" + name + "}"
	}
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.Name
	}
	literal := "write {{" + name + "}} for the text {" + name + "}"
	if c := suggest.Closest(name, names); c != "" {
		return "did you mean {" + c + "}? or " + literal
	}
	return "placeholders name arguments of args_list: " + strings.Join(names, ", ") + "; " + literal
}
