package benchreport

import (
	"strings"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Thousands(0), "0"},
		{Thousands(999.4), "999"},
		{Thousands(1234567.5), "1,234,568"},
		{Micros(1500 * time.Nanosecond), "1.5µs"},
		{Millis(2480 * time.Microsecond), "2.48ms"},
		{MiB(3 << 20), "3.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// The load line is left out when the load average is unknown.
func TestWriteLoad(t *testing.T) {
	var b strings.Builder
	WriteLoad(&b, Load{Start: -1, End: 0.5})
	if b.Len() != 0 {
		t.Errorf("unknown load printed: %q", b.String())
	}
	WriteLoad(&b, Load{Start: 0.25, End: 0.5})
	if !strings.Contains(b.String(), "load average 0.25 at the start, 0.50 at the end") {
		t.Errorf("load line %q", b.String())
	}
}
