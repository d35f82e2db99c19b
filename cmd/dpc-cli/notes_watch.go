package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/notes"
	"github.com/nats-io/nats.go"
)

// NotesWatchCmd prints each change of the notes as it happens, from the
// events the hub publishes (hub/notes_watch.go).
type NotesWatchCmd struct {
	Name string `arg:"" optional:"" help:"Only this note (default: every note)."`
}

// Help is the long help of "dpc-cli notes watch --help".
func (NotesWatchCmd) Help() string {
	return `Prints one line per change of a note, as it happens, until Ctrl-C: the time it was saved, the note, its revision and "saved", or "deleted". With --json, one JSON object per line (name, revision, deleted, size, time, hub; caught_up when it was learnt after a reconnection).

When the connection to the hub comes back after a loss (the hub restarted), the changes made meanwhile are printed too, from the notes' list: a note saved several times meanwhile shows once, with its latest revision.

Examples:
  dpc-cli notes watch
  dpc-cli notes watch "Shopping list"
  dpc-cli --json notes watch`
}

// noteChange is one line of notes watch --json.
type noteChange struct {
	notes.Event
	// CaughtUp: learnt by comparing revisions after a reconnection, not
	// from an event (Time is then when it was learnt if unknown).
	CaughtUp bool `json:"caught_up,omitempty"`
}

// noteSeen is what the watcher last printed, or knew at its start, of a
// note.
type noteSeen struct {
	revision uint64
	deleted  bool
}

// noteWatcher is the state of one notes watch.
type noteWatcher struct {
	n      *notesClient
	name   string // "": every note
	out    io.Writer
	asJSON bool
	seen   map[string]noteSeen
	// failing: the last comparison with the hub failed (said once).
	failing bool
}

// maxSeen bounds what the watcher remembers: the hub keeps at most
// notes.DefaultMaxNotes notes, and deleted ones are remembered too.
const maxSeen = 2 * notes.DefaultMaxNotes

// watchEvents is how many change events wait for the watcher at most;
// beyond, the NATS client drops them (a slow consumer) and the watcher
// catches up from the notes' list.
const watchEvents = 1024

// catchUpRetry is how long the watcher waits to compare revisions again
// when the hub did not answer yet (just restarted).
const catchUpRetry = time.Second

func (c *NotesWatchCmd) Run(ctx context.Context, g *Globals, s streams) error {
	if c.Name != "" {
		if err := notes.ValidateName(c.Name); err != nil {
			return usageErrorf("%v", err)
		}
	}
	cl, err := g.connect(connectOptions{persistent: true, notices: s.err})
	if err != nil {
		return err
	}
	defer cl.Close()
	w := &noteWatcher{n: &notesClient{cl: cl, fns: map[string]catalog.FunctionInfo{}}, name: c.Name, out: s.out, asJSON: g.JSON, seen: map[string]noteSeen{}}

	// A lost connection or dropped events: compare revisions with the
	// hub's once it answers. The connection's own handlers (notices,
	// refusals) still run first.
	resync := make(chan struct{}, 1)
	wake := func() {
		select {
		case resync <- struct{}{}:
		default:
		}
	}
	prevReconnect, prevErr := cl.nc.Opts.ReconnectedCB, cl.nc.Opts.AsyncErrorCB
	cl.nc.SetReconnectHandler(func(nc *nats.Conn) {
		if prevReconnect != nil {
			prevReconnect(nc)
		}
		wake()
	})
	cl.nc.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if prevErr != nil {
			prevErr(nc, sub, err)
		}
		if errors.Is(err, nats.ErrSlowConsumer) {
			wake()
		}
	})

	// Subscribed before the first look at the revisions: a change made
	// between the two is an event, or is in what the look finds.
	subject := notes.EventSubjectAll
	if c.Name != "" {
		subject = notes.EventSubject(c.Name)
	}
	msgs := make(chan *nats.Msg, watchEvents)
	sub, err := cl.nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return fmt.Errorf("notes watch: subscribe to %s: %w", subject, err)
	}
	defer sub.Unsubscribe()
	fctx, cancel := context.WithTimeout(ctx, g.Timeout)
	err = cl.nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return c.stopped(unavailableErrorf(err, "notes watch: the hub at %s did not confirm the subscription: %v", cl.url, err))
	}
	// The server's refusal of the subscription came before the flush's
	// answer, and the connection has noted it by now (the error handler
	// runs later, on its own goroutine).
	if err := cl.nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
		return &cliError{code: exitDenied, err: err, msg: fmt.Sprintf("notes watch: the hub refused it: only the owner and devices may watch the notes (this machine is %s)", cl.identity())}
	}
	if _, err := w.revisions(ctx, true); err != nil {
		return c.stopped(err)
	}
	if !g.JSON { // stderr is for JSON errors then
		what := "the notes"
		if c.Name != "" {
			what = fmt.Sprintf("note %q", c.Name)
		}
		fmt.Fprintf(s.err, "Watching %s for changes; Ctrl-C to stop.\n", what)
	}

	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C: the end of a watch
		case m := <-msgs:
			var ev notes.Event
			if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Name == "" || m.Subject != notes.EventSubject(ev.Name) {
				fmt.Fprintf(s.err, "dpc-cli: notes watch: skipping a change event that is not one (%s)\n", m.Subject)
				continue
			}
			if err := w.show(noteChange{Event: ev}); err != nil {
				return err
			}
		case <-resync:
			retry = w.catchUp(ctx, s.err)
		case <-retry:
			retry = w.catchUp(ctx, s.err)
		}
	}
}

// stopped is nil when Ctrl-C ended the watch, else err.
func (c *NotesWatchCmd) stopped(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// catchUp prints what changed since the revisions the watcher knows; if
// the hub does not answer yet, it says so and returns when to try again.
func (w *noteWatcher) catchUp(ctx context.Context, errw io.Writer) <-chan time.Time {
	changes, err := w.revisions(ctx, false)
	if err != nil {
		if ctx.Err() == nil && !w.failing {
			fmt.Fprintf(errw, "dpc-cli: notes watch: cannot compare revisions with the hub yet (%v); trying again every %v\n", err, catchUpRetry)
		}
		w.failing = true
		return time.After(catchUpRetry)
	}
	w.failing = false
	for _, ch := range changes {
		if err := w.show(ch); err != nil {
			fmt.Fprintf(errw, "dpc-cli: notes watch: %v\n", err)
		}
	}
	return nil
}

// revisions asks the hub for the latest revision of every note watched.
// At the start (first) it only records them; later it returns what
// differs from what the watcher knows, as changes to show.
func (w *noteWatcher) revisions(ctx context.Context, first bool) ([]noteChange, error) {
	names := []string{w.name}
	if w.name == "" {
		if err := w.n.call(ctx, "list", &names); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC()
	present := map[string]bool{}
	var changes []noteChange
	for _, name := range names {
		var rev uint64
		if err := w.n.call(ctx, "revision", &rev, name); err != nil {
			if exitCode(err) == exitNotFound {
				continue // deleted since the list, or the one note not made yet
			}
			return nil, err
		}
		present[name] = true
		if first {
			w.seen[name] = noteSeen{revision: rev}
			continue
		}
		if st, ok := w.seen[name]; ok && !st.deleted && st.revision >= rev {
			continue
		}
		ch := noteChange{Event: notes.Event{Name: name, Revision: rev, Time: now}, CaughtUp: true}
		var lines []string
		if err := w.n.call(ctx, "history", &lines, name); err == nil && len(lines) > 0 {
			if info, err := notes.ParseHistoryLine(lines[len(lines)-1]); err == nil && info.Revision == rev {
				ch.Time, ch.Size = info.Modified.UTC(), info.Size
			}
		}
		changes = append(changes, ch)
	}
	for name, st := range w.seen {
		if !present[name] && !st.deleted && !first {
			changes = append(changes, noteChange{Event: notes.Event{Name: name, Deleted: true, Time: now}, CaughtUp: true})
		}
	}
	return changes, nil
}

// show prints a change unless the watcher has shown it (each hub of a
// cluster publishes every change) or knows a later revision.
func (w *noteWatcher) show(ch noteChange) error {
	if w.name != "" && ch.Name != w.name {
		return nil
	}
	st, known := w.seen[ch.Name]
	switch {
	case ch.Deleted && known && st.deleted:
		return nil
	case !ch.Deleted && known && !st.deleted && ch.Revision <= st.revision:
		return nil
	}
	if !known && len(w.seen) >= maxSeen {
		for name := range w.seen { // forget one: at worst a repeat shows
			delete(w.seen, name)
			break
		}
	}
	w.seen[ch.Name] = noteSeen{revision: ch.Revision, deleted: ch.Deleted}
	if w.asJSON {
		data, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.out, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(w.out, changeLine(ch))
	return err
}

// changeLine is a change as notes watch prints it.
func changeLine(ch noteChange) string {
	line := fmt.Sprintf("%s  %q revision %d saved", ch.Time.UTC().Format(time.RFC3339), ch.Name, ch.Revision)
	if ch.Deleted {
		line = fmt.Sprintf("%s  %q deleted", ch.Time.UTC().Format(time.RFC3339), ch.Name)
	}
	if ch.Size > 0 {
		line += fmt.Sprintf(" (%d bytes)", ch.Size)
	}
	if ch.CaughtUp {
		line += " while this watch was disconnected"
	}
	return line
}
