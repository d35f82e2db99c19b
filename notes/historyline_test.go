package notes_test

import (
	"testing"
	"time"

	"github.com/dpc-project/dpc/notes"
)

func TestHistoryLine_RoundTrip(t *testing.T) {
	info := notes.NoteInfo{Revision: 12, Size: 1204, Modified: time.Date(2025, 1, 31, 9, 14, 7, 999, time.FixedZone("CET", 3600))}
	line := notes.HistoryLine(info)
	if line != "revision 12, 2025-01-31T08:14:07Z, 1204 bytes" {
		t.Fatalf("HistoryLine = %q", line)
	}
	got, err := notes.ParseHistoryLine(line)
	want := notes.NoteInfo{Revision: 12, Size: 1204, Modified: time.Date(2025, 1, 31, 8, 14, 7, 0, time.UTC)}
	if err != nil || got != want {
		t.Fatalf("ParseHistoryLine(%q) = %+v, %v; want %+v", line, got, err, want)
	}
	for _, bad := range []string{
		"",
		"revision 1, 2025-01-31 08:14:07Z, 3 bytes", // the old form
		"revision x, 2025-01-31T08:14:07Z, 3 bytes",
		"revision 1, yesterday, 3 bytes",
		"revision 1, 2025-01-31T08:14:07Z, -3 bytes",
		"revision 99999999999999999999, 2025-01-31T08:14:07Z, 3 bytes",
	} {
		if _, err := notes.ParseHistoryLine(bad); err == nil {
			t.Errorf("ParseHistoryLine(%q) accepted it", bad)
		}
	}
}
