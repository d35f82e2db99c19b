package notes_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/notes"
)

// A note saved from a reader reads back intact, over several object
// chunks; the same text again makes no new revision; sizes are checked.
func TestStore_SaveStreamAndOpen(t *testing.T) {
	s, _ := newStore(t, notes.MaxNoteSize(4<<20))
	text := strings.Repeat("a line of a long note\n", 100_000) // 2.2 MB
	rev, err := s.SaveStream(ctxT(t), "big", strings.NewReader(text), int64(len(text)), 0)
	if err != nil || rev != 1 {
		t.Fatalf("SaveStream = %d, %v", rev, err)
	}
	r, info, err := s.Open(ctxT(t), "big", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != text || info.Size != int64(len(text)) || info.Revision != 1 {
		t.Fatalf("Open: %d bytes (want %d), %+v, %v", len(got), len(text), info, err)
	}
	if n := get(t, s, "big", 1); string(n.Content) != text {
		t.Fatal("Get differs from what was streamed")
	}

	// The same text: no new revision.
	if rev, err := s.SaveStream(ctxT(t), "big", strings.NewReader(text), int64(len(text)), 1); err != nil || rev != 1 {
		t.Fatalf("same text again = %d, %v; want 1", rev, err)
	}
	// One byte changed, same size: a new revision.
	edited := "A" + text[1:]
	if rev, err := s.SaveStream(ctxT(t), "big", strings.NewReader(edited), int64(len(edited)), 1); err != nil || rev != 2 {
		t.Fatalf("edited = %d, %v; want 2", rev, err)
	}
	// A stale base is a conflict, as with Save.
	if _, err := s.SaveStream(ctxT(t), "big", strings.NewReader("x"), 1, 1); !errors.Is(err, notes.ErrConflict) {
		t.Fatalf("stale base: %v", err)
	}

	// A whole number of object chunks, a window of them (eight of 128 KiB).
	exact := strings.Repeat("0123456789abcde\n", 1<<20/16)
	if rev, err := s.SaveStream(ctxT(t), "exact", strings.NewReader(exact), int64(len(exact)), 0); err != nil || rev != 1 {
		t.Fatalf("SaveStream of 1 MiB = %d, %v", rev, err)
	}

	// Over the limit: refused before reading.
	if _, err := s.SaveStream(ctxT(t), "huge", failReader{t}, 5<<20, 0); !errors.Is(err, notes.ErrTooLarge) {
		t.Fatalf("5 MiB under a 4 MiB limit: %v", err)
	}
	// Longer or shorter than announced: nothing saved.
	if _, err := s.SaveStream(ctxT(t), "liar", strings.NewReader("abcdef"), 3, 0); err == nil {
		t.Fatal("a longer text than announced was saved")
	}
	if _, err := s.SaveStream(ctxT(t), "liar", bytes.NewReader([]byte("ab")), 3, 0); err == nil {
		t.Fatal("a shorter text than announced was saved")
	}
	if _, _, err := s.Open(ctxT(t), "liar", 0); !errors.Is(err, notes.ErrNotFound) {
		t.Fatalf("a refused save left a note: %v", err)
	}
}

type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("read before the size was checked")
	return 0, io.EOF
}
