package notes

import (
	"fmt"
	"strings"
	"time"
)

// EventSubjectPrefix starts the subject of every notes change event:
// EventSubject(name) is EventSubjectPrefix + "." + SubjectToken(name).
// The hub publishes them (hub/notes_watch.go); devices and the owner may
// subscribe, no other role, and no role but the hub publishes there (the
// owner may do anything).
const EventSubjectPrefix = "dpc.event.notes"

// EventSubjectAll matches the change events of every note: what a
// device's role may subscribe to.
const EventSubjectAll = EventSubjectPrefix + ".>"

// Event is what the hub publishes, as JSON, when a note changes: one per
// change and hub (in a cluster each hub publishes every change, so a
// subscriber drops an event whose (name, revision) it has seen).
type Event struct {
	Name string `json:"name"`
	// Revision is the note's latest revision after the change; 0 for a
	// deleted note (its metadata is gone).
	Revision uint64 `json:"revision"`
	// Deleted: the note is gone (its key deleted or purged by the owner;
	// the notes functions delete nothing).
	Deleted bool `json:"deleted,omitempty"`
	// Size is the latest revision's size in bytes.
	Size int64 `json:"size,omitempty"`
	// Time is when the revision was saved, or the note deleted (UTC).
	Time time.Time `json:"time"`
	// Hub names the hub that published the event. Who saved is not
	// known: a NATS message does not say who sent it, and the save
	// functions take no claim of it that the hub could check.
	Hub string `json:"hub,omitempty"`
}

// EventSubject is the subject of the change events of the note name: a
// client that watches one note subscribes to it.
func EventSubject(name string) string { return EventSubjectPrefix + "." + SubjectToken(name) }

// SubjectToken is name as one subject token, and as the note's key in
// the key-value bucket: every byte outside [-_A-Za-z0-9] written as =XX,
// two upper-case hex digits ("Shopping list" → "Shopping=20list"; UTF-8
// byte by byte: "é" → "=C3=A9"). The mapping is one-to-one, so a
// JavaScript client can compute it from the name's UTF-8 bytes.
func SubjectToken(name string) string { return keyFor(name) }

// NameOfToken is SubjectToken's inverse: the note name a subject token or
// key stands for, or an error if it is not one SubjectToken makes.
func NameOfToken(token string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '=' && i+2 < len(token) && isUpperHex(token[i+1]) && isUpperHex(token[i+2]):
			b.WriteByte(unhex(token[i+1])<<4 | unhex(token[i+2]))
			i += 2
		default:
			return "", fmt.Errorf("%w: %q is not a note's key: byte %d", ErrInvalidName, token, i)
		}
	}
	name := b.String()
	if keyFor(name) != token {
		// =41 for 'A': a second spelling the hub never makes.
		return "", fmt.Errorf("%w: %q is not a note's key: not in canonical form", ErrInvalidName, token)
	}
	return name, nil
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
