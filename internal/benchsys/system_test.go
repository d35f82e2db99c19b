package benchsys

import (
	"slices"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/trust"
)

// The tail keeps the last lines, a partial one included, and hands every
// whole line to its callback as it comes, however the writes split it.
func TestLogTail_LastLinesAndCallback(t *testing.T) {
	var seen []string
	l := newLogTail(2, func(line string) { seen = append(seen, line) })
	for _, w := range []string{"one\ntw", "o\nthree\n", "four"} {
		if _, err := l.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"one", "two", "three"}; !slices.Equal(seen, want) {
		t.Errorf("callback saw %q, want %q", seen, want)
	}
	if got, want := l.String(), "\n  last output:\n    two\n    three\n    four"; got != want {
		t.Errorf("tail %q, want %q", got, want)
	}
	var none *logTail
	if none.String() != "" || newLogTail(3, nil).String() != "" {
		t.Error("an empty tail is not empty")
	}
}

// A started process sees the system's DPC_HOME and none of the
// variables that would reconfigure it behind its flags.
func TestChildEnv_OwnHomeNoOverrides(t *testing.T) {
	t.Setenv("NATS_URL", "nats://elsewhere:4222")
	t.Setenv("DPC_CREDS", "/some/creds")
	t.Setenv("DPC_HUB_PORT", "1")
	env := childEnv("/tmp/sys", "/tmp/sys/dpc-home")
	if !slices.Contains(env, trust.EnvHome+"=/tmp/sys/dpc-home") || !slices.Contains(env, "HOME=/tmp/sys") {
		t.Errorf("no system home in %q", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "NATS_URL=") || strings.HasPrefix(kv, "DPC_CREDS=") || strings.HasPrefix(kv, "DPC_HUB_") {
			t.Errorf("%s passed to the processes", kv)
		}
	}
}
