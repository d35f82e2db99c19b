package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/catalog"
)

// During a rolling upgrade status shows the versions and each instance's;
// otherwise the table is as it was.
func TestStatus_VersionPerInstanceWhenVersionsDiffer(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 20, 0, 0, time.Local)
	ss := []catalog.ServiceInfo{
		{
			Name: "calc", Version: "0.2.0", Versions: []string{"0.2.0", "0.1.0"}, Description: "arithmetic",
			Functions: []string{"add", "mul", "sub"},
			Instances: []catalog.InstanceInfo{
				{ID: "calc-new", Host: "h1", Version: "0.2.0", Since: now.Add(-time.Minute)},
				{ID: "calc-old", Host: "h2", Version: "0.1.0", Since: now.Add(-time.Hour)},
			},
		},
		{
			Name: "tst", Version: "0.1.0", Versions: []string{"0.1.0"},
			Functions: []string{"add"},
			Instances: []catalog.InstanceInfo{{ID: "tst-1", Host: "h1", Version: "0.1.0", Since: now}},
		},
	}
	var b strings.Builder
	if err := writeStatus(&b, ss, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	want := []string{
		"calc 0.2.0 (and 0.1.0) — arithmetic",
		"  functions: add, mul, sub",
		"  INSTANCE  VERSION  HOST  SINCE",
		"  calc-new  0.2.0    h1    10:19:00 (1m0s ago)",
		"  calc-old  0.1.0    h2    09:20:00 (1h0m0s ago)",
		"",
		"tst 0.1.0",
		"  functions: add",
		"  INSTANCE  HOST  SINCE",
		"  tst-1     h1    10:20:00 (0s ago)",
	}
	if len(lines) < len(want) {
		t.Fatalf("status:\n%s", b.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Fatalf("line %d: %q, want it to begin %q\n%s", i+1, lines[i], w, b.String())
		}
	}
}
