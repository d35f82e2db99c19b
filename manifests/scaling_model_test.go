package manifests_test

import (
	"strings"
	"testing"

	"github.com/dpc-project/dpc/manifests"
)

// The reactive section names its sizing model and SLA percentile; an
// unknown model or a percentile out of range is refused where it is
// written.
func TestParse_ReactiveSizingModel(t *testing.T) {
	head := "name: t\nfunctions:\n  - funct_name: f\nscaling:\n  reactive:\n"
	m, err := manifests.Parse("t.yml", []byte(head+"    response_time: 80ms\n    model: erlang\n    percentile: 99\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Scaling.Reactive; r == nil || r.Model != "erlang" || r.Percentile != 99 {
		t.Fatalf("reactive %+v, want model erlang, percentile 99", m.Scaling.Reactive)
	}
	for _, c := range []struct{ yml, want string }{
		{"    model: mm1\n", `t.yml:6: scaling.reactive.model: unknown model "mm1" (want one of [gg1 erlang])`},
		{"    percentile: 100\n", "t.yml:6: scaling.reactive.percentile: 100: want a percentile between 0 and 100, like 95"},
	} {
		_, err := manifests.Parse("t.yml", []byte(head+c.yml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yml, err, c.want)
		}
	}
}
