package catalog

import "testing"

func TestCompareVersions(t *testing.T) {
	// Each older than the next (SemVer 2.0's own example, and more).
	order := []string{
		"not-semver", "0.0.0", "0.9.0", "0.10.0",
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
		"1.2.3", "1.10.0", "2.0.0", "99999999999999999999.0.0",
	}
	for i, a := range order {
		for j, b := range order {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := compareVersions(a, b); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if got := compareVersions("1.0.0+build.1", "1.0.0+build.2"); got != 0 {
		t.Errorf("build metadata counted: %d", got)
	}
}
