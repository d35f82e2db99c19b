package notes

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest note name, in bytes of UTF-8.
const MaxNameLen = 200

// ValidateName reports whether name may name a note, and if not, why. A name
// is 1 to MaxNameLen bytes of UTF-8: letters and digits of any script,
// spaces, '-', '_' and '.'; it starts with a letter or a digit and does not
// end with a space or a '.'. So "k_notes_file.txt" and "Shopping list" are
// names; "", "../x", "a/b", ".hidden", "x." and "tab\there" are not.
// Names are case-sensitive and compared byte for byte (no Unicode
// normalisation).
//
// The rule keeps names safe wherever they end up — file names on any
// system when exported, terminal menus, URLs — and it is what the errors
// tell a user. The storage itself would take any string (see keyFor).
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	switch {
	case name == "":
		return fmt.Errorf("%w: a note needs a name", ErrInvalidName)
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	}
	for i, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case i == 0:
			return bad("must start with a letter or a digit")
		case r == ' ' || r == '-' || r == '_' || r == '.':
		default:
			return bad(fmt.Sprintf("%q is not allowed (use letters, digits, spaces, '-', '_' and '.')", r))
		}
	}
	if strings.HasSuffix(name, " ") || strings.HasSuffix(name, ".") {
		return bad("must not end with a space or a '.'")
	}
	return nil
}

// keyFor encodes a name as a KV key. Keys allow only [-/_=.A-Za-z0-9], and
// '.' separates subject tokens, so every byte outside [-_A-Za-z0-9] is
// written as =XX (hex). The encoding is injective ('=' itself is encoded)
// and keeps ASCII names readable in `nats kv ls`: "Shopping list.txt" →
// "Shopping=20list=2Etxt".
func keyFor(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}
