package notes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/notes"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func jsFor(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// newStore opens a Store on a fresh embedded server.
func newStore(t testing.TB, opts ...notes.Option) (*notes.Store, jetstream.JetStream) {
	t.Helper()
	srv := brokertest.Start(t)
	js := jsFor(t, brokertest.Connect(t, srv))
	s, err := notes.Open(ctxT(t), js, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

func save(t testing.TB, s *notes.Store, name, content string, base uint64) uint64 {
	t.Helper()
	rev, err := s.Save(ctxT(t), name, []byte(content), base)
	if err != nil {
		t.Fatalf("Save(%q, base %d): %v", name, base, err)
	}
	return rev
}

func get(t testing.TB, s *notes.Store, name string, rev uint64) notes.Note {
	t.Helper()
	n, err := s.Get(ctxT(t), name, rev)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", name, rev, err)
	}
	return n
}

func revisions(infos []notes.NoteInfo) []uint64 {
	var revs []uint64
	for _, i := range infos {
		revs = append(revs, i.Revision)
	}
	return revs
}

// objectCount counts the content objects in the default object store.
func objectCount(t testing.TB, js jetstream.JetStream) int {
	t.Helper()
	obj, err := js.ObjectStore(ctxT(t), notes.DefaultBucket+"_CONTENT")
	if err != nil {
		t.Fatal(err)
	}
	list, err := obj.List(ctxT(t))
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestStore_SaveGetListHistory(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)

	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %v, %v", list, err)
	}

	before := time.Now()
	if rev := save(t, s, "todo", "milk\n", 0); rev != 1 {
		t.Fatalf("first revision = %d, want 1", rev)
	}
	if rev := save(t, s, "todo", "milk\neggs\n", 1); rev != 2 {
		t.Fatalf("second revision = %d, want 2", rev)
	}
	save(t, s, "Shopping list.txt", "bread\n", 0)
	save(t, s, "empty", "", 0)

	n := get(t, s, "todo", 0)
	if n.Name != "todo" || n.Revision != 2 || string(n.Content) != "milk\neggs\n" {
		t.Fatalf("latest = %+v", n)
	}
	if n.Modified.Before(before.Add(-time.Minute)) || n.Modified.After(time.Now().Add(time.Minute)) {
		t.Errorf("Modified = %v, not about now", n.Modified)
	}
	if n := get(t, s, "todo", 1); n.Revision != 1 || string(n.Content) != "milk\n" {
		t.Fatalf("revision 1 = %+v", n)
	}
	if n := get(t, s, "Shopping list.txt", 0); string(n.Content) != "bread\n" {
		t.Fatalf("Shopping list.txt = %+v", n)
	}
	if n := get(t, s, "empty", 0); n.Revision != 1 || len(n.Content) != 0 {
		t.Fatalf("empty = %+v", n)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range list {
		got = append(got, fmt.Sprintf("%s r%d %dB", i.Name, i.Revision, i.Size))
	}
	want := []string{"Shopping list.txt r1 6B", "empty r1 0B", "todo r2 10B"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("List = %v, want %v", got, want)
	}

	hist, err := s.History(ctx, "todo")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(hist)) != "[1 2]" || hist[0].Size != 5 || hist[1].Size != 10 {
		t.Fatalf("History = %+v", hist)
	}
	if hist[1].Modified.Before(hist[0].Modified) {
		t.Errorf("history out of order: %+v", hist)
	}
}

func TestStore_SaveConflicts(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "a\n", 0)
	save(t, s, "todo", "b\n", 1)

	tests := []struct {
		what       string
		base       uint64
		wantLatest uint64
	}{
		{"stale base", 1, 2},
		{"create over an existing note", 0, 2},
		{"base from the future", 7, 2},
	}
	for _, tt := range tests {
		_, err := s.Save(ctx, "todo", []byte("x\n"), tt.base)
		var ce *notes.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, notes.ErrConflict) {
			t.Fatalf("%s: got %v, want a *ConflictError", tt.what, err)
		}
		if ce.Name != "todo" || ce.Base != tt.base || ce.Latest != tt.wantLatest {
			t.Errorf("%s: %+v", tt.what, ce)
		}
	}
	if n := get(t, s, "todo", 0); n.Revision != 2 || string(n.Content) != "b\n" {
		t.Fatalf("a refused save changed the note: %+v", n)
	}

	// A save based on a revision of a note that does not exist.
	if _, err := s.Save(ctx, "nope", []byte("x"), 3); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("save with base 3 of a missing note: %v, want ErrNotFound", err)
	}
}

// Saving the latest revision's text again on top of it makes no new
// revision: Save returns the base. Any other text, even of the same size,
// is a new revision, and a stale base is a conflict as ever.
func TestStore_SaveUnchanged(t *testing.T) {
	s, js := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "milk\n", 0)
	save(t, s, "todo", "eggs\n", 1)

	if rev := save(t, s, "todo", "eggs\n", 2); rev != 2 {
		t.Fatalf("unchanged save = revision %d, want 2 (the base)", rev)
	}
	if hist, _ := s.History(ctx, "todo"); fmt.Sprint(revisions(hist)) != "[1 2]" {
		t.Fatalf("history after an unchanged save = %v", revisions(hist))
	}
	if c := objectCount(t, js); c != 2 {
		t.Fatalf("%d content objects after an unchanged save, want 2", c)
	}
	// Merge on top of the latest is a save: unchanged too.
	if res, err := s.Merge(ctx, "todo", []byte("eggs\n"), 2); err != nil || res.Revision != 2 {
		t.Fatalf("unchanged merge at the latest = %+v, %v", res, err)
	}
	if rev := save(t, s, "todo", "EGGS\n", 2); rev != 3 {
		t.Fatalf("a same-size edit = revision %d, want 3", rev)
	}
	if _, err := s.Save(ctx, "todo", []byte("EGGS\n"), 2); !errors.Is(err, notes.ErrConflict) {
		t.Fatalf("identical text on a stale base: %v, want a conflict", err)
	}
	if rev := save(t, s, "empty", "", 0); rev != 1 {
		t.Fatalf("empty note = revision %d", rev)
	}
	if rev := save(t, s, "empty", "", 1); rev != 1 {
		t.Fatalf("empty note saved again = revision %d, want 1", rev)
	}
}

func TestStore_NotFoundAndInvalid(t *testing.T) {
	s, _ := newStore(t, notes.MaxHistory(2))
	ctx := ctxT(t)
	save(t, s, "todo", "1\n", 0)
	save(t, s, "todo", "2\n", 1)
	save(t, s, "todo", "3\n", 2)

	for _, tt := range []struct {
		what string
		err  error
		msg  string
	}{
		{"get unknown", errOf(s.Get(ctx, "nope", 0)), `no note named "nope"`},
		{"history unknown", errOf(s.History(ctx, "nope")), `no note named "nope"`},
		{"get future revision", errOf(s.Get(ctx, "todo", 9)), "has no revision 9 (the latest is 3)"},
		{"get dropped revision", errOf(s.Get(ctx, "todo", 1)), "revision 1 of note \"todo\" is no longer kept (the oldest kept is 2)"},
		{"merge unknown", errOf(s.Merge(ctx, "nope", []byte("x"), 1)), `no note named "nope"`},
		{"merge from dropped base", errOf(s.Merge(ctx, "todo", []byte("x"), 1)), "no longer kept"},
	} {
		if !errors.Is(tt.err, notes.ErrNotFound) || !strings.Contains(tt.err.Error(), tt.msg) {
			t.Errorf("%s: %v, want ErrNotFound saying %q", tt.what, tt.err, tt.msg)
		}
	}

	for _, bad := range []string{"", "../x", "a/b"} {
		for what, err := range map[string]error{
			"save":    errOf(s.Save(ctx, bad, nil, 0)),
			"get":     errOf(s.Get(ctx, bad, 0)),
			"merge":   errOf(s.Merge(ctx, bad, nil, 0)),
			"history": errOf(s.History(ctx, bad)),
		} {
			if !errors.Is(err, notes.ErrInvalidName) {
				t.Errorf("%s(%q): %v, want ErrInvalidName", what, bad, err)
			}
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestStore_MergeClean(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "milk\neggs\nbread\n", 0)
	save(t, s, "todo", "MILK\neggs\nbread\n", 1) // the laptop's edit, revision 2

	// The phone edited revision 1.
	res, err := s.Merge(ctx, "todo", []byte("milk\neggs\nbread\nbutter\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "MILK\neggs\nbread\nbutter\n"
	if res.Revision != 3 || len(res.Conflicts) != 0 || string(res.Content) != want {
		t.Fatalf("Merge = r%d, %d conflicts, %q", res.Revision, res.Conflicts, res.Content)
	}
	if n := get(t, s, "todo", 0); n.Revision != 3 || string(n.Content) != want {
		t.Fatalf("latest after merge = %+v", n)
	}
}

// Both sides changed the same line: nothing is saved, and the error holds
// the merged text with the conflict marked, for a person to resolve.
func TestStore_MergeConflictSavesNothing(t *testing.T) {
	s, js := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "a\nb\nc\n", 0)
	save(t, s, "todo", "a\nlaptop\nc\n", 1)

	res, err := s.Merge(ctx, "todo", []byte("a\nphone\nc\n"), 1)
	var mc *notes.MergeConflictError
	if !errors.As(err, &mc) || !errors.Is(err, notes.ErrMergeConflict) || errors.Is(err, notes.ErrConflict) {
		t.Fatalf("Merge = %+v, %v; want a *MergeConflictError", res, err)
	}
	want := "a\n<<<<<<< latest (revision 2)\nlaptop\n=======\nphone\n>>>>>>> yours (edited from revision 1)\nc\n"
	if mc.Name != "todo" || mc.Base != 1 || mc.Latest != 2 || string(mc.Content) != want ||
		fmt.Sprint(mc.Conflicts) != "[lines 2-6]" {
		t.Fatalf("conflict = %+v (content %q)", mc, mc.Content)
	}
	for _, s := range []string{`note "todo"`, "from revision 1", "with revision 2", "1 conflict, at lines 2-6", "nothing was saved"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not say %q", err, s)
		}
	}
	if n := get(t, s, "todo", 0); n.Revision != 2 || string(n.Content) != "a\nlaptop\nc\n" {
		t.Fatalf("latest after a conflicting merge = r%d %q", n.Revision, n.Content)
	}
	if c := objectCount(t, js); c != 2 {
		t.Fatalf("%d content objects, want the 2 saved revisions'", c)
	}

	// The person resolves it and saves on top of the revision merged with.
	if rev := save(t, s, "todo", "a\nlaptop\nphone\nc\n", mc.Latest); rev != 3 {
		t.Fatalf("resolution saved as revision %d, want 3", rev)
	}
}

// MergePreview gives the text Merge would, conflicts and all, merged with
// any kept revision, and saves nothing.
func TestStore_MergePreview(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "a\nb\nc\n", 0)
	save(t, s, "todo", "a\nlaptop\nc\n", 1)
	save(t, s, "todo", "a\nlaptop\nc\nd\n", 2)
	phone := []byte("a\nphone\nc\n")

	_, err := s.Merge(ctx, "todo", phone, 1)
	var mc *notes.MergeConflictError
	if !errors.As(err, &mc) {
		t.Fatalf("Merge: %v", err)
	}
	res, err := s.MergePreview(ctx, "todo", phone, 1, 0)
	if err != nil || res.Revision != 3 || string(res.Content) != string(mc.Content) || fmt.Sprint(res.Conflicts) != fmt.Sprint(mc.Conflicts) {
		t.Fatalf("MergePreview with the latest = r%d %v %q, %v; want Merge's %q", res.Revision, res.Conflicts, res.Content, err, mc.Content)
	}
	res, err = s.MergePreview(ctx, "todo", phone, 1, 2)
	want := "a\n<<<<<<< revision 2\nlaptop\n=======\nphone\n>>>>>>> yours (edited from revision 1)\nc\n"
	if err != nil || res.Revision != 2 || string(res.Content) != want || len(res.Conflicts) != 1 {
		t.Fatalf("MergePreview with revision 2 = r%d %v %q, %v", res.Revision, res.Conflicts, res.Content, err)
	}
	if res, err = s.MergePreview(ctx, "todo", []byte("A\nlaptop\nc\n"), 2, 0); err != nil || len(res.Conflicts) != 0 ||
		string(res.Content) != "A\nlaptop\nc\nd\n" {
		t.Fatalf("clean MergePreview = %v %q, %v", res.Conflicts, res.Content, err)
	}
	if res, err = s.MergePreview(ctx, "todo", phone, 3, 3); err != nil || string(res.Content) != string(phone) {
		t.Fatalf("MergePreview onto its own base = %q, %v", res.Content, err)
	}
	if hist, _ := s.History(ctx, "todo"); len(hist) != 3 {
		t.Fatalf("MergePreview saved: %d revisions", len(hist))
	}
	for _, tc := range []struct {
		base, rev uint64
	}{{1, 9}, {9, 0}} {
		if _, err := s.MergePreview(ctx, "todo", phone, tc.base, tc.rev); !errors.Is(err, notes.ErrNotFound) {
			t.Errorf("MergePreview base %d, revision %d: %v, want ErrNotFound", tc.base, tc.rev, err)
		}
	}
	if _, err := s.MergePreview(ctx, "nope", phone, 1, 0); !errors.Is(err, notes.ErrNotFound) {
		t.Errorf("MergePreview of an unknown note: %v", err)
	}
}

func TestStore_MergeAtLatestIsPlainSave(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "a\n", 0)
	res, err := s.Merge(ctx, "todo", []byte("b\n"), 1)
	if err != nil || res.Revision != 2 || len(res.Conflicts) != 0 || string(res.Content) != "b\n" {
		t.Fatalf("Merge = %+v, %v", res, err)
	}
	// And at base 0 of a missing note, a create.
	res, err = s.Merge(ctx, "new", []byte("x\n"), 0)
	if err != nil || res.Revision != 1 || string(get(t, s, "new", 0).Content) != "x\n" {
		t.Fatalf("Merge create = %+v, %v", res, err)
	}
}

// Base 0 on an existing note: both sides created it, merged against
// nothing: a conflict.
func TestStore_MergeBothCreated(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "laptop\n", 0)
	_, err := s.Merge(ctx, "todo", []byte("phone\n"), 0)
	var mc *notes.MergeConflictError
	if !errors.As(err, &mc) {
		t.Fatalf("Merge: %v, want a *MergeConflictError", err)
	}
	want := "<<<<<<< latest (revision 1)\nlaptop\n=======\nphone\n>>>>>>> yours (new)\n"
	if mc.Latest != 1 || string(mc.Content) != want || fmt.Sprint(mc.Conflicts) != "[lines 1-5]" {
		t.Fatalf("conflict = %+v (content %q)", mc, mc.Content)
	}
}

// A merge whose result is the latest revision (the device's edit is
// already in) saves nothing new.
func TestStore_MergeNothingNew(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "a\n", 0)
	save(t, s, "todo", "a\nb\n", 1)
	res, err := s.Merge(ctx, "todo", []byte("a\nb\n"), 1)
	if err != nil || res.Revision != 2 || string(res.Content) != "a\nb\n" {
		t.Fatalf("Merge = %+v, %v", res, err)
	}
	if hist, _ := s.History(ctx, "todo"); len(hist) != 2 {
		t.Fatalf("history grew: %+v", hist)
	}
}

// Of concurrent saves from one base exactly one lands; the others are told
// which revision won, and their content is not left behind.
func TestStore_ConcurrentSavesOneWins(t *testing.T) {
	s, js := newStore(t)
	ctx := ctxT(t)
	save(t, s, "todo", "base\n", 0)

	const n = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		revs  = make([]uint64, n)
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			revs[i], errs[i] = s.Save(ctx, "todo", fmt.Appendf(nil, "device %d\n", i), 1)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i := range n {
		var ce *notes.ConflictError
		switch {
		case errs[i] == nil:
			if winner >= 0 {
				t.Fatalf("devices %d and %d both saved from revision 1", winner, i)
			}
			winner = i
			if revs[i] != 2 {
				t.Errorf("winner got revision %d, want 2", revs[i])
			}
		case errors.As(errs[i], &ce):
			if ce.Base != 1 || ce.Latest != 2 {
				t.Errorf("device %d: %+v", i, ce)
			}
		default:
			t.Fatalf("device %d: %v", i, errs[i])
		}
	}
	if winner < 0 {
		t.Fatal("no save landed")
	}
	if got := get(t, s, "todo", 0); string(got.Content) != fmt.Sprintf("device %d\n", winner) {
		t.Fatalf("latest is %q, but device %d won", got.Content, winner)
	}
	if c := objectCount(t, js); c != 2 {
		t.Errorf("%d content objects for 2 revisions", c)
	}
}

// Concurrent merges of edits to different lines all land, each merged with
// the others.
func TestStore_ConcurrentMergesAllLand(t *testing.T) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	var base strings.Builder
	for i := range 16 {
		fmt.Fprintf(&base, "line %d\n", i)
	}
	save(t, s, "todo", base.String(), 0)

	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			edited := strings.Replace(base.String(), fmt.Sprintf("line %d\n", i*4), fmt.Sprintf("device %d\n", i), 1)
			_, errs[i] = s.Merge(ctx, "todo", []byte(edited), 1)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	got := get(t, s, "todo", 0)
	if got.Revision != n+1 {
		t.Errorf("latest revision %d, want %d", got.Revision, n+1)
	}
	for i := range n {
		if !strings.Contains(string(got.Content), fmt.Sprintf("device %d\n", i)) {
			t.Errorf("device %d's edit is missing:\n%s", i, got.Content)
		}
	}
	if strings.Contains(string(got.Content), "<<<<<<<") {
		t.Errorf("conflict markers in a clean merge:\n%s", got.Content)
	}
}

func TestStore_HistoryBound(t *testing.T) {
	s, js := newStore(t, notes.MaxHistory(3))
	for i := range 6 {
		save(t, s, "todo", fmt.Sprintf("v%d\n", i+1), uint64(i))
	}
	hist, err := s.History(ctxT(t), "todo")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(hist)) != "[4 5 6]" {
		t.Fatalf("History = %v, want [4 5 6]", revisions(hist))
	}
	if n := get(t, s, "todo", 4); string(n.Content) != "v4\n" {
		t.Fatalf("revision 4 = %q", n.Content)
	}
	if _, err := s.Get(ctxT(t), "todo", 3); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("Get revision 3: %v, want ErrNotFound", err)
	}
	if c := objectCount(t, js); c != 3 {
		t.Fatalf("%d content objects kept, want 3 (dropped revisions' content deleted)", c)
	}
}

// The default history is DefaultMaxHistory revisions.
func TestStore_DefaultHistoryBound(t *testing.T) {
	s, _ := newStore(t)
	for i := range notes.DefaultMaxHistory + 2 {
		save(t, s, "todo", fmt.Sprint(i), uint64(i))
	}
	hist, err := s.History(ctxT(t), "todo")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != notes.DefaultMaxHistory || hist[0].Revision != 3 {
		t.Fatalf("%d revisions kept, oldest %d", len(hist), hist[0].Revision)
	}
}

// A note of several MiB, on a server with the default 1 MiB max payload.
func TestStore_BigNote(t *testing.T) {
	srv := brokertest.Start(t)
	nc := brokertest.Connect(t, srv)
	if nc.MaxPayload() != 1<<20 {
		t.Fatalf("max payload %d, want the 1 MiB default", nc.MaxPayload())
	}
	s, err := notes.Open(ctxT(t), jsFor(t, nc))
	if err != nil {
		t.Fatal(err)
	}
	big := bigText(5 << 20)
	save(t, s, "big", string(big), 0)
	got := get(t, s, "big", 1)
	if !bytes.Equal(got.Content, big) {
		t.Fatalf("read back %d bytes, not the %d saved", len(got.Content), len(big))
	}

	// And merging two edits of it.
	edited := bytes.Replace(big, []byte("line 10 "), []byte("LINE 10 "), 1)
	save(t, s, "big", string(edited), 1)
	theirs := append(bytes.Clone(big), "the end\n"...)
	res, err := s.Merge(ctxT(t), "big", theirs, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(edited), "the end\n"...)
	if len(res.Conflicts) != 0 || !bytes.Equal(res.Content, want) || !bytes.Equal(get(t, s, "big", 0).Content, want) {
		t.Fatalf("merge of a big note: %d conflicts, content as expected: %v", res.Conflicts, bytes.Equal(res.Content, want))
	}
}

// bigText is n bytes of distinct numbered lines.
func bigText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of a big note, padded to look like prose.\n", i)
	}
	return b.Bytes()[:n]
}

func TestStore_SurvivesServerRestart(t *testing.T) {
	cfg := brokertest.Config(t.TempDir())
	srv1 := brokertest.StartConfig(t, cfg)
	nc1 := brokertest.Connect(t, srv1)
	s1, err := notes.Open(ctxT(t), jsFor(t, nc1))
	if err != nil {
		t.Fatal(err)
	}
	save(t, s1, "todo", "a\n", 0)
	save(t, s1, "todo", "a\nb\n", 1)
	nc1.Close()
	srv1.Shutdown()

	srv2 := brokertest.StartConfig(t, cfg)
	s2, err := notes.Open(ctxT(t), jsFor(t, brokertest.Connect(t, srv2)))
	if err != nil {
		t.Fatal(err)
	}
	if n := get(t, s2, "todo", 0); n.Revision != 2 || string(n.Content) != "a\nb\n" {
		t.Fatalf("after restart: %+v", n)
	}
	if n := get(t, s2, "todo", 1); string(n.Content) != "a\n" {
		t.Fatalf("revision 1 after restart: %q", n.Content)
	}
	// Revisions go on from where they were.
	if rev := save(t, s2, "todo", "c\n", 2); rev != 3 {
		t.Fatalf("next revision after restart = %d, want 3", rev)
	}
}

// With Replicas(3) in a three-server cluster, notes outlive the server they
// were saved through.
func TestStore_ReplicatedInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server JetStream cluster")
	}
	// JetStream clustering wants every server to have configured routes,
	// so the cluster ports are picked before the servers start.
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	member := func(i int) func(*broker.Config) {
		return func(c *broker.Config) {
			c.Name = fmt.Sprintf("hub-%d", i)
			c.Cluster = &broker.ClusterConfig{Name: "notes-test", Host: "127.0.0.1", Port: ports[i], Routes: routes}
		}
	}
	a := brokertest.Start(t, member(0))
	b := brokertest.Start(t, member(1))
	c := brokertest.Start(t, member(2))
	brokertest.Eventually(t, 30*time.Second, func() bool {
		return a.NumRoutes() >= 2 && b.NumRoutes() >= 2 && c.NumRoutes() >= 2
	}, "the three servers route to each other")

	ncA := brokertest.Connect(t, a)
	var sa *notes.Store
	// JetStream answers once the cluster has elected its meta leader.
	brokertest.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		sa, err = notes.Open(ctx, jsFor(t, ncA), notes.Replicas(3))
		return err == nil
	}, "Open with 3 replicas")
	save(t, sa, "todo", "replicated\n", 0)
	ncA.Close()
	a.Shutdown()

	ncC := brokertest.Connect(t, c)
	var n notes.Note
	brokertest.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		sc, err := notes.Open(ctx, jsFor(t, ncC), notes.Replicas(3))
		if err != nil {
			return false
		}
		n, err = sc.Get(ctx, "todo", 0)
		return err == nil
	}, "the note is readable through hub-c with hub-a gone")
	if string(n.Content) != "replicated\n" {
		t.Fatalf("through hub-c: %+v", n)
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func TestOpen_Options(t *testing.T) {
	srv := brokertest.Start(t)
	js := jsFor(t, brokertest.Connect(t, srv))
	ctx := ctxT(t)
	for _, tt := range []struct {
		opt notes.Option
		msg string
	}{
		{notes.Bucket("bad.name"), "bucket name"},
		{notes.Bucket(""), "bucket name"},
		{notes.Replicas(0), "replicas 0"},
		{notes.Replicas(6), "replicas 6"},
		{notes.MaxHistory(0), "max history 0"},
		{notes.MaxHistory(notes.MaxMaxHistory + 1), "max history"},
		{notes.Logger(nil), "nil logger"},
		{notes.MaxNoteSize(0), "max note size 0"},
		{notes.MaxNotes(0), "max notes 0"},
	} {
		_, err := notes.Open(ctx, js, tt.opt)
		if !errors.Is(err, notes.ErrInvalidOption) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("got %v, want ErrInvalidOption saying %q", err, tt.msg)
		}
	}

	// Two buckets prefixes are two separate stores; opening again finds
	// the notes.
	a, err := notes.Open(ctx, js, notes.Bucket("A"))
	if err != nil {
		t.Fatal(err)
	}
	save(t, a, "todo", "in A\n", 0)
	b, err := notes.Open(ctx, js, notes.Bucket("B"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "todo", 0); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("B sees A's note: %v", err)
	}
	again, err := notes.Open(ctx, js, notes.Bucket("A"), notes.MaxHistory(5))
	if err != nil {
		t.Fatal(err)
	}
	if n := get(t, again, "todo", 0); string(n.Content) != "in A\n" {
		t.Fatalf("reopened: %+v", n)
	}
}

// Names that differ only in characters the key encoding escapes stay
// separate notes.
func TestStore_NamesStaySeparate(t *testing.T) {
	s, _ := newStore(t)
	longest := strings.Repeat("日", notes.MaxNameLen/3) // every byte escaped in the key
	names := []string{"a b", "a_b", "a-b", "a.b", "A b", "a=20b", "für", "f=C3=BCr", longest}
	for _, n := range names {
		if err := notes.ValidateName(n); err != nil {
			continue // "a=20b" is not a valid name; that is fine too
		}
		save(t, s, n, n, 0)
	}
	list, err := s.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		if got := get(t, s, i.Name, 0); string(got.Content) != i.Name {
			t.Errorf("note %q holds %q", i.Name, got.Content)
		}
	}
	if len(list) != 7 {
		t.Errorf("List = %+v, want 7 notes", list)
	}
}
