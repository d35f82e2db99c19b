package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"http-port", "port", "host", "cluster-name", "routes"}
	for _, tc := range []struct{ in, want string }{
		{"http_port", "http-port"}, // the other separator
		{"htpp-port", "http-port"}, // two letters swapped
		{"prot", "port"},
		{"Routes", "routes"},
		{"cluster", ""}, // too far from cluster-name
		{"xyz", ""},
		{"hots", "host"}, // a swap is one edit
		{"hxyz", ""},     // short names allow one edit only
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "abc", 3}, {"kitten", "sitting", 3}, {"same", "same", 0}, {"prot", "port", 1}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
