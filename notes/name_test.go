package notes_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/notes"
)

func TestValidateName_Table(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		why  string // part of the error message
	}{
		{"todo", true, ""},
		{"k_notes_file.txt", true, ""},
		{"Shopping list", true, ""},
		{"2026-11-22 meeting", true, ""},
		{"Einkaufsliste für Oma", true, ""},
		{"日記", true, ""},
		{"a", true, ""},
		{strings.Repeat("n", notes.MaxNameLen), true, ""},
		{"", false, "needs a name"},
		{strings.Repeat("n", notes.MaxNameLen+1), false, "longer than"},
		{"../etc/passwd", false, "start with a letter or a digit"},
		{"..", false, "start with a letter or a digit"},
		{".hidden", false, "start with a letter or a digit"},
		{" padded", false, "start with a letter or a digit"},
		{"a/b", false, `'/' is not allowed`},
		{`a\b`, false, `'\\' is not allowed`},
		{"a..b/c", false, `'/' is not allowed`},
		{"tab\there", false, `'\t' is not allowed`},
		{"new\nline", false, `'\n' is not allowed`},
		{"nul\x00", false, `'\x00' is not allowed`},
		{"star*", false, `'*' is not allowed`},
		{"x>y", false, `'>' is not allowed`},
		{"trailing ", false, "must not end with"},
		{"trailing.", false, "must not end with"},
		{"bad\xffutf8", false, "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := notes.ValidateName(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want ok", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, notes.ErrInvalidName) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName saying %q", tt.name, err, tt.why)
		}
	}
}
