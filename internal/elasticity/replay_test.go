package elasticity

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"

	"github.com/dpc-project/dpc/loadgen"
)

func TestWriteCSV_HeaderAndEmptyUnknowns(t *testing.T) {
	rows := [][]loadgen.Row{
		{{T: 0, Day: 1, Service: "work", Offered: 10, Sent: 3, OK: 3, P50: 1.5, P95: 2, P99: 2.25, Instances: 2, SLAMet: true}},
		{{T: 0, Day: 1, Service: "work-fixed", Offered: 10, P50: math.NaN(), P95: math.NaN(), P99: math.NaN(), Instances: -1, SLAMet: true}},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rows, []int{3}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		CSVHeader,
		{"0", "1", "work", "10.00", "3", "3", "0", "0", "0", "1.50", "2.00", "2.25", "2", "true", "3"},
		{"0", "1", "work-fixed", "10.00", "0", "0", "0", "0", "0", "", "", "", "", "true", "3"},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %q", recs)
	}
	for i := range want {
		if strings.Join(recs[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("line %d: %q, want %q", i+1, recs[i], want[i])
		}
	}
}
