package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/omq"
)

// notesService is the service of the hub's built-in notes functions
// (manifests/hub.yml). Their arguments go by position, in the order the
// hub's handlers read them: save(name, content, base_revision) → revision,
// get(name, revision) → content, merge(name, content, base_revision) →
// merged revision, list() → names, history(name) → lines,
// revision(name) → latest revision.
const notesService = "hub"

// NotesCmd groups the notes commands.
type NotesCmd struct {
	State string `help:"File where this device remembers the revision it last saw of each note (default: $XDG_STATE_HOME/dpc/notes.json, else ~/.local/state/dpc/notes.json)." type:"path" placeholder:"FILE"`

	Save    NotesSaveCmd    `cmd:"" help:"Save a file as a note's next revision, based on the revision this device last saw."`
	Get     NotesGetCmd     `cmd:"" help:"Print a note, or write it to a file, and remember its revision (not when an older revision is only printed)."`
	Merge   NotesMergeCmd   `cmd:"" help:"Merge your edit of a note with what others saved since, save the result, and update the file."`
	List    NotesListCmd    `cmd:"" help:"List the notes."`
	History NotesHistoryCmd `cmd:"" help:"List the kept revisions of a note."`
}

// notes is a connection to the hub's notes functions and this device's
// state file.
type notes struct {
	cl    *client
	state *noteState
	fns   map[string]catalog.FunctionInfo
}

func (n *NotesCmd) open(g *Globals) (*notes, error) {
	path := n.State
	if path == "" {
		var err error
		if path, err = defaultStatePath(); err != nil {
			return nil, err
		}
	}
	st, err := loadState(path)
	if err != nil {
		return nil, err
	}
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return nil, err
	}
	return &notes{cl: cl, state: st, fns: map[string]catalog.FunctionInfo{}}, nil
}

func (n *notes) Close() { n.cl.Close() }

// call calls one of the hub's notes functions, found through the catalog
// (for its manifest: timeout, idempotence), and decodes its result.
func (n *notes) call(ctx context.Context, fn string, reply any, args ...any) error {
	fi, ok := n.fns[fn]
	if !ok {
		var err error
		if fi, err = n.cl.describe(ctx, notesService+"."+fn); err != nil {
			return err
		}
		n.fns[fn] = fi
	}
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := n.cl.call(ctx, fi, body)
	if err != nil {
		var re *omq.Error
		if errors.As(err, &re) && re.Code == omq.CodeUnknownFunction {
			// The function is in the catalog, so the 404 is the note's.
			return &cliError{code: exitError, msg: re.Description, err: err}
		}
		return n.cl.failure(fi.Name, err, n.cl.timeoutFor(fi.Function))
	}
	if reply == nil || len(res) == 0 {
		return nil
	}
	if err := json.Unmarshal(res, reply); err != nil {
		return fmt.Errorf("%s: unexpected result: %w", fi.Name, err)
	}
	return nil
}

// readNote reads a file to save: text, since notes are merged line by line.
func readNote(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", usageErrorf("%v", err)
	}
	if !utf8.Valid(data) {
		return "", usageErrorf("%s is not UTF-8 text; notes hold text", path)
	}
	return string(data), nil
}

// base is the revision an edit was based on: --base if given, else the
// one this device last saw (0, a new note, if none).
func (n *notes) base(name string, flag *uint64) uint64 {
	if flag != nil {
		return *flag
	}
	return n.state.Revisions[name]
}

// NotesSaveCmd saves a file as a note.
type NotesSaveCmd struct {
	File string  `arg:"" type:"existingfile" help:"Text file to save."`
	Name string  `help:"Note name (default: the file's name)."`
	Base *uint64 `help:"Revision the file was edited from (default: the revision this device last saw of the note; 0 creates it)." placeholder:"REV"`
}

type savedNote struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	Base     uint64 `json:"base_revision"`
}

func (c *NotesSaveCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	content, err := readNote(c.File)
	if err != nil {
		return err
	}
	name := noteName(c.Name, c.File)
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	base := n.base(name, c.Base)
	var rev uint64
	if err := n.call(ctx, "save", &rev, name, content, base); err != nil {
		if exitCode(err) == exitConflict {
			var re *omq.Error
			errors.As(err, &re)
			return &cliError{code: exitConflict, err: err, msg: fmt.Sprintf(
				"conflict: %s; to merge your edit with the latest revision, run: dpc-cli notes merge %s --name %s",
				re.Description, shellQuote(c.File), shellQuote(name))}
		}
		return err
	}
	if err := n.state.remember(name, rev); err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(s.out, savedNote{Name: name, Revision: rev, Base: base})
	}
	fmt.Fprintf(s.out, "Saved note %q as revision %d.\n", name, rev)
	return nil
}

// NotesGetCmd fetches a note.
type NotesGetCmd struct {
	Name     string `arg:"" help:"Note name."`
	Revision uint64 `help:"Revision to get (default: the latest)." placeholder:"REV"`
	Output   string `short:"o" help:"Write the note to this file instead of printing it." type:"path" placeholder:"FILE"`
}

type gotNote struct {
	Name     string  `json:"name"`
	Revision uint64  `json:"revision"`
	File     string  `json:"file,omitempty"`
	Bytes    int     `json:"bytes"`
	Content  *string `json:"content,omitempty"`
}

func (c *NotesGetCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	rev := c.Revision
	if rev == 0 {
		if err := n.call(ctx, "revision", &rev, c.Name); err != nil {
			return err
		}
	}
	var content string
	if err := n.call(ctx, "get", &content, c.Name, rev); err != nil {
		return err
	}
	if c.Output != "" {
		if err := os.WriteFile(c.Output, []byte(content), 0o644); err != nil {
			return err
		}
	}
	// The device's copy is now based on rev, unless an older revision was
	// only printed to look at.
	if c.Revision == 0 || c.Output != "" {
		if err := n.state.remember(c.Name, rev); err != nil {
			return err
		}
	}
	switch {
	case g.JSON:
		out := gotNote{Name: c.Name, Revision: rev, File: c.Output, Bytes: len(content)}
		if c.Output == "" {
			out.Content = &content
		}
		return writeJSON(s.out, out)
	case c.Output != "":
		fmt.Fprintf(s.out, "Wrote note %q revision %d to %s (%d bytes).\n", c.Name, rev, c.Output, len(content))
	default:
		fmt.Fprint(s.out, content)
	}
	return nil
}

// NotesMergeCmd merges an edit with what was saved since.
type NotesMergeCmd struct {
	File string  `arg:"" type:"existingfile" help:"Your edited text file; it is replaced by the merged text."`
	Name string  `help:"Note name (default: the file's name)."`
	Base *uint64 `help:"Revision the file was edited from (default: the revision this device last saw of the note)." placeholder:"REV"`
}

type mergedNote struct {
	Name      string `json:"name"`
	Revision  uint64 `json:"revision"`
	Base      uint64 `json:"base_revision"`
	File      string `json:"file"`
	Conflicts bool   `json:"conflicts"`
}

// conflictMarker starts the lines notes.Merge3 puts before a conflict.
const conflictMarker = "<<<<<<< "

func (c *NotesMergeCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	content, err := readNote(c.File)
	if err != nil {
		return err
	}
	name := noteName(c.Name, c.File)
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	base := n.base(name, c.Base)
	// merge answers with the revision it saved; that revision holds the
	// merged text, whatever others save after it.
	var rev uint64
	if err := n.call(ctx, "merge", &rev, name, content, base); err != nil {
		return err
	}
	var merged string
	if err := n.call(ctx, "get", &merged, name, rev); err != nil {
		return err
	}
	if err := os.WriteFile(c.File, []byte(merged), 0o644); err != nil {
		return err
	}
	if err := n.state.remember(name, rev); err != nil {
		return err
	}
	conflicts := hasConflicts(merged)
	if g.JSON {
		return writeJSON(s.out, mergedNote{Name: name, Revision: rev, Base: base, File: c.File, Conflicts: conflicts})
	}
	fmt.Fprintf(s.out, "Merged your edit of note %q (from revision %d) and saved it as revision %d; %s holds the merged text.\n", name, base, rev, c.File)
	if conflicts {
		fmt.Fprintf(s.out, "It has conflicts, between lines marked <<<<<<< and >>>>>>>: edit %s to resolve them, then run: dpc-cli notes save %s --name %s\n",
			c.File, shellQuote(c.File), shellQuote(name))
	}
	return nil
}

func hasConflicts(text string) bool {
	return strings.HasPrefix(text, conflictMarker) || strings.Contains(text, "\n"+conflictMarker)
}

// NotesListCmd lists the notes.
type NotesListCmd struct{}

func (c *NotesListCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	return notesLines(ctx, g, s, nc, "list")
}

// NotesHistoryCmd lists a note's revisions.
type NotesHistoryCmd struct {
	Name string `arg:"" help:"Note name."`
}

func (c *NotesHistoryCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	return notesLines(ctx, g, s, nc, "history", c.Name)
}

// notesLines prints a notes function's list of strings, one a line.
func notesLines(ctx context.Context, g *Globals, s streams, nc *NotesCmd, fn string, args ...any) error {
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	lines := []string{}
	if err := n.call(ctx, fn, &lines, args...); err != nil {
		return err
	}
	if g.JSON {
		if lines == nil {
			lines = []string{}
		}
		return writeJSON(s.out, lines)
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err = s.out.Write(b.Bytes())
	return err
}

// noteName is --name, else the file's name.
func noteName(flag, file string) string {
	if flag != "" {
		return flag
	}
	return filepath.Base(file)
}

// shellQuote quotes s for a command line shown to the user, if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
