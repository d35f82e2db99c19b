package benchsys

import (
	"slices"
	"strings"
	"sync"
)

// logTail keeps the last lines a process wrote, to show when it fails, and
// hands each line to a callback.
type logTail struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
	onLine  func(string)
}

func newLogTail(max int, onLine func(string)) *logTail {
	return &logTail{max: max, onLine: onLine}
}

func (l *logTail) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := slices.Index(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.onLine != nil {
			l.onLine(line)
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > l.max {
			l.lines = l.lines[1:]
		}
	}
	return len(b), nil
}

// String is the tail as an indented block after a newline, or "" when
// the process wrote nothing.
func (l *logTail) String() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(l.partial) > 0 {
		lines = append(slices.Clone(lines), string(l.partial))
	}
	if len(lines) == 0 {
		return ""
	}
	return "\n  last output:\n    " + strings.Join(lines, "\n    ")
}
