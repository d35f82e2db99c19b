package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if mr.Revision != 3 || mr.Base != 1 || mr.Conflicts || mr.Name != "plan.txt" {
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

	a(exitError, nil, []string{"dpc-cli: ", "nope"}, "get", "nope")
	a(exitUsage, nil, []string{"nonexistent"}, "save", filepath.Join(t.TempDir(), "nonexistent"))
	bin := writeFile(t, "bin", "\xff\xfe")
	a(exitUsage, nil, []string{"is not UTF-8 text"}, "save", bin)
}

// Both devices change the same line: the merge saves the text with
// conflict markers and says so.
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
	check(t, sys.url, 0, []string{`saved it as revision 3`, "It has conflicts", "<<<<<<< and >>>>>>>"}, nil,
		"notes", "--state", stateA, "merge", file, "--name", "list")
	got := readFile(t, file)
	for _, want := range []string{"<<<<<<< latest (revision 2)", "tea", "=======", "coffee", ">>>>>>> yours (edited from revision 1)"} {
		if !strings.Contains(got, want) {
			t.Fatalf("merged file lacks %q:\n%s", want, got)
		}
	}
	// Resolved by hand, it saves on top of the merge.
	os.WriteFile(file, []byte("milk\ntea\ncoffee\nbread\n"), 0o644)
	check(t, sys.url, 0, []string{"as revision 4"}, nil, "notes", "--state", stateA, "save", file)
}
