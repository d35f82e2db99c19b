package elasticity

import (
	"fmt"
	"time"

	"github.com/dpc-project/dpc/loadgen"
	"github.com/dpc-project/dpc/oracle"
)

// oracleTarget is issue 11's target for the elastic deployment, quoted in
// the summary.
const oracleTarget = "≥ 99.5% of seconds within the SLA at ≤ 1.2× the oracle's instance-seconds"

// ReplayOracle is the oracle's sizing of the reported seconds: for each,
// the fewest instances that meet the SLA at the rate measured in it, by
// queueing theory (package oracle).
type ReplayOracle struct {
	Model           string `json:"model"`
	InstanceSeconds int    `json:"instance_seconds"`
	Target          string `json:"target"`
	// Error says why there is no oracle (then InstanceSeconds is 0).
	Error string `json:"error,omitempty"`
}

// ReplayService is one service's summary, with its instance-seconds
// against the oracle's.
type ReplayService struct {
	loadgen.ServiceSummary
	// OracleRatio is InstanceSeconds over the oracle's; 0 when there is
	// no oracle.
	OracleRatio float64 `json:"instance_seconds_over_oracle,omitempty"`
}

// oracleModel is a bench's service and SLA as the oracle sees them: the
// SLA is on the p95, and a service has at least one instance. dist is
// fixed or exp.
func oracleModel(serviceTime time.Duration, dist string, concurrency int, sla time.Duration) oracle.Model {
	d := oracle.Deterministic
	if dist == "exp" {
		d = oracle.Exponential
	}
	return oracle.Model{
		ServiceTime: serviceTime, Dist: d, Concurrency: concurrency,
		SLA: sla, Percentile: 0.95, Min: 1,
	}
}

// OracleModel is the replay's service and SLA as the oracle sees them.
func (c ReplayConfig) OracleModel() oracle.Model {
	return oracleModel(c.ServiceTime, c.ServiceTimeDist, c.Concurrency, c.SLA)
}

// OracleModel is the step's service and SLA as the oracle sees them.
func (c StepConfig) OracleModel() oracle.Model {
	return oracleModel(c.ServiceTime, c.ServiceTimeDist, c.Concurrency, c.SLA)
}

// oracleInstances is, for every row (second), the oracle's instances at
// the second's measured arrival rate: the calls due in it, the same for
// every service. nil with the error when the model has no answer.
func oracleInstances(m oracle.Model, rows []loadgen.Row) ([]int, error) {
	out := make([]int, len(rows))
	for i, r := range rows {
		n, err := m.Instances(float64(r.Sent))
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// sumOracle adds up the oracle's instances over the seconds [from, to).
func sumOracle(inst []int, from, to int) int {
	sum := 0
	for sec := from; sec < to && sec < len(inst); sec++ {
		sum += inst[sec]
	}
	return sum
}

// SizeByOracle sizes the reported seconds [from, to) of rows (by the
// calls due in each) and sets every service's ratio to it; it returns
// the per-second instances for the CSV (nil when there is no oracle).
func (rep *ReplayReport) SizeByOracle(rows []loadgen.Row, from, to int) []int {
	m := rep.Config.OracleModel()
	o := &ReplayOracle{Model: m.String() + ", at each second's measured arrival rate", Target: oracleTarget}
	rep.Oracle = o
	inst, err := oracleInstances(m, rows)
	if err != nil {
		o.Error = err.Error()
		return nil
	}
	o.InstanceSeconds = sumOracle(inst, from, to)
	if o.InstanceSeconds > 0 {
		for i := range rep.Services {
			rep.Services[i].OracleRatio = float64(rep.Services[i].InstanceSeconds) / float64(o.InstanceSeconds)
		}
	}
	return inst
}

// oracleCell is a service's instance-seconds over the oracle's.
func oracleCell(s ReplayService) string {
	if s.OracleRatio == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", s.OracleRatio)
}

// describeOracle is the oracle's line above the table.
func describeOracle(o *ReplayOracle) string {
	if o.Error != "" {
		return "none: " + o.Error
	}
	return fmt.Sprintf("%d instance-s (%s); target %s", o.InstanceSeconds, o.Model, o.Target)
}
