package notes_test

import (
	"bytes"
	"testing"

	"github.com/dpc-project/dpc/notes"
)

// FuzzMerge3 holds the merge to the properties any three-way merge has:
// it never panics; when one side is the base, the result is the other side
// with no conflicts; when both sides agree, the result is that text.
func FuzzMerge3(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), []byte("a\nB\nc\n"), []byte("a\nb\nC\n"))
	f.Add([]byte(""), []byte("x\n"), []byte("y"))
	f.Add([]byte("x\nx\nx\n"), []byte("x\nx\nx\nx\n"), []byte("x\nx\n"))
	f.Add([]byte("a\r\nb"), []byte("a\nb"), []byte("\n\n\n"))
	f.Add([]byte("<<<<<<<\n=======\n>>>>>>>\n"), []byte("=======\n"), []byte("\xff\xfe\n"))
	f.Fuzz(func(t *testing.T, base, ours, theirs []byte) {
		got, n := notes.Merge3(base, ours, theirs, testLabels)
		if n < 0 {
			t.Fatalf("negative conflict count %d", n)
		}
		if n == 0 && bytes.Contains(got, []byte("<<<<<<< latest (revision 7)\n")) &&
			!bytes.Contains(ours, []byte("<<<<<<< latest")) && !bytes.Contains(theirs, []byte("<<<<<<< latest")) {
			t.Fatalf("no conflicts counted, but markers in %q", got)
		}

		if got, n := notes.Merge3(base, base, theirs, testLabels); n != 0 || !bytes.Equal(got, theirs) {
			t.Fatalf("base == ours: got %d conflicts, %q; want theirs %q", n, got, theirs)
		}
		if got, n := notes.Merge3(base, ours, base, testLabels); n != 0 || !bytes.Equal(got, ours) {
			t.Fatalf("base == theirs: got %d conflicts, %q; want ours %q", n, got, ours)
		}
		if got, n := notes.Merge3(base, ours, ours, testLabels); n != 0 || !bytes.Equal(got, ours) {
			t.Fatalf("ours == theirs: got %d conflicts, %q; want %q", n, got, ours)
		}
	})
}
