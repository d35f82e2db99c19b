package execfn

import (
	"fmt"
	"strings"
	"unicode"
)

// Limits of the standard error quoted in an error reply: enough to say
// why a command failed, and one line (an error travels in a NATS header,
// which cannot hold a line break).
const (
	stderrBytes = 4096
	stderrLines = 20
)

// tail keeps the last stderrBytes written to it.
type tail struct {
	b   []byte
	cut bool // bytes were dropped from the front
}

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > stderrBytes {
		p = p[len(p)-stderrBytes:]
		t.cut = true
	}
	t.b = append(t.b, p...)
	if drop := len(t.b) - stderrBytes; drop > 0 {
		t.b = append(t.b[:0], t.b[drop:]...)
		t.cut = true
	}
	return n, nil
}

// String gives the last stderrLines lines on one line, separated by " | ",
// with control characters escaped: "" if nothing was written.
func (t *tail) String() string {
	text := strings.TrimRight(strings.ToValidUTF8(string(t.b), "\uFFFD"), "\r\n")
	if strings.TrimSpace(text) == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	cut := t.cut
	if len(lines) > stderrLines {
		lines = lines[len(lines)-stderrLines:]
		cut = true
	}
	for i, l := range lines {
		lines[i] = escapeControls(strings.TrimSuffix(l, "\r"))
	}
	s := strings.Join(lines, " | ")
	if cut {
		s = "… " + s
	}
	return s
}

// escapeControls writes control characters other than tab as \xNN, so
// that a message stays one line and a terminal shows it as it is.
func escapeControls(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
