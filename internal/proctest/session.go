package proctest

import (
	"io"
	"strings"
	"testing"
	"time"
)

// Session drives an interactive program: Send writes a line to its input,
// Expect reads its output in order, each match starting after the last.
type Session struct {
	t       testing.TB
	in      io.Writer
	out     *Buffer
	timeout time.Duration // bounds each Expect
	seen    int           // output before this has been matched
}

// NewSession drives the program reading in and writing out; each Expect
// waits at most timeout.
func NewSession(t testing.TB, in io.Writer, out *Buffer, timeout time.Duration) *Session {
	return &Session{t: t, in: in, out: out, timeout: timeout}
}

// Expect waits until the output since the last match holds text, and
// returns that output up to and including text.
func (s *Session) Expect(text string) string {
	s.t.Helper()
	deadline := time.Now().Add(s.timeout)
	for {
		all := s.out.String()
		if i := strings.Index(all[s.seen:], text); i >= 0 {
			end := s.seen + i + len(text)
			got := all[s.seen:end]
			s.seen = end
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q in the output within %s; after the last match:\n%s", text, s.timeout, all[s.seen:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Send writes line and a newline to the program's input.
func (s *Session) Send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatalf("send %q: %v", line, err)
	}
}
