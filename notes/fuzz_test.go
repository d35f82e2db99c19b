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

		if !hasMarkers(base) && !hasMarkers(ours) && !hasMarkers(theirs) {
			if found := notes.FindConflicts(got); len(found) != n {
				t.Fatalf("Merge3 counted %d conflicts, FindConflicts finds %v in %q", n, found, got)
			}
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

// hasMarkers: text has something that may look like a conflict marker.
func hasMarkers(text []byte) bool {
	return bytes.Contains(text, []byte("<<<<<<<")) || bytes.Contains(text, []byte("=======")) || bytes.Contains(text, []byte(">>>>>>>"))
}

// FuzzFindConflicts: any text, as in a file a person edited; regions are
// in order, within the text, and never overlap.
func FuzzFindConflicts(f *testing.F) {
	f.Add([]byte("a\n<<<<<<< x\nb\n=======\nc\n>>>>>>> y\n"))
	f.Add([]byte("<<<<<<<\r\n=======\r\n>>>>>>>"))
	f.Add([]byte("<<<<<<< a\n<<<<<<< b\n=======\n=======\n>>>>>>>\n>>>>>>>\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		lines := bytes.Count(text, []byte("\n")) + 1
		prev := 0
		for _, r := range notes.FindConflicts(text) {
			if r.Start <= prev || r.End < r.Start+2 || r.End > lines {
				t.Fatalf("region %v after line %d, in a text of %d lines: %q", r, prev, lines, text)
			}
			prev = r.End
		}
	})
}

// FuzzParseHistoryLine: any string, as from a hub; what parses formats
// back to itself.
func FuzzParseHistoryLine(f *testing.F) {
	f.Add("revision 3, 2025-01-31T09:14:07Z, 1204 bytes")
	f.Add("revision 18446744073709551616, 2025-01-31T09:14:07Z, 1 bytes")
	f.Add("revision 1, 2025-01-31T09:14:07+02:00, 0 bytes")
	f.Add("revision 1, 2025-01-31 09:14:07Z, 0 bytes")
	f.Fuzz(func(t *testing.T, line string) {
		info, err := notes.ParseHistoryLine(line)
		if err != nil {
			return
		}
		again, err := notes.ParseHistoryLine(notes.HistoryLine(info))
		if err != nil || again != info {
			t.Fatalf("%q parsed as %+v, formatted as %q, parsed again as %+v, %v", line, info, notes.HistoryLine(info), again, err)
		}
	})
}
