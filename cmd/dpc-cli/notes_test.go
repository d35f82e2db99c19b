package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bigNote is a text of several MiB, many lines, so that a merge has lines
// to merge.
func bigNote(lines int) string {
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "line %06d of a long note, padded to make it a few MiB in all .................\n", i)
	}
	return b.String()
}

func replaceLine(text string, i int, with string) string {
	lines := strings.SplitAfter(text, "\n")
	lines[i] = with + "\n"
	return strings.Join(lines, "")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two devices edit one multi-MiB note: the second save of an outdated
// edit is a conflict (exit 5) that points to notes merge; the merge keeps
// both edits, updates the file and the device's revision, so the next
// save goes through.
func TestNotes_SaveGetMergeConflict(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	stateA, stateB := statePath(t), statePath(t)
	a := func(code int, stdout, stderr []string, args ...string) result {
		t.Helper()
		return check(t, u, code, stdout, stderr, append([]string{"notes", "--state", stateA}, args...)...)
	}
	b := func(code int, stdout, stderr []string, args ...string) result {
		t.Helper()
		return check(t, u, code, stdout, stderr, append([]string{"notes", "--state", stateB}, args...)...)
	}

	original := bigNote(40000) // over 3 MiB, beyond a NATS message
	if len(original) < 3<<20 {
		t.Fatalf("note of %d bytes is not multi-MiB", len(original))
	}
	fileA := writeFile(t, "plan.txt", original)
	a(0, []string{`Saved note "plan.txt" as revision 1.`}, nil, "save", fileA)

	// Device B fetches it, edits line 10 and saves.
	fileB := filepath.Join(t.TempDir(), "plan-b.txt")
	b(0, []string{fmt.Sprintf(`Wrote note "plan.txt" revision 1 to %s (%d bytes).`, fileB, len(original))}, nil,
		"get", "plan.txt", "-o", fileB)
	if readFile(t, fileB) != original {
		t.Fatal("get -o wrote other content than was saved")
	}
	editB := replaceLine(original, 10, "B changed line 10")
	os.WriteFile(fileB, []byte(editB), 0o644)
	b(0, []string{`Saved note "plan.txt" as revision 2.`}, nil, "save", fileB, "--name", "plan.txt")

	// Device A, still at revision 1, edits line 40000: its save is refused.
	editA := replaceLine(original, 30000, "A changed line 30000")
	os.WriteFile(fileA, []byte(editA), 0o644)
	a(exitConflict, nil, []string{"dpc-cli: conflict:", "the latest is revision 2", "dpc-cli notes merge " + fileA + " --name plan.txt"},
		"save", fileA)

	// The merge keeps both edits, saves revision 3, and rewrites A's file.
	var mr mergedNote
	decodeJSON(t, a(0, nil, nil, "merge", "--json", fileA), &mr)
	if mr.Revision != 3 || mr.Base != 1 || mr.Name != "plan.txt" || mr.File != fileA {
		t.Fatalf("merge: %+v", mr)
	}
	both := replaceLine(editA, 10, "B changed line 10")
	if readFile(t, fileA) != both {
		t.Fatal("after the merge the file does not hold both edits")
	}
	// A now builds on revision 3: its next save goes through.
	os.WriteFile(fileA, []byte(both+"one more line\n"), 0o644)
	var sn savedNote
	decodeJSON(t, a(0, nil, nil, "--json", "save", fileA), &sn)
	if sn.Revision != 4 || sn.Base != 3 {
		t.Fatalf("save after merge: %+v", sn)
	}

	// B gets the latest to stdout, and any revision by number.
	if r := b(0, nil, nil, "get", "plan.txt"); r.stdout != both+"one more line\n" {
		t.Fatalf("get: %d bytes, not the latest revision", len(r.stdout))
	}
	var gn gotNote
	decodeJSON(t, b(0, nil, nil, "--json", "get", "plan.txt", "--revision", "2"), &gn)
	if gn.Revision != 2 || gn.Content == nil || *gn.Content != editB {
		t.Fatalf("get --revision 2 --json: revision %d", gn.Revision)
	}

	// Looking at an old revision does not change what B's copy is based on.
	var stB noteState
	if err := json.Unmarshal([]byte(readFile(t, stateB)), &stB); err != nil || stB.Revisions["plan.txt"] != 4 {
		t.Fatalf("state of B after get --revision 2: %+v (%v)", stB, err)
	}

	if r := a(0, nil, nil, "list"); r.stdout != "plan.txt\n" {
		t.Fatalf("list:\n%s", r)
	}
	var names []string
	decodeJSON(t, a(0, nil, nil, "--json", "list"), &names)
	if len(names) != 1 {
		t.Fatalf("list --json: %v", names)
	}
	r := a(0, []string{"revision 1,", "revision 4,"}, nil, "history", "plan.txt")
	if n := strings.Count(r.stdout, "\n"); n != 4 {
		t.Fatalf("history: %d lines, want 4:\n%s", n, r.stdout)
	}

	// What the device remembers.
	var st noteState
	if err := json.Unmarshal([]byte(readFile(t, stateA)), &st); err != nil || st.Revisions["plan.txt"] != 4 {
		t.Fatalf("state of A: %+v (%v)", st, err)
	}

	a(exitNotFound, nil, []string{"dpc-cli: ", "nope"}, "get", "nope")
	a(exitUsage, nil, []string{"nonexistent"}, "save", filepath.Join(t.TempDir(), "nonexistent"))
	bin := writeFile(t, "bin", "\xff\xfe")
	a(exitUsage, nil, []string{"is not UTF-8 text"}, "save", bin)
}

// Both devices change the same line: the merge saves nothing, exits 5
// naming the conflicting lines, and leaves the text with conflict markers
// in the file, which cannot be saved until resolved; the resolution saves
// on the revision merged with. With --output the text goes elsewhere and
// the file and the device's state stay as they were.
func TestNotes_MergeWithConflicts(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	stateA, stateB := statePath(t), statePath(t)
	file := writeFile(t, "list", "milk\neggs\nbread\n")
	check(t, sys.url, 0, nil, nil, "notes", "--state", stateA, "save", file)
	fileB := filepath.Join(t.TempDir(), "list")
	check(t, sys.url, 0, nil, nil, "notes", "--state", stateB, "get", "list", "-o", fileB)
	os.WriteFile(fileB, []byte("milk\ntea\nbread\n"), 0o644)
	check(t, sys.url, 0, nil, nil, "notes", "--state", stateB, "save", fileB)

	os.WriteFile(file, []byte("milk\ncoffee\nbread\n"), 0o644)
	check(t, sys.url, exitConflict, nil, []string{"notes merge"}, "notes", "--state", stateA, "save", file)
	check(t, sys.url, exitConflict, nil, []string{
		`dpc-cli: merge conflict: your edit of note "list" (from revision 1) and revision 2 changed the same lines: 1 unresolved conflict, at lines 2-6 of ` + file,
		"nothing was saved", "dpc-cli notes save " + file + " --name list --base 2",
	}, "notes", "--state", stateA, "merge", file, "--name", "list")
	want := "milk\n<<<<<<< latest (revision 2)\ntea\n=======\ncoffee\n>>>>>>> yours (edited from revision 1)\nbread\n"
	if got := readFile(t, file); got != want {
		t.Fatalf("merged file:\n%s\nwant:\n%s", got, want)
	}
	latestIs := func(rev int, text string) {
		t.Helper()
		var gn gotNote
		decodeJSON(t, check(t, sys.url, 0, nil, nil, "--json", "notes", "--state", statePath(t), "get", "list"), &gn)
		if gn.Revision != uint64(rev) || gn.Content == nil || *gn.Content != text {
			t.Fatalf("latest: revision %d, want %d with %q", gn.Revision, rev, text)
		}
	}
	latestIs(2, "milk\ntea\nbread\n")

	// Unresolved, the file is neither saved nor merged again.
	for _, cmd := range []string{"save", "merge"} {
		check(t, sys.url, exitConflict, nil, []string{file + " still has 1 unresolved conflict, at lines 2-6", "--allow-markers"},
			"notes", "--state", stateA, cmd, file)
	}
	latestIs(2, "milk\ntea\nbread\n")

	// Resolved by hand, it saves on top of revision 2, which the device
	// now remembers.
	os.WriteFile(file, []byte("milk\ntea\ncoffee\nbread\n"), 0o644)
	check(t, sys.url, 0, []string{"as revision 3"}, nil, "notes", "--state", stateA, "save", file)

	// B, still at revision 2, changes the same line again; its merge
	// writes the text to --output (here by the binary, in --json mode: the
	// error is a JSON object on stderr).
	os.WriteFile(fileB, []byte("milk\ngreen tea\nbread\n"), 0o644)
	out := filepath.Join(t.TempDir(), "list.merged")
	cmd := exec.Command(cliBinary, append(append([]string{"--nats", sys.url}, auth(sys.url)...),
		"--json", "notes", "--state", stateB, "merge", fileB, "-o", out)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitOf(t, cmd.Run()); code != exitConflict || stdout.Len() != 0 {
		t.Fatalf("merge --json -o: exit %d, stdout %q, stderr %s", code, stdout.String(), stderr.String())
	}
	var d struct {
		Name      string `json:"name"`
		Base      uint64 `json:"base_revision"`
		Revision  uint64 `json:"revision"`
		File      string `json:"file"`
		Conflicts []struct {
			Start int `json:"start_line"`
			End   int `json:"end_line"`
		} `json:"conflicts"`
	}
	e := decodeJSONError(t, result{code: exitConflict, stderr: stderr.String()})
	if err := json.Unmarshal(e.Details, &d); err != nil || e.Exit != exitConflict || e.Code != 409 || !strings.Contains(e.Message, "at lines 2-7 of "+out) ||
		d.Name != "list" || d.Base != 2 || d.Revision != 3 || d.File != out || fmt.Sprint(d.Conflicts) != "[{2 7}]" {
		t.Fatalf("JSON error: %+v, %s (%v)", e, e.Details, err)
	}
	if got := readFile(t, out); !strings.Contains(got, "<<<<<<< latest (revision 3)\ntea\ncoffee\n=======\ngreen tea\n>>>>>>> yours (edited from revision 2)\n") {
		t.Fatalf("--output file:\n%s", got)
	}
	if got := readFile(t, fileB); got != "milk\ngreen tea\nbread\n" {
		t.Fatalf("merge -o changed the file: %q", got)
	}
	var stB noteState
	if err := json.Unmarshal([]byte(readFile(t, stateB)), &stB); err != nil || stB.Revisions["list"] != 2 {
		t.Fatalf("merge -o changed B's state: %+v (%v)", stB, err)
	}
	latestIs(3, "milk\ntea\ncoffee\nbread\n")
}

// What a new user tries, one subtest each: saving a file again unchanged
// makes no revision; history --json is structured; in --json mode every
// command's error is a JSON object on stderr, with the exit code and the
// service's code.
func TestNotes_NewUser(t *testing.T) {
	t.Parallel()
	sys := startSystem(t)
	u := sys.url
	state := statePath(t)

	t.Run("unchanged save", func(t *testing.T) {
		file := writeFile(t, "todo.txt", "milk\n")
		check(t, u, 0, []string{`Saved note "todo.txt" as revision 1.`}, nil, "notes", "--state", state, "save", file)
		check(t, u, 0, []string{`Note "todo.txt" is unchanged: its latest revision, 1, holds the same text; nothing saved.`}, nil,
			"notes", "--state", state, "save", file)
		type saved struct {
			Name      string `json:"name"`
			Revision  uint64 `json:"revision"`
			Base      uint64 `json:"base_revision"`
			Unchanged bool   `json:"unchanged"`
		}
		var sn saved
		decodeJSON(t, check(t, u, 0, nil, nil, "--json", "notes", "--state", state, "save", file), &sn)
		if sn != (saved{Name: "todo.txt", Revision: 1, Base: 1, Unchanged: true}) {
			t.Fatalf("unchanged save --json: %+v", sn)
		}
		os.WriteFile(file, []byte("milk\neggs\n"), 0o644)
		sn = saved{}
		decodeJSON(t, check(t, u, 0, nil, nil, "--json", "notes", "--state", state, "save", file), &sn)
		if sn != (saved{Name: "todo.txt", Revision: 2, Base: 1}) {
			t.Fatalf("save --json: %+v", sn)
		}
		// A merge of it is unchanged too; -o - puts the text on stdout.
		r := check(t, u, 0, nil, []string{`Note "todo.txt" is unchanged: its latest revision, 2`}, "notes", "--state", state, "merge", file, "-o", "-")
		if r.stdout != "milk\neggs\n" {
			t.Fatalf("merge -o -: stdout %q", r.stdout)
		}
	})

	t.Run("history --json", func(t *testing.T) {
		file := writeFile(t, "plan", "milk\n")
		check(t, u, 0, nil, nil, "notes", "--state", state, "save", file)
		os.WriteFile(file, []byte("milk\neggs\n"), 0o644)
		check(t, u, 0, nil, nil, "notes", "--state", state, "save", file)
		var h struct {
			Name      string `json:"name"`
			Revisions []struct {
				Revision uint64 `json:"revision"`
				Modified string `json:"modified"`
				Bytes    int64  `json:"bytes"`
			} `json:"revisions"`
		}
		decodeJSON(t, check(t, u, 0, nil, nil, "--json", "notes", "history", "plan"), &h)
		if h.Name != "plan" || len(h.Revisions) != 2 || h.Revisions[0].Revision != 1 || h.Revisions[0].Bytes != 5 ||
			h.Revisions[1].Revision != 2 || h.Revisions[1].Bytes != 10 {
			t.Fatalf("history --json: %+v", h)
		}
		for _, r := range h.Revisions {
			if _, err := time.Parse(time.RFC3339, r.Modified); err != nil || !strings.HasSuffix(r.Modified, "Z") {
				t.Fatalf("history --json: modified %q is not RFC 3339 in UTC: %v", r.Modified, err)
			}
		}
		check(t, u, 0, []string{"revision 1, ", "Z, 5 bytes\nrevision 2, "}, nil, "notes", "history", "plan")
	})

	t.Run("errors in --json mode", func(t *testing.T) {
		file := writeFile(t, "x", "x\n")
		// The exit codes are exit.go's business; the JSON error carries
		// the one dpc-cli exits with.
		for _, tc := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--json", "notes", "get", "nope"}, 404, `no note named "nope"`},
			{[]string{"notes", "history", "nope", "--json"}, 404, `no note named "nope"`},
			{[]string{"--json", "notes", "--state", state, "save", file, "--name", "../x"}, 400, `invalid name "../x"`},
			{[]string{"--json", "notes", "get"}, 0, "expected \"<name>\""},
			{[]string{"--json", "call", "tst.add", "1"}, 0, "add: missing b"},
			{[]string{"--json", "describe", "nope"}, 0, `"nope"`},
			{[]string{"--json", "--timeout=0s", "apps"}, 0, "--timeout must be positive"},
		} {
			r := cli(t, u, tc.args...)
			e := decodeJSONError(t, r)
			if r.code == 0 || e.Exit != r.code || (tc.code != 0 && e.Code != tc.code) || !strings.Contains(e.Message, tc.msg) || r.stdout != "" {
				t.Errorf("dpc-cli %s: exit %d, error %+v, stdout %q; want code %d, message with %q",
					strings.Join(tc.args, " "), r.code, e, r.stdout, tc.code, tc.msg)
			}
		}
	})
}
