package elasticity

import (
	"math"
	"testing"
	"time"

	"github.com/dpc-project/dpc/loadgen"
)

// synthRows makes rows from per-second instance counts and whether each
// second met the SLA.
func synthRows(inst []int, met []bool) []loadgen.Row {
	rows := make([]loadgen.Row, len(inst))
	for i := range inst {
		rows[i] = loadgen.Row{T: i, Service: "work", Instances: inst[i], SLAMet: met[i], P95: math.NaN()}
	}
	return rows
}

func TestFirstNewInstance_SkipsThoseKnownBefore(t *testing.T) {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	up := sec(10)
	for _, tc := range []struct {
		name   string
		first  map[string]time.Duration
		pinged []string
		wantID string
		want   time.Duration
		ok     bool
	}{
		{"none new", map[string]time.Duration{"a": sec(0.1)}, nil, "", 0, false},
		{"one new", map[string]time.Duration{"a": sec(0.1), "b": sec(11.5)}, nil, "b", sec(1.5), true},
		{"the earliest of two", map[string]time.Duration{"a": sec(0.1), "c": sec(13), "b": sec(11.25)}, nil, "b", sec(1.25), true},
		// b answered $SRV.PING at the step but served nothing before it:
		// not new.
		{"pinged before", map[string]time.Duration{"a": sec(0.1), "b": sec(10.5), "c": sec(12)}, []string{"a", "b"}, "c", sec(2), true},
		// An instance that served before the step is known even if it
		// missed the ping.
		{"served before", map[string]time.Duration{"a": sec(9.9), "b": sec(12)}, nil, "b", sec(2), true},
		{"tie goes to the smaller id", map[string]time.Duration{"d": sec(11), "c": sec(11)}, nil, "c", sec(1), true},
	} {
		id, after, ok := firstNewInstance(tc.first, knownBefore(tc.first, up, tc.pinged), up)
		if id != tc.wantID || after != tc.want || ok != tc.ok {
			t.Errorf("%s: %q after %s (%v), want %q after %s (%v)", tc.name, id, after, ok, tc.wantID, tc.want, tc.ok)
		}
	}
}

func TestServedLog_KeepsTheFirstAnswer(t *testing.T) {
	start := time.Now()
	l := NewServedLog()
	l.Served(0, "a", start.Add(time.Second))
	l.Served(0, "a", start.Add(3*time.Second))
	l.Served(0, "b", start.Add(2*time.Second))
	f := l.Firsts(start)
	if len(f) != 2 || f["a"] != time.Second || f["b"] != 2*time.Second {
		t.Errorf("firsts %v", f)
	}
}

// The step up is at second 3, the step down at 9, the run ends at 15.
func TestStepMeasures_OnSyntheticRows(t *testing.T) {
	T, F := true, false
	//                     0  1  2  3  4  5  6  7  8  9 10 11 12 13 14
	inst := []int{1, 1, 1, 1, 2, 4, 4, 4, 4, 4, 4, 3, 1, 1, 1}
	met := []bool{T, T, T, F, F, T, F, T, T, T, T, T, T, T, T}
	rows := synthRows(inst, met)
	const up, down, end, stable = 3, 9, 15, 3

	// Second 5 meets the SLA, 6 does not: the recovery is from 7 on.
	if got, ok := p95Recovery(rows, up, down, stable); !ok || got != 4 {
		t.Errorf("p95 recovery %d (%v), want 4", got, ok)
	}
	if got := violations(rows, up, down); got != 3 {
		t.Errorf("violations %d, want 3", got)
	}
	if got, ok := firstAbove(rows, up, down, 1); !ok || got != 1 {
		t.Errorf("instances rose after %d s (%v), want 1", got, ok)
	}
	if peak, at := peakInstances(rows, up, end); peak != 4 || at != 2 {
		t.Errorf("peak %d at %d, want 4 at 2", peak, at)
	}
	// Back to 1 at second 12 and stays: 3 s after the step down.
	if got, ok := scaleDown(rows, down, end, 1, stable); !ok || got != 3 {
		t.Errorf("scale down %d (%v), want 3", got, ok)
	}
	// To 3 (a target above 1): second 11.
	if got, ok := scaleDown(rows, down, end, 3, stable); !ok || got != 2 {
		t.Errorf("scale down to 3: %d (%v), want 2", got, ok)
	}
}

func TestStepMeasures_EdgeCases(t *testing.T) {
	T, F := true, false
	// Never within the SLA during the step; never back to 1.
	rows := synthRows([]int{1, 1, 2, 2, 2, 2}, []bool{T, T, F, F, F, F})
	if _, ok := p95Recovery(rows, 2, 6, 3); ok {
		t.Error("p95 recovered though every second of the step was over the SLA")
	}
	if _, ok := scaleDown(rows, 4, 6, 1, 3); ok {
		t.Error("scaled down though the count stayed at 2")
	}
	// Never left the SLA: recovered at once.
	rows = synthRows([]int{1, 1, 1, 1}, []bool{T, T, T, T})
	if got, ok := p95Recovery(rows, 1, 4, 3); !ok || got != 0 {
		t.Errorf("p95 recovery %d (%v), want 0", got, ok)
	}
	// Within the SLA only in the last second of the step: that counts,
	// since the phase ends before the stable time is up.
	rows = synthRows([]int{1, 1, 1, 1}, []bool{T, F, F, T})
	if got, ok := p95Recovery(rows, 1, 4, 3); !ok || got != 2 {
		t.Errorf("p95 recovery %d (%v), want 2", got, ok)
	}
	// An unknown count (-1) is not at the target.
	rows = synthRows([]int{-1, -1, 1}, []bool{T, T, T})
	if got, ok := scaleDown(rows, 0, 3, 1, 1); !ok || got != 2 {
		t.Errorf("scale down %d (%v), want 2", got, ok)
	}
	if peak, at := peakInstances(nil, 0, 5); peak != -1 || at != -1 {
		t.Errorf("peak of no rows %d at %d", peak, at)
	}
}

func TestNewTarget_MetAndMissedBy(t *testing.T) {
	v := 1.5
	if tg := newTarget("x", 2*time.Second, &v); !tg.Met || tg.MissedBy == nil || *tg.MissedBy != 0 {
		t.Errorf("1.5 s against 2 s: %+v", tg)
	}
	v2 := 7.0
	if tg := newTarget("x", 5*time.Second, &v2); tg.Met || tg.MissedBy == nil || *tg.MissedBy != 2 {
		t.Errorf("7 s against 5 s: %+v", tg)
	}
	if tg := newTarget("x", 5*time.Second, nil); tg.Met || tg.MissedBy != nil {
		t.Errorf("no value: %+v", tg)
	}
}
