package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
)

// notesService is the service of the hub's built-in notes functions
// (manifests/hub.yml). Their arguments go by position, in the order the
// hub's handlers read them: save(name, content, base_revision) → revision,
// get(name, revision) → content, merge(name, content, base_revision) →
// merged revision (a 409 when it has conflicts: nothing saved),
// merge_preview(name, content, base_revision, revision) → merged text,
// list() → names, history(name) → lines (notes.ParseHistoryLine),
// revision(name) → latest revision.
const notesService = "hub"

// NotesCmd groups the notes commands.
type NotesCmd struct {
	State string `help:"File where this device remembers the revision it last saw of each note (default: $XDG_STATE_HOME/dpc/notes.json, else ~/.local/state/dpc/notes.json)." type:"path" placeholder:"FILE"`

	Save    NotesSaveCmd    `cmd:"" help:"Save a file as a note's next revision, based on the revision this device last saw."`
	Get     NotesGetCmd     `cmd:"" help:"Print a note, or write it to a file, and remember its revision (not when an older revision is only printed)."`
	Merge   NotesMergeCmd   `cmd:"" help:"Merge your edit of a note with what others saved since and save the result; with conflicts, save nothing and leave the text with conflict markers to resolve (exit 5)."`
	List    NotesListCmd    `cmd:"" help:"List the notes."`
	History NotesHistoryCmd `cmd:"" help:"List the kept revisions of a note."`
	Watch   NotesWatchCmd   `cmd:"" help:"Print each change of the notes (or of one note) as it happens, until Ctrl-C."`
}

// notesClient is a connection to the hub's notes functions and this device's
// state file.
type notesClient struct {
	cl    *client
	state *noteState
	fns   map[string]catalog.FunctionInfo
}

func (n *NotesCmd) open(g *Globals) (*notesClient, error) {
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
	return &notesClient{cl: cl, state: st, fns: map[string]catalog.FunctionInfo{}}, nil
}

func (n *notesClient) Close() { n.cl.Close() }

// call calls one of the hub's notes functions, found through the catalog
// (for its manifest: timeout, idempotence), and decodes its result.
func (n *notesClient) call(ctx context.Context, fn string, reply any, args ...any) error {
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
			return &cliError{code: exitNotFound, msg: re.Description, err: err}
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

// checkMarkers refuses text that still has conflict markers, unless the
// person said to keep them: saving it would make the markers everyone's
// latest revision.
func checkMarkers(file, content string, allow bool) error {
	regions := notes.FindConflicts([]byte(content))
	if len(regions) == 0 || allow {
		return nil
	}
	return &cliError{code: exitConflict, msg: fmt.Sprintf(
		"%s still has %s, at %s: resolve them (keep what you want between <<<<<<< and >>>>>>>, remove the marker lines), then run this again; to keep the markers as they are, add --allow-markers",
		file, conflictCount(len(regions)), notes.DescribeRegions(regions))}
}

func conflictCount(n int) string {
	if n == 1 {
		return "1 unresolved conflict"
	}
	return fmt.Sprintf("%d unresolved conflicts", n)
}

// base is the revision an edit was based on: --base if given, else the
// one this device last saw (0, a new note, if none).
func (n *notesClient) base(name string, flag *uint64) uint64 {
	if flag != nil {
		return *flag
	}
	return n.state.Revisions[name]
}

// NotesSaveCmd saves a file as a note.
type NotesSaveCmd struct {
	File         string  `arg:"" type:"existingfile" help:"Text file to save."`
	Name         string  `help:"Note name (default: the file's name)."`
	Base         *uint64 `help:"Revision the file was edited from (default: the revision this device last saw of the note; 0 creates it)." placeholder:"REV"`
	AllowMarkers bool    `help:"Save the file even though it has conflict markers (<<<<<<< … >>>>>>>) left by a merge."`
}

type savedNote struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	Base     uint64 `json:"base_revision"`
	// Unchanged: the file holds the latest revision's text; no new
	// revision was made.
	Unchanged bool `json:"unchanged"`
}

func (c *NotesSaveCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	// A large file is checked and sent without reading it whole
	// (notes_stream.go).
	var content string
	fi, err := os.Stat(c.File)
	large := err == nil && fi.Size() > streamNoteAbove
	if large {
		err = scanNote(c.File, c.AllowMarkers)
	} else if content, err = readNote(c.File); err == nil {
		err = checkMarkers(c.File, content, c.AllowMarkers)
	}
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
	if large {
		rev, err = n.saveStream(ctx, c.File, name, base)
	} else {
		err = n.call(ctx, "save", &rev, name, content, base)
	}
	if err != nil {
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
	// The hub makes no revision of text identical to the latest: it
	// answers with the base itself.
	unchanged := base != 0 && rev == base
	switch {
	case g.JSON:
		return writeJSON(s.out, savedNote{Name: name, Revision: rev, Base: base, Unchanged: unchanged})
	case unchanged:
		fmt.Fprintf(s.out, "Note %q is unchanged: its latest revision, %d, holds the same text; nothing saved.\n", name, rev)
	default:
		fmt.Fprintf(s.out, "Saved note %q as revision %d.\n", name, rev)
	}
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
	var size int
	if c.Output != "" {
		// Streamed to the file: a large note is never whole here nor in
		// the hub (notes_stream.go).
		written, err := n.writeNoteFile(ctx, c.Name, rev, c.Output)
		if err != nil {
			return err
		}
		size = int(written)
	} else {
		if err := n.call(ctx, "get", &content, c.Name, rev); err != nil {
			return err
		}
		size = len(content)
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
		out := gotNote{Name: c.Name, Revision: rev, File: c.Output, Bytes: size}
		if c.Output == "" {
			out.Content = &content
		}
		return writeJSON(s.out, out)
	case c.Output != "":
		fmt.Fprintf(s.out, "Wrote note %q revision %d to %s (%d bytes).\n", c.Name, rev, c.Output, size)
	default:
		fmt.Fprint(s.out, content)
	}
	return nil
}

// NotesMergeCmd merges an edit with what was saved since.
type NotesMergeCmd struct {
	File         string  `arg:"" type:"existingfile" help:"Your edited text file; it is replaced by the merged text (see --output)."`
	Name         string  `help:"Note name (default: the file's name)."`
	Base         *uint64 `help:"Revision the file was edited from (default: the revision this device last saw of the note)." placeholder:"REV"`
	Output       string  `short:"o" help:"Write the merged text to this file ('-': standard output) instead of replacing FILE; then FILE and the revision this device remembers stay as they are." type:"path" placeholder:"FILE"`
	AllowMarkers bool    `help:"Merge the file even though it has conflict markers (<<<<<<< … >>>>>>>) left by an earlier merge."`
}

type mergedNote struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	Base     uint64 `json:"base_revision"`
	File     string `json:"file"`
}

// mergeConflict is the details of a merge with conflicts, in the --json
// error: where the text to resolve went, and the revision to save it on.
type mergeConflict struct {
	Name string `json:"name"`
	Base uint64 `json:"base_revision"`
	// Revision is the revision merged with: the --base of the resolution.
	Revision  uint64                 `json:"revision"`
	File      string                 `json:"file"`
	Conflicts []notes.ConflictRegion `json:"conflicts"`
}

func (c *NotesMergeCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	content, err := readNote(c.File)
	if err != nil {
		return err
	}
	if err := checkMarkers(c.File, content, c.AllowMarkers); err != nil {
		return err
	}
	if c.Output == "-" && g.JSON {
		return usageErrorf("--output - and --json would both write to standard output")
	}
	name := noteName(c.Name, c.File)
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	base := n.base(name, c.Base)
	// merge answers with the revision it saved; that revision holds the
	// merged text, whatever others save after it. With conflicts it saves
	// nothing and answers 409.
	var rev uint64
	if err := n.call(ctx, "merge", &rev, name, content, base); err != nil {
		if exitCode(err) != exitConflict {
			return err
		}
		return c.conflicts(ctx, s, n, name, content, base, err)
	}
	var merged string
	if err := n.call(ctx, "get", &merged, name, rev); err != nil {
		return err
	}
	out := c.output()
	if err := c.write(s, merged); err != nil {
		return err
	}
	if out == c.File { // the file now holds rev
		if err := n.state.remember(name, rev); err != nil {
			return err
		}
	}
	if g.JSON {
		return writeJSON(s.out, mergedNote{Name: name, Revision: rev, Base: base, File: out})
	}
	say, where := s.out, out+" holds the merged text"
	if out == "-" { // stdout holds the text: the message goes aside
		say, where = s.err, "the merged text is on standard output"
	}
	if rev == base {
		fmt.Fprintf(say, "Note %q is unchanged: its latest revision, %d, holds the same text; nothing saved.\n", name, rev)
		return nil
	}
	fmt.Fprintf(say, "Merged your edit of note %q (from revision %d) and saved it as revision %d; %s.\n", name, base, rev, where)
	return nil
}

// conflicts handles a merge the hub refused with a 409: the edit and the
// latest revision changed the same lines (or others kept saving while it
// merged). As git does, it saves nothing and leaves the merged text with
// conflict markers for the person to resolve, then to save on the
// revision it was merged with.
func (c *NotesMergeCmd) conflicts(ctx context.Context, s streams, n *notesClient, name, content string, base uint64, mergeErr error) error {
	var latest uint64
	if err := n.call(ctx, "revision", &latest, name); err != nil {
		return err
	}
	var merged string
	if err := n.call(ctx, "merge_preview", &merged, name, content, base, latest); err != nil {
		return err
	}
	regions := notes.FindConflicts([]byte(merged))
	if len(regions) == 0 {
		// Not conflicting lines (others kept saving): as the hub said.
		return mergeErr
	}
	out := c.output()
	if err := c.write(s, merged); err != nil {
		return err
	}
	where, file := out, shellQuote(out)
	switch out {
	case c.File:
		// The file now derives from latest: once resolved, a plain save
		// of it builds on latest.
		if err := n.state.remember(name, latest); err != nil {
			return err
		}
	case "-":
		where, file = "the merged text on standard output", "FILE"
	}
	msg := fmt.Sprintf("merge conflict: your edit of note %q (from revision %d) and revision %d changed the same lines: %s, at %s of %s; nothing was saved. "+
		"Resolve them (keep what you want between <<<<<<< and >>>>>>>, remove the marker lines), then run: dpc-cli notes save %s --name %s --base %d",
		name, base, latest, conflictCount(len(regions)), notes.DescribeRegions(regions), where, file, shellQuote(name), latest)
	return &detailedError{
		error:   &cliError{code: exitConflict, msg: msg, err: mergeErr},
		details: mergeConflict{Name: name, Base: base, Revision: latest, File: out, Conflicts: regions},
	}
}

// output is where the merged text goes: FILE, or --output ("-": stdout).
func (c *NotesMergeCmd) output() string {
	if c.Output != "" {
		return c.Output
	}
	return c.File
}

func (c *NotesMergeCmd) write(s streams, text string) error {
	if c.output() == "-" {
		_, err := io.WriteString(s.out, text)
		return err
	}
	return os.WriteFile(c.output(), []byte(text), 0o644)
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

// noteHistory is history's --json output.
type noteHistory struct {
	Name      string         `json:"name"`
	Revisions []noteRevision `json:"revisions"` // oldest first
}

type noteRevision struct {
	Revision uint64    `json:"revision"`
	Modified time.Time `json:"modified"` // RFC 3339, UTC
	Bytes    int64     `json:"bytes"`
}

func (c *NotesHistoryCmd) Run(ctx context.Context, g *Globals, s streams, nc *NotesCmd) error {
	if !g.JSON {
		return notesLines(ctx, g, s, nc, "history", c.Name)
	}
	n, err := nc.open(g)
	if err != nil {
		return err
	}
	defer n.Close()
	var lines []string
	if err := n.call(ctx, "history", &lines, c.Name); err != nil {
		return err
	}
	out := noteHistory{Name: c.Name, Revisions: make([]noteRevision, 0, len(lines))}
	for _, l := range lines {
		info, err := notes.ParseHistoryLine(l)
		if err != nil {
			return fmt.Errorf("%s.history: unexpected result: %w", notesService, err)
		}
		out.Revisions = append(out.Revisions, noteRevision{Revision: info.Revision, Modified: info.Modified, Bytes: info.Size})
	}
	return writeJSON(s.out, out)
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
