package notes

import (
	"bytes"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Why this file: no maintained Go module does a three-way line merge (the
// diff3 ports found are unmaintained or not served by the module proxy), so
// the small diff3 walk is here, over the well-kept Myers diff of
// github.com/sergi/go-diff. That diff works on runes, so each distinct line
// is coded as one rune first — the library's own line-mode technique,
// done here for three texts at once.

// Conflict markers, as git and diff3 write them, so that editors that
// highlight merge conflicts recognise them.
const (
	markerOurs   = "<<<<<<<"
	markerSep    = "======="
	markerTheirs = ">>>>>>>"
)

// diffTimeout bounds each of the two line diffs of a merge. Past it the
// diff library returns a coarser diff (whole blocks deleted and inserted):
// still a correct diff, so the merge is still correct, only with bigger
// conflict regions. It keeps one pathological merge from holding the hub.
const diffTimeout = 2 * time.Second

// Labels name the two sides of a conflict in the markers:
// "<<<<<<< Ours" … "=======" … ">>>>>>> Theirs".
type Labels struct {
	Ours   string
	Theirs string
}

// Merge3 merges two descendants of base line by line, the way diff3 and git
// do: a region that only one side changed takes that side's lines; a region
// both sides changed the same way takes that change; a region both sides
// changed differently is a conflict, written as
//
//	<<<<<<< Ours label
//	ours' lines
//	=======
//	theirs' lines
//	>>>>>>> Theirs label
//
// and counted in conflicts. Lines keep their terminators, so a side that only
// adds a newline at the end of the last line has changed that line. Where a
// side's lines in a conflict do not end in a newline, one is added so that
// every marker stands on a line of its own.
//
// Merge3 never fails: the line diffs come from github.com/sergi/go-diff
// (Myers' algorithm), bounded in time; a text with more distinct lines than
// the diff can index is merged as one region.
func Merge3(base, ours, theirs []byte, labels Labels) (merged []byte, conflicts int) {
	merged, regions := merge3(base, ours, theirs, labels)
	return merged, len(regions)
}

// merge3 is Merge3, saying where each conflict is in the merged text.
func merge3(base, ours, theirs []byte, labels Labels) (merged []byte, conflicts []ConflictRegion) {
	o, a, b := splitLines(base), splitLines(ours), splitLines(theirs)

	// Lines common to all three at both ends are stable whatever the
	// diffs say; trimming them first keeps the diffs small.
	pre := 0
	for pre < len(o) && pre < len(a) && pre < len(b) && o[pre] == a[pre] && o[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(o)-pre && suf < len(a)-pre && suf < len(b)-pre &&
		o[len(o)-1-suf] == a[len(a)-1-suf] && o[len(o)-1-suf] == b[len(b)-1-suf] {
		suf++
	}

	out := &mergeWriter{labels: labels}
	out.lines(o[:pre])
	mo, ma, mb := o[pre:len(o)-suf], a[pre:len(a)-suf], b[pre:len(b)-suf]
	if codes, ok := lineCodes(mo, ma, mb); ok {
		mergeLines(out, mo, ma, mb,
			matches(codes[0], codes[1], len(mo)),
			matches(codes[0], codes[2], len(mo)))
	} else {
		out.chunk(mo, ma, mb)
	}
	out.lines(o[len(o)-suf:])
	return out.buf.Bytes(), out.conflicts
}

// mergeLines walks base (o) with the two matchings base→ours (ma) and
// base→theirs (mb) — for each base line, the index of the line it is kept
// as on that side, or -1 — and emits stable runs (every side in step) and
// the unstable chunks between them. This is the diff3 algorithm as Khanna,
// Kuber and Pierce describe it ("A Formal Investigation of Diff3", 2007).
func mergeLines(out *mergeWriter, o, a, b []string, ma, mb []int) {
	io, ia, ib := 0, 0, 0
	for {
		// A stable run: base, ours and theirs all keep the same lines.
		n := 0
		for io+n < len(o) && ma[io+n] == ia+n && mb[io+n] == ib+n {
			n++
		}
		if n > 0 {
			out.lines(o[io : io+n])
			io, ia, ib = io+n, ia+n, ib+n
			continue
		}
		// An unstable chunk up to the next base line both sides kept.
		j := io
		for j < len(o) && (ma[j] < 0 || mb[j] < 0) {
			j++
		}
		if j == len(o) {
			out.chunk(o[io:], a[ia:], b[ib:])
			return
		}
		out.chunk(o[io:j], a[ia:ma[j]], b[ib:mb[j]])
		io, ia, ib = j, ma[j], mb[j]
	}
}

// lineCodes gives every distinct line of the three texts one rune, so that
// go-diff's Myers diff, which works on runes, diffs whole lines. ok is false
// when there are more distinct lines than valid runes.
func lineCodes(texts ...[]string) (codes [][]rune, ok bool) {
	const surrogates = 0xE000 - 0xD800
	ids := make(map[string]rune)
	codes = make([][]rune, len(texts))
	for t, lines := range texts {
		codes[t] = make([]rune, len(lines))
		for i, l := range lines {
			r, seen := ids[l]
			if !seen {
				r = rune(len(ids))
				if r >= 0xD800 {
					r += surrogates // runes are valid only outside the surrogate range
				}
				if r > utf8.MaxRune {
					return nil, false
				}
				ids[l] = r
			}
			codes[t][i] = r
		}
	}
	return codes, true
}

// matches diffs two line-code sequences and returns, for each line of from,
// the index of the line of to it is kept as, or -1 if it is deleted.
func matches(from, to []rune, n int) []int {
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = diffTimeout
	m := make([]int, n)
	i, j := 0, 0
	for _, d := range dmp.DiffMainRunes(from, to, false) {
		k := utf8.RuneCountInString(d.Text)
		switch d.Type {
		case diffmatchpatch.DiffEqual:
			for x := range k {
				m[i+x] = j + x
			}
			i, j = i+k, j+k
		case diffmatchpatch.DiffDelete:
			for x := range k {
				m[i+x] = -1
			}
			i += k
		case diffmatchpatch.DiffInsert:
			j += k
		}
	}
	return m
}

// mergeWriter builds the merged text.
type mergeWriter struct {
	buf       bytes.Buffer
	labels    Labels
	line      int // lines written so far
	conflicts []ConflictRegion
}

func (w *mergeWriter) lines(ls []string) {
	for _, l := range ls {
		w.buf.WriteString(l)
	}
	w.line += len(ls)
}

// chunk resolves one unstable chunk: the base lines o and what ours (a) and
// theirs (b) have in their place.
func (w *mergeWriter) chunk(o, a, b []string) {
	switch {
	case slices.Equal(a, o): // only theirs changed it (or nobody)
		w.lines(b)
	case slices.Equal(b, o), slices.Equal(a, b): // only ours, or both alike
		w.lines(a)
	default:
		w.marker(markerOurs, w.labels.Ours)
		start := w.line
		w.side(a)
		w.marker(markerSep, "")
		w.side(b)
		w.marker(markerTheirs, w.labels.Theirs)
		w.conflicts = append(w.conflicts, ConflictRegion{Start: start, End: w.line})
	}
}

func (w *mergeWriter) marker(m, label string) {
	w.buf.WriteString(m)
	if label != "" {
		w.buf.WriteByte(' ')
		w.buf.WriteString(label)
	}
	w.buf.WriteByte('\n')
	w.line++
}

func (w *mergeWriter) side(ls []string) {
	w.lines(ls)
	if len(ls) > 0 && !bytes.HasSuffix(w.buf.Bytes(), []byte{'\n'}) {
		w.buf.WriteByte('\n')
	}
}

// splitLines splits after every '\n'; a last line without one is a line
// too. Each line keeps its terminator, so joining the lines gives the text
// back byte for byte.
func splitLines(text []byte) []string {
	n := bytes.Count(text, []byte{'\n'})
	if len(text) > 0 && text[len(text)-1] != '\n' {
		n++
	}
	lines := make([]string, 0, n)
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n') + 1
		if i == 0 {
			i = len(text)
		}
		lines = append(lines, string(text[:i]))
		text = text[i:]
	}
	return lines
}
