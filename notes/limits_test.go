package notes_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/notes"
)

// Content over MaxNoteSize is refused before anything is written, by Save
// and by Merge, for the device's text and for a merged result.
func TestStore_MaxNoteSize(t *testing.T) {
	s, js := newStore(t, notes.MaxNoteSize(100))
	ctx := ctxT(t)
	wantTooLarge := func(what string, err error, sizes ...string) {
		t.Helper()
		if !errors.Is(err, notes.ErrTooLarge) {
			t.Fatalf("%s: %v, want ErrTooLarge", what, err)
		}
		for _, sz := range sizes {
			if !strings.Contains(err.Error(), sz) {
				t.Errorf("%s: %q does not say %q", what, err, sz)
			}
		}
	}

	wantTooLarge("save of a new note", errOf(s.Save(ctx, "big", bytes.Repeat([]byte("x"), 101), 0)), "101 bytes", "100-byte limit")
	wantTooLarge("merge creating a note", errOf(s.Merge(ctx, "big", bytes.Repeat([]byte("x"), 101), 0)), "101 bytes")
	if _, err := s.Get(ctx, "big", 0); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("a refused note exists: %v", err)
	}
	if c := objectCount(t, js); c != 0 {
		t.Fatalf("%d content objects stored for refused saves", c)
	}

	exactly := strings.Repeat("a\n", 50) // 100 bytes
	save(t, s, "todo", exactly, 0)
	wantTooLarge("save of an existing note", errOf(s.Save(ctx, "todo", []byte(exactly+"b"), 1)), "101 bytes")
	wantTooLarge("merge", errOf(s.Merge(ctx, "todo", []byte(exactly+"b"), 1)), "101 bytes")

	// A 60-byte line added at the start, another at the end: a clean
	// merge of more than 100 bytes.
	save(t, s, "pair", "a\n", 0)
	save(t, s, "pair", strings.Repeat("L", 59)+"\na\n", 1)
	wantTooLarge("merged result", errOf(s.Merge(ctx, "pair", []byte("a\n"+strings.Repeat("P", 59)+"\n"), 1)), "merging into note \"pair\"", "100-byte limit")
	if hist, _ := s.History(ctx, "pair"); len(hist) != 2 {
		t.Fatalf("a refused merge changed the history: %+v", hist)
	}
	if c := objectCount(t, js); c != 3 {
		t.Fatalf("%d content objects, want the 3 saved revisions'", c)
	}
}

// The default limit is DefaultMaxNoteSize.
func TestStore_DefaultMaxNoteSize(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Save(ctxT(t), "big", bigText(notes.DefaultMaxNoteSize+1), 0)
	if !errors.Is(err, notes.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("%d-byte limit", notes.DefaultMaxNoteSize)) {
		t.Fatalf("save of DefaultMaxNoteSize+1 bytes: %v, want ErrTooLarge", err)
	}
}

// Past MaxNotes no note is created, by Save or Merge; existing notes can
// still be saved.
func TestStore_MaxNotes(t *testing.T) {
	s, js := newStore(t, notes.MaxNotes(3))
	ctx := ctxT(t)
	for i := range 3 {
		save(t, s, fmt.Sprint("note ", i), "x\n", 0)
	}
	for what, err := range map[string]error{
		"save":  errOf(s.Save(ctx, "one more", []byte("x\n"), 0)),
		"merge": errOf(s.Merge(ctx, "one more", []byte("x\n"), 0)),
	} {
		if !errors.Is(err, notes.ErrTooMany) || !strings.Contains(err.Error(), "the limit is 3") {
			t.Errorf("%s of a fourth note: %v, want ErrTooMany", what, err)
		}
	}
	if c := objectCount(t, js); c != 3 {
		t.Fatalf("%d content objects, want 3", c)
	}
	if rev := save(t, s, "note 0", "y\n", 1); rev != 2 {
		t.Fatalf("save to an existing note: revision %d", rev)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// Entries of the KV bucket that are not a note's metadata under its key
// are skipped by List (and logged at Debug), not an error for everyone.
func TestStore_ListSkipsJunkEntries(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, js := newStore(t, notes.Logger(log))
	ctx := ctxT(t)
	save(t, s, "todo", "milk\n", 0)
	save(t, s, "Shopping list", "bread\n", 0)

	kv, err := js.KeyValue(ctx, notes.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(name string) []byte {
		return fmt.Appendf(nil, `{"name":%q,"revisions":[{"revision":1,"object":"x","size":1,"modified":"2025-01-01T00:00:00Z"}]}`, name)
	}
	junk := map[string][]byte{
		"junk":        []byte("not json"),
		"nothing":     nil,
		"norevisions": []byte(`{"name":"norevisions","revisions":[]}`),
		"array":       []byte(`[1,2,3]`),
		"=2E=2E":      rec(".."),            // not a valid note name
		"elsewhere":   rec("todo"),          // a note's metadata under another key
		"a.b":         rec("a.b"),           // "a.b" belongs under a=2Eb
		"badname":     rec("bad/name"),      // invalid name, whatever the key
		"Shopping":    rec("Shopping list"), // a prefix of the real key
	}
	for k, v := range junk {
		if _, err := kv.Put(ctx, k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatalf("List with junk in the bucket: %v", err)
	}
	var got []string
	for _, i := range list {
		got = append(got, fmt.Sprintf("%s r%d %dB", i.Name, i.Revision, i.Size))
	}
	if want := "Shopping list r1 6B|todo r1 5B"; strings.Join(got, "|") != want {
		t.Fatalf("List = %v, want %s", got, want)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf(`"skipped":%d`, len(junk))) {
		t.Errorf("the log does not count %d skipped entries:\n%s", len(junk), logs.String())
	}
	for k := range junk {
		if !strings.Contains(logs.String(), `"key":"`+k+`"`) {
			t.Errorf("the log does not name the skipped key %s", k)
		}
	}

	// The notes themselves still work, and the junk is not mistaken for a
	// note.
	if n := get(t, s, "todo", 0); string(n.Content) != "milk\n" {
		t.Fatalf("todo = %+v", n)
	}
	if _, err := s.Get(ctx, "junk", 0); err == nil {
		t.Fatal("Get of a junk key succeeded")
	}
}
