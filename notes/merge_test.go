package notes_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/notes"
)

var testLabels = notes.Labels{Ours: "latest (revision 7)", Theirs: "yours (edited from revision 5)"}

// conflict writes the markers Merge3 puts around a conflict with testLabels.
func conflict(ours, theirs string) string {
	return "<<<<<<< latest (revision 7)\n" + ours + "=======\n" + theirs + ">>>>>>> yours (edited from revision 5)\n"
}

func TestMerge3_Table(t *testing.T) {
	tests := []struct {
		name               string
		base, ours, theirs string
		want               string
		conflicts          int
	}{
		{
			name: "nothing changed",
			base: "a\nb\nc\n", ours: "a\nb\nc\n", theirs: "a\nb\nc\n",
			want: "a\nb\nc\n",
		},
		{
			name: "only ours changed",
			base: "a\nb\nc\n", ours: "a\nB\nc\n", theirs: "a\nb\nc\n",
			want: "a\nB\nc\n",
		},
		{
			name: "only theirs changed",
			base: "a\nb\nc\n", ours: "a\nb\nc\n", theirs: "a\nb\nC\n",
			want: "a\nb\nC\n",
		},
		{
			name: "non-overlapping edits merge cleanly",
			base: "1\n2\n3\n4\n5\n6\n", ours: "ONE\n2\n3\n4\n5\n6\n", theirs: "1\n2\n3\n4\n5\nSIX\n",
			want: "ONE\n2\n3\n4\n5\nSIX\n",
		},
		{
			name: "edits separated by one unchanged line",
			base: "1\n2\n3\n", ours: "ONE\n2\n3\n", theirs: "1\n2\nTHREE\n",
			want: "ONE\n2\nTHREE\n",
		},
		{
			name: "same edit on both sides is not a conflict",
			base: "a\nb\nc\n", ours: "a\nX\nc\n", theirs: "a\nX\nc\n",
			want: "a\nX\nc\n",
		},
		{
			name: "same edit plus a separate one",
			base: "a\nb\nc\nd\ne\n", ours: "a\nX\nc\nd\ne\n", theirs: "a\nX\nc\nd\nE\n",
			want: "a\nX\nc\nd\nE\n",
		},
		{
			name: "overlapping different edits conflict",
			base: "a\nb\nc\n", ours: "a\nours\nc\n", theirs: "a\ntheirs\nc\n",
			want:      "a\n" + conflict("ours\n", "theirs\n") + "c\n",
			conflicts: 1,
		},
		{
			name: "two separate conflicts",
			base: "a\nb\nc\nd\ne\n", ours: "a\nB1\nc\nD1\ne\n", theirs: "a\nB2\nc\nD2\ne\n",
			want:      "a\n" + conflict("B1\n", "B2\n") + "c\n" + conflict("D1\n", "D2\n") + "e\n",
			conflicts: 2,
		},
		{
			name: "conflict keeps only the lines in dispute",
			base: "1\n2\n3\n4\n5\n", ours: "1\n2\nx\n4\n5\n", theirs: "1\n2\ny\n4\n5\n",
			want:      "1\n2\n" + conflict("x\n", "y\n") + "4\n5\n",
			conflicts: 1,
		},
		{
			name: "different appends at the end conflict",
			base: "a\n", ours: "a\nfrom laptop\n", theirs: "a\nfrom phone\n",
			want:      "a\n" + conflict("from laptop\n", "from phone\n"),
			conflicts: 1,
		},
		{
			name: "same append at the end from both sides",
			base: "a\n", ours: "a\nmilk\n", theirs: "a\nmilk\n",
			want: "a\nmilk\n",
		},
		{
			name: "append at the end on one side, edit at the start on the other",
			base: "a\nb\n", ours: "A\nb\n", theirs: "a\nb\nc\n",
			want: "A\nb\nc\n",
		},
		{
			name: "insertion at the start from both sides conflicts",
			base: "z\n", ours: "x\nz\n", theirs: "y\nz\n",
			want:      conflict("x\n", "y\n") + "z\n",
			conflicts: 1,
		},
		{
			name: "deletion on one side",
			base: "a\nb\nc\n", ours: "a\nc\n", theirs: "a\nb\nc\n",
			want: "a\nc\n",
		},
		{
			name: "deletion on one side, edit elsewhere on the other",
			base: "a\nb\nc\nd\n", ours: "a\nc\nd\n", theirs: "a\nb\nc\nD\n",
			want: "a\nc\nD\n",
		},
		{
			name: "same deletion on both sides",
			base: "a\nb\nc\n", ours: "a\nc\n", theirs: "a\nc\n",
			want: "a\nc\n",
		},
		{
			name: "deletion against an edit of the same line conflicts",
			base: "a\nb\nc\n", ours: "a\nc\n", theirs: "a\nB\nc\n",
			want:      "a\n" + conflict("", "B\n") + "c\n",
			conflicts: 1,
		},
		{
			name: "everything deleted on one side",
			base: "a\nb\n", ours: "", theirs: "a\nb\n",
			want: "",
		},
		{
			name: "empty base, one side adds",
			base: "", ours: "", theirs: "new\n",
			want: "new\n",
		},
		{
			name: "empty base, both add the same",
			base: "", ours: "x\ny\n", theirs: "x\ny\n",
			want: "x\ny\n",
		},
		{
			name: "empty base, both add different text",
			base: "", ours: "x\n", theirs: "y\n",
			want:      conflict("x\n", "y\n"),
			conflicts: 1,
		},
		{
			name: "all empty",
			want: "",
		},
		{
			name: "no trailing newline anywhere, edits apart",
			base: "a\nb\nc", ours: "A\nb\nc", theirs: "a\nb\nC",
			want: "A\nb\nC",
		},
		{
			name: "adding the final newline is a change of the last line",
			base: "a\nm\nb", ours: "a\nm\nb\n", theirs: "A\nm\nb",
			want: "A\nm\nb\n",
		},
		{
			name: "edits of adjacent lines conflict (as in diff3 and git)",
			base: "a\nb\n", ours: "A\nb\n", theirs: "a\nB\n",
			want:      conflict("A\nb\n", "a\nB\n"),
			conflicts: 1,
		},
		{
			name: "append after a last line without newline, on one side",
			base: "a", ours: "a", theirs: "a\nb\n",
			want: "a\nb\n",
		},
		{
			name: "conflict on a last line without newline puts markers on their own lines",
			base: "a\nb", ours: "a\nx", theirs: "a\ny",
			want:      "a\n" + conflict("x\n", "y\n"),
			conflicts: 1,
		},
		{
			name: "one side drops the final newline, the other edits elsewhere",
			base: "a\nb\nc\n", ours: "A\nb\nc\n", theirs: "a\nb\nc",
			want: "A\nb\nc",
		},
		{
			name: "CRLF lines are lines too",
			base: "a\r\nb\r\nc\r\n", ours: "A\r\nb\r\nc\r\n", theirs: "a\r\nb\r\nC\r\n",
			want: "A\r\nb\r\nC\r\n",
		},
		{
			name: "repeated lines",
			base: "x\nx\nx\n", ours: "x\nx\nx\nx\n", theirs: "x\nx\n",
			// ours adds an x at the end, theirs removes the last one.
			want:      "x\nx\n" + conflict("x\nx\n", ""),
			conflicts: 1,
		},
		{
			name: "non-UTF-8 bytes are just bytes",
			base: "a\n\xff\n", ours: "a\n\xff\nb\n", theirs: "z\na\n\xff\n",
			want: "z\na\n\xff\nb\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := notes.Merge3([]byte(tt.base), []byte(tt.ours), []byte(tt.theirs), testLabels)
			if string(got) != tt.want || n != tt.conflicts {
				t.Errorf("Merge3(base=%q, ours=%q, theirs=%q)\n got %d conflicts: %q\nwant %d conflicts: %q",
					tt.base, tt.ours, tt.theirs, n, got, tt.conflicts, tt.want)
			}
			if found := notes.FindConflicts(got); len(found) != n {
				t.Errorf("FindConflicts finds %v in %q, Merge3 counted %d", found, got, n)
			}
		})
	}
}

// Without labels the markers are bare.
func TestMerge3_NoLabels(t *testing.T) {
	got, n := notes.Merge3([]byte("a\n"), []byte("b\n"), []byte("c\n"), notes.Labels{})
	want := "<<<<<<<\nb\n=======\nc\n>>>>>>>\n"
	if string(got) != want || n != 1 {
		t.Fatalf("got %d, %q; want 1, %q", n, got, want)
	}
}

// A long note with edits spread over it from both sides merges cleanly, and
// fast enough that the diff's time bound never cuts in.
func TestMerge3_LargeText(t *testing.T) {
	var base strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&base, "line %d of a long note\n", i)
	}
	lines := strings.SplitAfter(base.String(), "\n")
	ours := slicesReplace(lines, map[int]string{10: "ours 10\n", 50_000: "ours 50000\n"})
	theirs := slicesReplace(lines, map[int]string{20: "theirs 20\n", 99_999: "theirs 99999\n"})
	want := slicesReplace(lines, map[int]string{10: "ours 10\n", 50_000: "ours 50000\n", 20: "theirs 20\n", 99_999: "theirs 99999\n"})

	got, n := notes.Merge3([]byte(base.String()), []byte(ours), []byte(theirs), testLabels)
	if n != 0 || string(got) != want {
		t.Fatalf("%d conflicts; merged text equal to the expected: %v", n, string(got) == want)
	}
}

func slicesReplace(lines []string, repl map[int]string) string {
	var b strings.Builder
	for i, l := range lines {
		if r, ok := repl[i]; ok {
			l = r
		}
		b.WriteString(l)
	}
	return b.String()
}

func BenchmarkMerge3_1MiB(b *testing.B) {
	var base bytes.Buffer
	for i := 0; base.Len() < 1<<20; i++ {
		fmt.Fprintf(&base, "line %d of a long note\n", i)
	}
	lines := strings.SplitAfter(base.String(), "\n")
	ours := []byte(slicesReplace(lines, map[int]string{10: "ours\n", 30_000: "ours\n"}))
	theirs := []byte(slicesReplace(lines, map[int]string{20: "theirs\n", 40_000: "theirs\n"}))
	b.SetBytes(int64(base.Len()))
	for b.Loop() {
		notes.Merge3(base.Bytes(), ours, theirs, testLabels)
	}
}

func TestFindConflicts_Table(t *testing.T) {
	tests := []struct {
		name, text string
		want       string
	}{
		{"none", "a\nb\n", "[]"},
		{"one, labelled", "a\n" + conflict("x\n", "y\n") + "c\n", "[lines 2-6]"},
		{"two", conflict("x\n", "y\n") + "m\n" + conflict("", "z\n"), "[lines 1-5 lines 7-10]"},
		{"bare markers", "<<<<<<<\nx\n=======\ny\n>>>>>>>\n", "[lines 1-5]"},
		{"diff3 style with the base", "<<<<<<< ours\nx\n||||||| base\nb\n=======\ny\n>>>>>>> theirs\n", "[lines 1-7]"},
		{"CRLF", "<<<<<<< a\r\nx\r\n=======\r\ny\r\n>>>>>>> b\r\n", "[lines 1-5]"},
		{"no final newline", "<<<<<<<\n=======\n>>>>>>>", "[lines 1-3]"},
		{"unclosed", "<<<<<<< a\nx\n=======\ny\n", "[]"},
		{"no separator", "<<<<<<< a\nx\n>>>>>>> b\n", "[]"},
		{"a reopened region counts from the last opening", "<<<<<<< a\n<<<<<<< b\nx\n=======\n>>>>>>> c\n", "[lines 2-5]"},
		{"longer runs are not markers", "<<<<<<<<\n=======\n>>>>>>>\n", "[]"},
		{"markers inside lines are not markers", "x <<<<<<< a\n=======\n>>>>>>> b\n", "[]"},
		{"separator with text is not one", "<<<<<<< a\n======= x\n>>>>>>> b\n", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(notes.FindConflicts([]byte(tt.text))); got != tt.want {
				t.Errorf("FindConflicts(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

func TestDescribeRegions(t *testing.T) {
	r := func(a, b int) notes.ConflictRegion { return notes.ConflictRegion{Start: a, End: b} }
	for _, tt := range []struct {
		rs   []notes.ConflictRegion
		want string
	}{
		{nil, "no lines"},
		{[]notes.ConflictRegion{r(2, 6)}, "lines 2-6"},
		{[]notes.ConflictRegion{r(2, 6), r(9, 12)}, "lines 2-6 and 9-12"},
		{[]notes.ConflictRegion{r(1, 5), r(9, 12), r(20, 30)}, "lines 1-5, 9-12 and 20-30"},
	} {
		if got := notes.DescribeRegions(tt.rs); got != tt.want {
			t.Errorf("DescribeRegions(%v) = %q, want %q", tt.rs, got, tt.want)
		}
	}
}
