package provisioner

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/micro"
)

// stat builds one instance's $SRV.STATS reply from running totals.
func stat(id string, started time.Time, arrivals int64, svcTimes []float64, backlog int64, p90 float64) omq.Stats {
	var svc omq.Moments
	for _, x := range svcTimes {
		svc.Count++
		svc.Sum += x
		svc.SumSq += x * x
	}
	fd, _ := json.Marshal(omq.FunctionData{ServiceTime: svc})
	st := omq.Stats{Stats: micro.Stats{ServiceIdentity: micro.ServiceIdentity{ID: id}, Started: started,
		Endpoints: []*micro.EndpointStats{{Name: "work", Data: fd}}}}
	// Gaps: arrivals−1 of them, 10 ms each.
	gaps := max(arrivals-1, 0)
	st.Data = omq.InstanceData{Backlog: backlog, QueueWaitP90: p90,
		InterArrival: omq.Moments{Count: gaps, Sum: 0.01 * float64(gaps), SumSq: 0.0001 * float64(gaps)}}
	return st
}

func repeat(x float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = x
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// The figures are the period's, from differences of running totals, not
// the instance's lifetime.
func TestSampler_RatesCoverThePeriod(t *testing.T) {
	s := newSampler()
	t0 := time.Unix(1000, 0)
	started := t0.Add(-time.Hour)
	// First round: a baseline only (the hour before says nothing of now).
	obs := s.observe(t0, time.Time{}, []omq.Stats{stat("a", started, 1001, repeat(0.010, 1000), 0, 0)})
	if obs.Lambda != 0 || obs.Ready != 1 {
		t.Fatalf("first round: λ=%v ready=%d, want 0 and 1", obs.Lambda, obs.Ready)
	}
	// Two seconds later: 100 more arrivals, served in 20 ms and 40 ms.
	times := append(repeat(0.010, 1000), append(repeat(0.020, 50), repeat(0.040, 50)...)...)
	obs = s.observe(t0.Add(2*time.Second), t0, []omq.Stats{stat("a", started, 1101, times, 0, 0.005)})
	if !near(obs.Lambda, 50) {
		t.Errorf("λ = %v, want 100 arrivals / 2 s = 50", obs.Lambda)
	}
	// Mean 30 ms; sample variance of fifty 20s and fifty 40s (ms):
	// Σ(x−30)² = 100·100 = 10000 ms² over 99 → 101.0101 ms².
	if !near(obs.ServiceTime.Mean, 0.030) || obs.ServiceTime.Count != 100 || !near(obs.ServiceTime.Variance, 0.0001*100/99) {
		t.Errorf("service time = %+v, want n=100 mean 0.030 var %v", obs.ServiceTime, 0.0001*100/99)
	}
	if obs.QueueWait.P90 != 5*time.Millisecond {
		t.Errorf("queue wait p90 = %v, want 5ms", obs.QueueWait.P90)
	}
}

// Under overload an instance takes calls in only as fast as it serves
// them; the rest of the offered load shows as a growing backlog, and it
// must count, or the supervisor would see a saturated service as exactly
// loaded.
func TestSampler_BacklogGrowthCountsAsArrivals(t *testing.T) {
	s := newSampler()
	t0 := time.Unix(1000, 0)
	started := t0.Add(-time.Minute)
	s.observe(t0, time.Time{}, []omq.Stats{stat("a", started, 1, nil, 10, 0)})
	obs := s.observe(t0.Add(time.Second), t0, []omq.Stats{stat("a", started, 51, repeat(0.02, 50), 80, 1.2)})
	if !near(obs.Lambda, 120) {
		t.Fatalf("λ = %v, want 50 served + 70 more waiting = 120/s", obs.Lambda)
	}
	if obs.Backlog != 80 {
		t.Fatalf("backlog = %d, want 80", obs.Backlog)
	}
}

// An instance that started during the period contributes everything it
// did; one that restarted under the same ID starts over; one that missed
// a round is differenced over the longer interval.
func TestSampler_NewRestartedAndLateInstances(t *testing.T) {
	s := newSampler()
	t0 := time.Unix(1000, 0)
	old := t0.Add(-time.Minute)
	s.observe(t0, time.Time{}, []omq.Stats{stat("a", old, 101, nil, 0, 0), stat("b", old, 101, nil, 0, 0)})
	// Round 2: b missed it; c started during the period with 10 arrivals.
	obs := s.observe(t0.Add(time.Second), t0, []omq.Stats{
		stat("a", old, 111, nil, 0, 0),
		stat("c", t0.Add(500*time.Millisecond), 10, nil, 0, 0),
	})
	if !near(obs.Lambda, 10+9) { // a: 10; c: 9 gaps → 9 arrivals counted (its first has no gap)
		t.Fatalf("round 2 λ = %v, want 19", obs.Lambda)
	}
	// Round 3: b is back with 40 arrivals over the 2 s since its sample;
	// a restarted (new start time) with 5.
	obs = s.observe(t0.Add(2*time.Second), t0.Add(time.Second), []omq.Stats{
		stat("a", t0.Add(1500*time.Millisecond), 6, nil, 0, 0),
		stat("b", old, 141, nil, 0, 0),
		stat("c", t0.Add(500*time.Millisecond), 10, nil, 0, 0),
	})
	if !near(obs.Lambda, 5+20) {
		t.Fatalf("round 3 λ = %v, want a 5 (restarted) + b 40/2 s + c 0 = 25", obs.Lambda)
	}
}

func TestSums_Moments(t *testing.T) {
	var s sums
	for _, x := range []float64{1, 2, 3, 4} {
		s = s.plus(sums{n: 1, sum: x, sumSq: x * x})
	}
	m := s.moments()
	if m.Count != 4 || m.Mean != 2.5 || !near(m.Variance, 5.0/3) {
		t.Fatalf("moments = %+v, want n=4 mean 2.5 variance 5/3", m)
	}
	if (sums{}).moments() != (Moments{}) {
		t.Fatal("empty sums must give zero moments")
	}
}

// withWaits sets the running sum of an instance's queue waits.
func withWaits(st omq.Stats, waited float64) omq.Stats {
	var fd omq.FunctionData
	_ = json.Unmarshal(st.Endpoints[0].Data, &fd)
	fd.QueueWait.Sum = waited
	st.Endpoints[0].Data, _ = json.Marshal(fd)
	return st
}

// Calls an instance refused busy wait at their callers, not in its
// backlog; their queue waits tell how many (Little's law), and their
// growth counts as arrivals, as a backlog's does.
func TestSampler_CallsHeldByCallersCountAsBacklog(t *testing.T) {
	s := newSampler()
	t0 := time.Unix(1000, 0)
	started := t0.Add(-time.Minute)
	s.observe(t0, time.Time{}, []omq.Stats{withWaits(stat("a", started, 1, nil, 0, 0), 0)})
	// One second: 50 calls served, which had waited 10 s in all: 10
	// calls waited on average over the second.
	obs := s.observe(t0.Add(time.Second), t0, []omq.Stats{withWaits(stat("a", started, 51, repeat(0.02, 50), 1, 0.3), 10)})
	if obs.Backlog != 10 {
		t.Fatalf("backlog %d, want 10 (10 s of waits over 1 s)", obs.Backlog)
	}
	if !near(obs.Lambda, 60) {
		t.Fatalf("λ = %v, want 50 served + 10 more waiting = 60/s", obs.Lambda)
	}
	// The next second the same 10 wait: no growth, λ is what was served.
	obs = s.observe(t0.Add(2*time.Second), t0.Add(time.Second), []omq.Stats{withWaits(stat("a", started, 101, repeat(0.02, 100), 1, 0.3), 20)})
	if !near(obs.Lambda, 50) || obs.Backlog != 10 {
		t.Fatalf("λ = %v, backlog %d; want 50 and 10", obs.Lambda, obs.Backlog)
	}
}

// An omq that counts offered calls gives the rate offered directly: each
// unicast call once, when it first reached an instance, however many
// times it was refused and sent again — under overload too.
func TestSampler_OfferedCallsAreTheRate(t *testing.T) {
	s := newSampler()
	t0 := time.Unix(1000, 0)
	started := t0.Add(-time.Minute)
	withOffered := func(st omq.Stats, n int64) omq.Stats { st.Data.Offered = n; return st }
	s.observe(t0, time.Time{}, []omq.Stats{withOffered(stat("a", started, 1, nil, 0, 0), 100)})
	// 50 started (the instance's capacity), 240 offered: the rest were
	// refused and wait at their callers.
	obs := s.observe(t0.Add(time.Second), t0, []omq.Stats{withWaits(withOffered(stat("a", started, 51, repeat(0.02, 50), 0, 0.3), 340), 5)})
	if !near(obs.Lambda, 240) {
		t.Fatalf("λ = %v, want the 240 calls offered", obs.Lambda)
	}
}
