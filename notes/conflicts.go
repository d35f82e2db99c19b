package notes

import (
	"fmt"
	"strings"
)

// ConflictRegion is where one conflict stands in a merged text: the lines,
// counted from 1, of its opening "<<<<<<<" and its closing ">>>>>>>"
// marker.
type ConflictRegion struct {
	Start int `json:"start_line"`
	End   int `json:"end_line"`
}

func (r ConflictRegion) String() string { return fmt.Sprintf("lines %d-%d", r.Start, r.End) }

// DescribeRegions names conflict regions for a person: "lines 2-6" or
// "lines 2-6, 12-15 and 30-34".
func DescribeRegions(rs []ConflictRegion) string {
	switch len(rs) {
	case 0:
		return "no lines"
	case 1:
		return rs[0].String()
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.Start, r.End)
	}
	return "lines " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// FindConflicts finds the conflict markers in text, as Merge3, diff3 and
// git write them: a line starting with "<<<<<<<", later a line "=======",
// later a line starting with ">>>>>>>" (a diff3-style "|||||||" section
// in between is allowed). It is how a client tells that a file still holds
// unresolved conflicts before saving it. Stray marker lines that do not
// form such a sequence are not conflicts.
func FindConflicts(text []byte) []ConflictRegion {
	var (
		out   []ConflictRegion
		start int  // line of the open "<<<<<<<", 0 if none
		sep   bool // "=======" seen since it
	)
	for i, l := range splitLines(text) {
		line := i + 1
		l = strings.TrimRight(l, "\r\n")
		switch {
		case isMarker(l, markerOurs):
			start, sep = line, false // a new opening marker restarts the region
		case start > 0 && !sep && l == markerSep:
			sep = true
		case start > 0 && sep && isMarker(l, markerTheirs):
			out = append(out, ConflictRegion{Start: start, End: line})
			start, sep = 0, false
		}
	}
	return out
}

// isMarker: line is marker alone or followed by a space and a label.
func isMarker(line, marker string) bool {
	rest, ok := strings.CutPrefix(line, marker)
	return ok && (rest == "" || rest[0] == ' ')
}
