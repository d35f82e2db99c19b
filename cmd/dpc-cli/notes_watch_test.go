package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/notes"
)

// watcher is a dpc-cli notes watch running in the test process.
type watcher struct {
	out, err   *proctest.Buffer
	interrupts chan struct{}
	code       chan int
}

// startWatch runs dpc-cli with args (after --nats url) until Ctrl-C.
func startWatch(t *testing.T, url string, args ...string) *watcher {
	t.Helper()
	w := &watcher{out: &proctest.Buffer{}, err: &proctest.Buffer{}, interrupts: make(chan struct{}), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		w.code <- run(ctx, append([]string{"--nats", url}, args...),
			streams{in: strings.NewReader(""), out: w.out, err: w.err, interrupts: w.interrupts})
	}()
	t.Cleanup(func() {
		cancel()
		<-w.code
	})
	return w
}

func (w *watcher) String() string {
	state := "running"
	select {
	case c := <-w.code:
		state = fmt.Sprintf("exited %d", c)
		w.code <- c
	default:
	}
	return fmt.Sprintf("%s\nstdout:\n%s\nstderr:\n%s", state, w.out.String(), w.err.String())
}

// wait waits until the watcher's stdout (or stderr) holds s.
func (w *watcher) wait(t *testing.T, s string, stderr bool) {
	t.Helper()
	w.waitN(t, s, 1, stderr)
}

// waitN waits until the watcher's stdout (or stderr) holds s n times.
func (w *watcher) waitN(t *testing.T, s string, n int, stderr bool) {
	t.Helper()
	b := w.out
	if stderr {
		b = w.err
	}
	for end := time.Now().Add(waitLong); strings.Count(b.String(), s) < n; {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %q %d times from notes watch; so far %s", waitLong, s, n, w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two devices: one watches while the owner saves; the watcher prints each
// change as it happens, only the one note when it names one (--json: one
// object a line), still after the hub restarted, and a change made while
// it was disconnected once it is back. Ctrl-C ends it with exit 0.
func TestNotesWatch_OtherDeviceSaves(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	waitCatalog(t, h.url, "hub.save", true)
	u := h.url
	creds := filepath.Join(t.TempDir(), "phone.creds")
	check(t, u, 0, nil, nil, "devices", "add", "phone", "--write-creds", creds)
	asPhone := []string{"--creds", creds, "--tls-ca", filepath.Join(filepath.Dir(creds), "hub-ca.pem")}
	state := statePath(t)
	save := func(name, content string) {
		t.Helper()
		file := writeFile(t, "note.txt", content)
		check(t, u, 0, nil, nil, "notes", "--state", state, "save", file, "--name", name)
	}

	all := startWatch(t, u, append(asPhone, "notes", "watch")...)
	all.wait(t, "Watching the notes for changes; Ctrl-C to stop.", true)

	// The JSON watcher of one note prints nothing before its first
	// change: save it until one shows.
	const shopping = "Shopping list é"
	one := startWatch(t, u, append(asPhone, "--json", "notes", "watch", shopping)...)
	n := 0
	brokertest.Eventually(t, waitLong, func() bool {
		n++
		save(shopping, fmt.Sprintf("apples %d\n", n))
		return strings.Contains(one.out.String(), "\n")
	}, "a change of the note from the --json watcher")

	save("todo", "milk\n")
	all.wait(t, `"todo" revision 1 saved (5 bytes)`, false)
	all.wait(t, fmt.Sprintf(`%q revision %d saved`, shopping, n), false)
	save(shopping, "pears\n")
	want := fmt.Sprintf(`"name":%q,"revision":%d`, shopping, n+1)
	one.wait(t, want, false)
	for _, line := range strings.Split(strings.TrimSpace(one.out.String()), "\n") {
		var ch struct {
			Name     string `json:"name"`
			Revision uint64 `json:"revision"`
			Time     string `json:"time"`
		}
		if err := json.Unmarshal([]byte(line), &ch); err != nil || ch.Name != shopping || ch.Revision == 0 || ch.Time == "" {
			t.Fatalf("notes watch --json line %q: %+v, %v", line, ch, err)
		}
	}

	// The hub restarts: the watchers come back and report later changes.
	port, data := h.port(), h.data
	h.stop()
	all.wait(t, "lost the hub", true)
	h = startHub(t, port, data)
	all.wait(t, "connected to the hub again", true)
	one.wait(t, "connected to the hub again", true)
	waitCatalog(t, h.url, "hub.save", true)
	save("todo", "milk\neggs\n")
	all.wait(t, `"todo" revision 2 saved`, false)
	save(shopping, "plums\n")
	one.wait(t, fmt.Sprintf(`"name":%q,"revision":%d`, shopping, n+2), false)

	// A note saved while the watcher is away — through the same data
	// served on another port, which it does not know — is told when it
	// is back.
	h.stop()
	all.waitN(t, "lost the hub", 2, true)
	other := startHub(t, -1, data)
	waitCatalog(t, other.url, "hub.save", true)
	check(t, other.url, 0, []string{`Saved note "todo" as revision 3.`}, nil,
		"notes", "--state", state, "save", writeFile(t, "todo", "milk\neggs\nflour\n"), "--name", "todo")
	other.stop()
	h = startHub(t, port, data)
	all.waitN(t, "connected to the hub again", 2, true)
	all.wait(t, `"todo" revision 3 saved (16 bytes) while this watch was disconnected`, false)

	if c := strings.Count(all.out.String(), `"todo" revision 1 saved`); c != 1 {
		t.Fatalf("revision 1 of todo shown %d times\n%s", c, all)
	}
	if strings.Contains(one.out.String(), "todo") {
		t.Fatalf("the watcher of %q showed another note\n%s", shopping, one)
	}
	for _, w := range []*watcher{all, one} {
		w.interrupts <- struct{}{}
		if code := <-w.code; code != 0 {
			t.Fatalf("notes watch after Ctrl-C: exit %d\n%s", code, w)
		}
		w.code <- 0 // for the cleanup
	}
}

// A service may not watch the notes: the server refuses the
// subscription, and the watch says so (exit 6).
func TestNotesWatch_ServiceRefused(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	creds := filepath.Join(t.TempDir(), "tst.creds")
	check(t, h.url, 0, nil, nil, "devices", "add", "tst-box", "--role", "service:tst", "--write-creds", creds)
	var stdout, stderr proctest.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	args := []string{"--nats", h.url, "--creds", creds, "--tls-ca", filepath.Join(filepath.Dir(creds), "hub-ca.pem"), "notes", "watch"}
	if code := run(ctx, args, streams{in: strings.NewReader(""), out: &stdout, err: &stderr}); code != exitDenied ||
		!strings.Contains(stderr.String(), "notes watch: the hub refused it: only the owner and devices may watch the notes") {
		t.Fatalf("notes watch as a service: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitDenied, stdout.String(), stderr.String())
	}
}

// A name that cannot be a note's is a usage error.
func TestNotesWatch_BadName(t *testing.T) {
	t.Parallel()
	r := cli(t, "nats://127.0.0.1:1", "notes", "watch", "../x")
	if r.code != exitUsage || !strings.Contains(r.stderr, `invalid name "../x"`) {
		t.Fatalf("notes watch ../x: %s", r)
	}
}

// Each hub of a cluster publishes every change: the watcher shows each
// once, ignores a late event of an older revision, and shows a note made
// again after it was deleted.
func TestNoteWatcher_DropsRepeats(t *testing.T) {
	var out strings.Builder
	w := &noteWatcher{out: &out, seen: map[string]noteSeen{}}
	at := time.Date(2026, 12, 1, 9, 14, 7, 0, time.UTC)
	for _, ev := range []notes.Event{
		{Name: "todo", Revision: 1, Size: 5, Hub: "hub0"},
		{Name: "todo", Revision: 1, Size: 5, Hub: "hub1"},
		{Name: "todo", Revision: 2, Size: 9, Hub: "hub1"},
		{Name: "todo", Revision: 1, Size: 5, Hub: "hub2"},
		{Name: "todo", Deleted: true, Hub: "hub0"},
		{Name: "todo", Deleted: true, Hub: "hub1"},
		{Name: "todo", Revision: 1, Size: 3, Hub: "hub0"},
	} {
		ev.Time = at
		if err := w.show(noteChange{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	want := `2026-12-01T09:14:07Z  "todo" revision 1 saved (5 bytes)
2026-12-01T09:14:07Z  "todo" revision 2 saved (9 bytes)
2026-12-01T09:14:07Z  "todo" deleted
2026-12-01T09:14:07Z  "todo" revision 1 saved (3 bytes)
`
	if out.String() != want {
		t.Fatalf("shown:\n%s\nwant:\n%s", out.String(), want)
	}
}
