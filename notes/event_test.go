package notes

import (
	"errors"
	"testing"
)

// A note's subject token is one NATS subject token, and names the note
// back; tokens the hub never makes are refused.
func TestSubjectToken_RoundTrip(t *testing.T) {
	for name, token := range map[string]string{
		"todo":             "todo",
		"Shopping list":    "Shopping=20list",
		"k_notes_file.txt": "k_notes_file=2Etxt",
		"é-1":              "=C3=A9-1",
		"a=b":              "a=3Db",
	} {
		if got := SubjectToken(name); got != token {
			t.Errorf("SubjectToken(%q) = %q, want %q", name, got, token)
		}
		if got, err := NameOfToken(token); err != nil || got != name {
			t.Errorf("NameOfToken(%q) = %q, %v; want %q", token, got, err, name)
		}
		if got := EventSubject(name); got != EventSubjectPrefix+"."+token {
			t.Errorf("EventSubject(%q) = %q", name, got)
		}
	}
	for _, bad := range []string{"a.b", "a=4", "a=4g", "=41", "a=2e", "a b", "a>"} {
		if name, err := NameOfToken(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("NameOfToken(%q) = %q, %v; want ErrInvalidName", bad, name, err)
		}
	}
}
