package elasticity

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/loadgen"
)

// The oracle sizes each reported second at its measured rate, and every
// service's instance-seconds are set against the sum.
func TestReplayCmd_OracleRatio(t *testing.T) {
	// Calls due per second: 0, 25, 100, 140 → 1, 1, 3, 4 instances
	// (oracle's TestModel_Instances); seconds [1, 4) reported.
	var rows []loadgen.Row
	for sec, sent := range []int{0, 25, 100, 140} {
		rows = append(rows, loadgen.Row{T: sec, Service: "work", Sent: sent})
	}
	rep := &ReplayReport{
		Config: ReplayConfig{ServiceTime: 20 * time.Millisecond, ServiceTimeDist: "fixed", Concurrency: 1, SLA: 100 * time.Millisecond},
		Services: []ReplayService{
			{ServiceSummary: loadgen.ServiceSummary{Service: "work", InstanceSeconds: 12}},
			{ServiceSummary: loadgen.ServiceSummary{Service: "work-fixed", InstanceSeconds: 9}},
		},
	}
	inst := rep.SizeByOracle(rows, 1, 4)
	if want := []int{1, 1, 3, 4}; len(inst) != len(want) || inst[0] != 1 || inst[1] != 1 || inst[2] != 3 || inst[3] != 4 {
		t.Fatalf("oracle instances %v, want %v", inst, want)
	}
	if rep.Oracle == nil || rep.Oracle.InstanceSeconds != 8 || rep.Oracle.Error != "" {
		t.Fatalf("oracle %+v, want 8 instance-s", rep.Oracle)
	}
	if r := rep.Services[0].OracleRatio; r != 1.5 {
		t.Errorf("work: ratio %g, want 12/8", r)
	}
	var b bytes.Buffer
	if err := WriteReplayText(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"× oracle", "1.50×", "1.12×", "oracle   8 instance-s (M/D/k", "≤ 1.2×"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// A service time over the SLA leaves no oracle, and says why.
func TestReplayCmd_OracleInfeasible(t *testing.T) {
	rep := &ReplayReport{Config: ReplayConfig{ServiceTime: 200 * time.Millisecond, ServiceTimeDist: "fixed", Concurrency: 1, SLA: 100 * time.Millisecond}, Services: []ReplayService{{ServiceSummary: loadgen.ServiceSummary{Service: "work", InstanceSeconds: 5}}}}
	if inst := rep.SizeByOracle([]loadgen.Row{{Sent: 3}}, 0, 1); inst != nil {
		t.Errorf("oracle instances %v, want none", inst)
	}
	if rep.Oracle.Error == "" || rep.Services[0].OracleRatio != 0 || oracleCell(rep.Services[0]) != "–" {
		t.Errorf("oracle %+v, service %+v", rep.Oracle, rep.Services[0])
	}
}
