package notes

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// The hub's history function answers with one line per revision, since a
// manifest's result types have lists of strings but no records:
//
//	revision 3, 2025-01-31T09:14:07Z, 1204 bytes
//
// The time is RFC 3339 in UTC, to the second. The line reads well in a
// menu and parses exactly; HistoryLine and ParseHistoryLine are its two
// directions, so the hub and its clients cannot drift apart.

// HistoryLine is the history line of a revision.
func HistoryLine(info NoteInfo) string {
	return fmt.Sprintf("revision %d, %s, %d bytes", info.Revision, info.Modified.UTC().Format(time.RFC3339), info.Size)
}

var historyLine = regexp.MustCompile(`^revision ([0-9]+), ([^,]+), ([0-9]+) bytes$`)

// ParseHistoryLine reads a line that HistoryLine wrote. The NoteInfo has
// no Name: the line does not hold it.
func ParseHistoryLine(line string) (NoteInfo, error) {
	m := historyLine.FindStringSubmatch(line)
	if m == nil {
		return NoteInfo{}, fmt.Errorf("notes: %q is not a history line (revision N, TIME, N bytes)", line)
	}
	rev, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		return NoteInfo{}, fmt.Errorf("notes: history line %q: revision: %w", line, err)
	}
	modified, err := time.Parse(time.RFC3339, m[2])
	if err != nil {
		return NoteInfo{}, fmt.Errorf("notes: history line %q: time: %w", line, err)
	}
	size, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil {
		return NoteInfo{}, fmt.Errorf("notes: history line %q: size: %w", line, err)
	}
	return NoteInfo{Revision: rev, Size: size, Modified: modified.UTC()}, nil
}
