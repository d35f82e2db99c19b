package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// ErrNoTimestamps: a trace file with nothing to replay. (Unprefixed: the
// message reads "FILE: no request times".)
var ErrNoTimestamps = errors.New("no request times")

// LoadTrace reads a trace file: request times in seconds, one per line,
// or a CSV whose header names a column "t". See ParseTrace.
func LoadTrace(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	return ParseTrace(path, f)
}

// ParseTrace reads request times in seconds (any origin, fractions
// allowed) from r, name being the file in messages. Either every line is
// one number, or the first line is a CSV header and the times are in its
// column "t" (the other columns are ignored). Blank lines and lines
// starting with # are skipped. Every error names the file and line.
func ParseTrace(name string, r io.Reader) ([]float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var (
		out  []float64
		col  = -1 // the "t" column once a header is read; -1: plain numbers
		line int
	)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff") // a spreadsheet's byte order mark
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		if col < 0 && len(out) == 0 {
			if _, err := strconv.ParseFloat(strings.TrimSpace(fields[0]), 64); err != nil {
				// The first line is not a number: the header.
				for i, f := range fields {
					if strings.TrimSpace(strings.Trim(strings.TrimSpace(f), `"`)) == "t" {
						col = i
						break
					}
				}
				if col < 0 {
					return nil, fmt.Errorf("%s:%d: no column \"t\" in the header %q (want one time in seconds per line, or a CSV with a column t)", name, line, text)
				}
				continue
			}
		}
		var field string
		switch {
		case col >= 0 && col < len(fields):
			field = fields[col]
		case col >= 0:
			return nil, fmt.Errorf("%s:%d: %d field(s), no column %d (t)", name, line, len(fields), col+1)
		case len(fields) != 1:
			return nil, fmt.Errorf("%s:%d: %d fields; without a header with a column t, a line holds one time in seconds", name, line, len(fields))
		default:
			field = fields[0]
		}
		field = strings.Trim(strings.TrimSpace(field), `"`)
		v, err := strconv.ParseFloat(field, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s:%d: %q is not a time in seconds", name, line, field)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoTimestamps)
	}
	return out, nil
}
