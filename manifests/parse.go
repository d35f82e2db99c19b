package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dpc-project/dpc/omq"
	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile file (aliases make a small file describe a
// large tree) from costing much.
const (
	maxProblems = 50     // problems reported before giving up
	maxItems    = 100000 // list items visited, counting repeats through aliases
)

// The fields each level of a manifest may have.
var (
	manifestFields = []string{"name", "version", "description", "functions", "command", "scaling"}
	functionFields = []string{"funct_name", "args_list", "return_type", "app_list", "description", "idempotent", "timeout", "cacheable", "exec"}
	argFields      = []string{"arg_name", "arg_type", "arg_description"}
	cacheFields    = []string{"ttl"}
)

// semverRE is SemVer 2.0, the pattern ADR-32 (and so omq) checks
// versions with.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// DefaultVersion is the version of a manifest that gives none.
const DefaultVersion = "0.0.0"

// Load reads and parses the manifest file at path; see Parse.
func Load(path string) (*Manifest, error) {
	return LoadWith(path, Options{})
}

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	return ParseWith(path, data, opts)
}

// Options add checks to Parse and Load. The zero value adds none.
type Options struct {
	// CheckProgram, if set, is asked about the program (exec[0]) of every
	// function that runs a command. A host that will run the commands
	// checks that they exist there (execfn.CheckProgram); an error it
	// returns is a problem of the manifest at that exec[0], with file and
	// line, reported with the others. Parse alone does not check, since
	// the hub and other hosts read manifests whose programs they never
	// run.
	CheckProgram func(program string) error
}

// Parse parses and validates one manifest. filename is used only in
// messages. The document must hold exactly one service; every field is
// checked (unknown fields, types, names, duplicates, versions, durations),
// and every problem found is reported at once: the error is a *Error, or
// several joined with errors.Join, each naming file, line and field.
//
// On success the manifest is normalised: empty args_list and app_list are
// nil, a missing version is DefaultVersion, descriptions are trimmed of
// white space at both ends.
func Parse(filename string, data []byte) (*Manifest, error) {
	return parse(&parser{file: filename}, data)
}

// ParseWith is Parse with options.
func ParseWith(filename string, data []byte, opts Options) (*Manifest, error) {
	return parse(&parser{file: filename, checkProgram: opts.CheckProgram}, data)
}

func parse(p *parser, data []byte) (m *Manifest, err error) {
	filename := p.file
	defer func() {
		// yaml.v3 is not supposed to panic; if it does on some input, that
		// input is still just a bad file.
		if r := recover(); r != nil {
			m, err = nil, &Error{File: filename, Msg: fmt.Sprintf("cannot read this YAML (parser failure: %v)", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: filename, Msg: "empty manifest: want a mapping with name, version, description and functions"}
		}
		return nil, p.syntaxError(err, data)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.errs = append(p.errs, p.syntaxError(err, data))
	default:
		p.errorf(&next, "", "a second YAML document starts here; a manifest file holds one service, so split it into one file per service")
	}
	m = p.manifest(&doc)
	if len(p.errs) > 0 {
		// In the order of the file; problems without a line last.
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i].(*Error), p.errs[j].(*Error)
			switch {
			case a.Line == 0 || b.Line == 0:
				return b.Line == 0 && a.Line != 0
			case a.Line != b.Line:
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		if len(p.errs) == 1 {
			return nil, p.errs[0]
		}
		return nil, errors.Join(p.errs...)
	}
	return m, nil
}

type parser struct {
	file         string
	checkProgram func(string) error // Options.CheckProgram
	noPositions  bool               // the YAML was written by Validate, not by a person
	errs         []error            // of *Error
	items        int
	stopped      bool
}

// yamlLineRE picks the line out of yaml.v3's messages.
var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

func (p *parser) syntaxError(err error, data []byte) *Error {
	e := &Error{File: p.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	if strings.Contains(e.Msg, "cannot start any token") {
		if line := tabIndentLine(data); line > 0 {
			e.Line = line
			e.Msg += " (a tab: YAML indents with spaces only)"
		}
	}
	e.Msg = "invalid YAML: " + e.Msg
	return e
}

// tabIndentLine finds the first line indented with a tab, the usual cause of
// "found character that cannot start any token".
func tabIndentLine(data []byte) int {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimLeft(line, " "); len(t) > 0 && t[0] == '\t' {
			return i + 1
		}
	}
	return 0
}

// errorf records a problem at node n (its line and column).
func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	if p.stopped {
		return
	}
	e := &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
	if len(p.errs) >= maxProblems {
		p.errs = append(p.errs, &Error{File: p.file, Msg: fmt.Sprintf("stopping after %d problems", maxProblems)})
		p.stopped = true
	}
}

func (p *parser) manifest(doc *yaml.Node) *Manifest {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if r := resolve(root); r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		p.errorf(root, "", "empty manifest: want a mapping with name, version, description and functions")
		return nil
	}
	f := p.mapping(root, "", "a service: a mapping with name, version, description and functions", manifestFields)
	if f == nil {
		return nil
	}
	m := &Manifest{
		Name:        p.name(f, "name", "the service name"),
		Version:     p.str(f.value("version"), "version"),
		Description: p.text(f.value("description"), "description"),
		Command:     p.command(f.value("command")),
		Scaling:     p.scaling(f.value("scaling")),
	}
	if m.Version == "" {
		m.Version = DefaultVersion
	} else if !semverRE.MatchString(m.Version) {
		p.errorf(f.value("version"), "version", "%q is not a SemVer version: write MAJOR.MINOR.PATCH, like 1.0.0", m.Version)
	}
	fnsNode := f.value("functions")
	fns := p.seq(fnsNode, "functions", "a list of functions")
	if r := resolve(fnsNode); r == nil {
		p.missing(f, "functions", "functions", "a service needs at least one function")
	} else if len(fns) == 0 && (isNull(r) || r.Kind == yaml.SequenceNode) {
		p.errorf(fnsNode, "functions", "empty: a service needs at least one function")
	}
	seen := map[string]string{} // function name → where it was first
	for i, n := range fns {
		if p.stopped {
			break
		}
		path := fmt.Sprintf("functions[%d]", i)
		fn, ok := p.function(n, path)
		if !ok {
			continue
		}
		if fn.Name != "" {
			at := p.fieldsOf(n).value("funct_name")
			if first, dup := seen[fn.Name]; dup {
				p.errorf(at, path+".funct_name", "%q is already the name of %s; function names must be unique within a service", fn.Name, first)
			} else {
				seen[fn.Name] = p.where(path, at)
			}
		}
		m.Functions = append(m.Functions, fn)
	}
	return m
}

func (p *parser) function(n *yaml.Node, path string) (Function, bool) {
	f := p.mapping(n, path, "a function: a mapping with funct_name, args_list, return_type, app_list and description", functionFields)
	if f == nil {
		return Function{}, false
	}
	fn := Function{
		Name:        p.name(f, path+".funct_name", "the function name"),
		ReturnType:  p.typ(f, "return_type", path+".return_type", true),
		Description: p.text(f.value("description"), path+".description"),
		Idempotent:  p.boolean(f.value("idempotent"), path+".idempotent"),
		Timeout:     p.durationOr0(f.value("timeout"), path+".timeout"),
		Cacheable:   p.cache(f.value("cacheable"), path+".cacheable"),
	}
	seen := map[string]string{}
	for i, a := range p.seq(f.value("args_list"), path+".args_list", "a list of arguments") {
		if p.stopped {
			break
		}
		apath := fmt.Sprintf("%s.args_list[%d]", path, i)
		arg, ok := p.arg(a, apath)
		if !ok {
			continue
		}
		if arg.Name != "" {
			at := p.fieldsOf(a).value("arg_name")
			if first, dup := seen[arg.Name]; dup {
				p.errorf(at, apath+".arg_name", "%q is already the name of %s; argument names must be unique within a function", arg.Name, first)
			} else {
				seen[arg.Name] = p.where(fmt.Sprintf("args_list[%d]", i), at)
			}
		}
		fn.Args = append(fn.Args, arg)
	}
	apps := map[string]bool{}
	for i, a := range p.seq(f.value("app_list"), path+".app_list", "a list of application names") {
		if p.stopped {
			break
		}
		apath := fmt.Sprintf("%s.app_list[%d]", path, i)
		app := p.str(a, apath)
		switch {
		case app == "":
			p.errorf(a, apath, "empty application name")
		case !omq.ValidName(app):
			p.errorf(a, apath, "%q is not a valid application name: use letters, digits, '-' and '_' only", app)
		case apps[app]:
			p.errorf(a, apath, "%q is listed twice", app)
		default:
			apps[app] = true
			fn.Apps = append(fn.Apps, app)
		}
	}
	fn.Exec = p.exec(f.value("exec"), path+".exec", fn.Args)
	return fn, true
}

func (p *parser) arg(n *yaml.Node, path string) (Arg, bool) {
	f := p.mapping(n, path, "an argument: a mapping with arg_name, arg_type and arg_description", argFields)
	if f == nil {
		return Arg{}, false
	}
	return Arg{
		Name:        p.name(f, path+".arg_name", "the argument name"),
		Type:        p.typ(f, "arg_type", path+".arg_type", false),
		Description: p.text(f.value("arg_description"), path+".arg_description"),
	}, true
}

func (p *parser) cache(n *yaml.Node, path string) *Cache {
	r := resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind == yaml.ScalarNode && r.Tag == "!!bool" && r.Value == "false" {
		return nil // "cacheable: false" says what leaving it out says
	}
	if r.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping with the time a result may be reused, like {ttl: 1m}, got %s", describeNode(r))
		return nil
	}
	f := p.mapping(n, path, "", cacheFields)
	if f == nil {
		return nil
	}
	ttl := f.value("ttl")
	if ttl == nil {
		p.missing(f, "ttl", path+".ttl", "say how long a result may be reused, like ttl: 1m")
		return nil
	}
	if isNull(resolve(ttl)) {
		p.errorf(ttl, path+".ttl", "missing: say how long a result may be reused, like ttl: 1m")
		return nil
	}
	d, ok := p.duration(ttl, path+".ttl")
	if !ok {
		return nil
	}
	if d == 0 {
		p.errorf(ttl, path+".ttl", "must be more than zero (leave cacheable out if results must not be reused)")
		return nil
	}
	return &Cache{TTL: d}
}

// fields is a mapping's values by key, after checking the keys.
type fields struct {
	node     *yaml.Node // the mapping
	values   map[string]*yaml.Node
	misspelt map[string]bool // fields an unknown field was taken to mean
}

// missing reports a required field that is absent, unless an unknown
// field was already reported as its misspelling.
func (p *parser) missing(f *fields, key, path, format string, args ...any) {
	if !f.misspelt[key] {
		p.errorf(f.node, path, "missing: "+format, args...)
	}
}

func (f *fields) value(key string) *yaml.Node {
	if f == nil {
		return nil
	}
	return f.values[key]
}

// fieldsOf reads a mapping's values again, without reporting anything
// (the problems were reported when it was first read).
func (p *parser) fieldsOf(n *yaml.Node) *fields {
	r := resolve(n)
	if r == nil || r.Kind != yaml.MappingNode {
		return nil
	}
	f := &fields{node: n, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(r.Content); i += 2 {
		k := resolve(r.Content[i])
		if _, dup := f.values[k.Value]; !dup {
			f.values[k.Value] = r.Content[i+1]
		}
	}
	return f
}

// mapping checks that n is a mapping whose keys are among known, each
// once, and returns its values by key. want describes the mapping for
// messages ("" if the caller has checked the kind already).
func (p *parser) mapping(n *yaml.Node, path, want string, known []string) *fields {
	r := resolve(n)
	if r == nil || r.Kind != yaml.MappingNode {
		p.errorf(n, path, "want %s, got %s", want, describeNode(r))
		return nil
	}
	f := &fields{node: n, values: map[string]*yaml.Node{}, misspelt: map[string]bool{}}
	lines := map[string]int{}
	for i := 0; i+1 < len(r.Content); i += 2 {
		kn, v := r.Content[i], r.Content[i+1]
		k := resolve(kn)
		if k.Kind != yaml.ScalarNode {
			p.errorf(kn, path, "want a field name, got %s", describeNode(k))
			continue
		}
		key := k.Value
		field := join(path, key)
		if k.Tag == "!!merge" {
			p.errorf(kn, field, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if !contains(known, key) {
			msg, meant := suggestField(key, known)
			p.errorf(kn, field, "unknown field (%s)", msg)
			if meant != "" {
				f.misspelt[meant] = true
			}
			continue
		}
		if line, dup := lines[key]; dup {
			p.errorf(kn, field, "given twice (first at line %d)", line)
			continue
		}
		lines[key] = kn.Line
		f.values[key] = v
	}
	return f
}

// seq returns the items of a list; absent or null is an empty list.
func (p *parser) seq(n *yaml.Node, path, want string) []*yaml.Node {
	r := resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want %s, got %s", want, describeNode(r))
		return nil
	}
	p.items += len(r.Content)
	if p.items > maxItems {
		p.errorf(n, path, "too many list items (more than %d, counting those repeated through aliases)", maxItems)
		p.stopped = true
		return nil
	}
	return r.Content
}

// str returns a scalar's text; absent or null is "". Any scalar is taken
// as written (description: 1.0 is the text "1.0").
func (p *parser) str(n *yaml.Node, path string) string {
	r := resolve(n)
	if r == nil || isNull(r) {
		return ""
	}
	if r.Kind != yaml.ScalarNode {
		p.errorf(n, path, "want a string, got %s", describeNode(r))
		return ""
	}
	return r.Value
}

// text returns a description, trimmed of white space at both ends: a
// folded (>) or literal (|) block ends in a newline that a menu does not
// want.
func (p *parser) text(n *yaml.Node, path string) string {
	return strings.TrimSpace(p.str(n, path))
}

// name returns a required name that can be one NATS subject token.
func (p *parser) name(f *fields, path, what string) string {
	key := path[strings.LastIndexByte(path, '.')+1:]
	n := f.value(key)
	s := p.str(n, path)
	switch {
	case s == "" && (n == nil || isNull(resolve(n))):
		p.missing(f, key, path, "%s is required", what)
	case s == "":
		p.errorf(n, path, "empty: %s is required", what)
	case !omq.ValidName(s):
		p.errorf(n, path, "%q is not a valid name: use letters, digits, '-' and '_' only (names become NATS subject tokens)", s)
	}
	return s
}

func (p *parser) boolean(n *yaml.Node, path string) bool {
	r := resolve(n)
	if r == nil || isNull(r) {
		return false
	}
	if r.Kind != yaml.ScalarNode || r.Tag != "!!bool" {
		p.errorf(n, path, "want true or false, got %s", describeNode(r))
		return false
	}
	var b bool
	if err := r.Decode(&b); err != nil {
		p.errorf(n, path, "want true or false, got %s", describeNode(r))
	}
	return b
}

// duration reads a duration; absent or null is zero. ok is false if a
// problem was reported.
func (p *parser) duration(n *yaml.Node, path string) (d Duration, ok bool) {
	r := resolve(n)
	if r == nil || isNull(r) {
		return 0, true
	}
	if r.Kind != yaml.ScalarNode {
		p.errorf(n, path, "want a duration like \"2s\" or \"500ms\", got %s", describeNode(r))
		return 0, false
	}
	d, err := parseDuration(r.Value)
	if err != nil {
		p.errorf(n, path, "%v", err)
		return 0, false
	}
	return d, true
}

func (p *parser) durationOr0(n *yaml.Node, path string) Duration {
	d, _ := p.duration(n, path)
	return d
}

// typ reads an arg_type (required) or a return_type (may be empty).
func (p *parser) typ(f *fields, key, path string, isReturn bool) Type {
	n := f.value(key)
	s := Type(p.str(n, path))
	switch {
	case s.Valid():
		return s
	case s == "" && isReturn:
		return TypeNone
	case s == "" && n == nil:
		p.missing(f, key, path, "want one of %s", typeList())
	case s == "":
		p.errorf(n, path, "missing: want one of %s", typeList())
	default:
		p.errorf(n, path, "unknown type %q (%s)", string(s), suggestType(string(s), isReturn))
	}
	return s
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// where names an earlier entry for a message: "functions[0] (line 3)", or
// just the path when positions mean nothing (Validate).
func (p *parser) where(path string, n *yaml.Node) string {
	if p.noPositions || n == nil {
		return path
	}
	return fmt.Sprintf("%s (line %d)", path, n.Line)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describeNode says what a node is, for "want X, got Y" messages.
func describeNode(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return "a boolean (" + v + ")"
		case "!!int":
			return "an integer (" + v + ")"
		case "!!float":
			return "a number (" + v + ")"
		}
		return "a string (" + strconv.Quote(v) + ")"
	case yaml.DocumentNode:
		return "a document"
	}
	return "an alias"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
