package provisioner

import (
	"encoding/json"
	"math"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// sampler turns successive $SRV.STATS replies of one service's instances
// into per-period figures. Instances report running totals (counts, sums,
// sums of squares); the difference between two samples of one instance is
// what happened in between, so the figures cover the period and not the
// instance's lifetime.
//
// Each instance's previous sample keeps its own time: an instance that
// missed one round (slow reply) is differenced over the longer interval
// instead of counting two periods' arrivals as one.
type sampler struct {
	prev map[string]instanceSample // by instance ID
}

type instanceSample struct {
	at      time.Time
	started time.Time // a restarted instance (same ID) starts over
	gaps    sums      // instance-wide inter-arrival gaps
	service sums      // over all functions
	backlog int64
	// offered counts the unicast calls that first reached the instance
	// (omq.InstanceData.Offered; 0 from an omq that does not count them).
	offered int64
	// waited is the running sum of its calls' queue waits, seconds;
	// held, the calls waiting for it over the period before (see
	// observe).
	waited float64
	held   float64
	seen   int // rounds since last seen, to forget gone instances
}

// sums are running totals of a distribution, as instances report them.
type sums struct {
	n          int64
	sum, sumSq float64
}

func (s sums) minus(o sums) sums {
	return sums{n: s.n - o.n, sum: s.sum - o.sum, sumSq: s.sumSq - o.sumSq}
}

func (s sums) plus(o sums) sums {
	return sums{n: s.n + o.n, sum: s.sum + o.sum, sumSq: s.sumSq + o.sumSq}
}

// moments is the mean and sample variance of the window the sums cover.
func (s sums) moments() Moments {
	if s.n <= 0 {
		return Moments{}
	}
	mean := s.sum / float64(s.n)
	v := 0.0
	if s.n > 1 {
		// Rounding can push a near-zero variance below zero.
		v = max(0, (s.sumSq-float64(s.n)*mean*mean)/float64(s.n-1))
	}
	return Moments{Count: s.n, Mean: mean, Variance: v}
}

func sumsOf(m omq.Moments) sums { return sums{n: m.Count, sum: m.Sum, sumSq: m.SumSq} }

// forgetAfter is how many rounds an instance may be missing before its
// sample is dropped.
const forgetAfter = 10

func newSampler() *sampler { return &sampler{prev: map[string]instanceSample{}} }

// observe folds one round of stats taken at now into an Observation's
// measured fields (Lambda, moments, queue wait, backlog, Ready) and
// remembers the samples for the next round. The first round of an
// instance only sets its baseline unless it started after since (the
// previous round), in which case everything it did counts.
func (s *sampler) observe(now, since time.Time, stats []omq.Stats) Observation {
	var (
		obs              Observation
		rate             float64
		gaps, service    sums
		waitW            float64
		p50, p90, p99    float64
		anyWait          bool
		fallback50, fb90 float64
		fb99             float64
		fallbackN        int
		seenNow          = map[string]bool{}
	)
	for _, st := range stats {
		cur := instanceSample{at: now, started: st.Started, gaps: sumsOf(st.Data.InterArrival), backlog: st.Data.Backlog, offered: st.Data.Offered}
		for _, ep := range st.Endpoints {
			var fd omq.FunctionData
			if len(ep.Data) > 0 && json.Unmarshal(ep.Data, &fd) == nil {
				cur.service = cur.service.plus(sumsOf(fd.ServiceTime))
				cur.waited += fd.QueueWait.Sum
			}
		}
		cur.held = float64(cur.backlog)
		obs.Concurrency = max(obs.Concurrency, st.Data.Concurrency)
		seenNow[st.ID] = true
		obs.Ready++

		prev, ok := s.prev[st.ID]
		if !ok || !prev.started.Equal(st.Started) {
			// New to us. If it was up before the previous round, its
			// totals are history: they only set the baseline. If it
			// started within the period, all it did is the period's.
			if since.IsZero() || !st.Started.After(since) {
				s.prev[st.ID] = cur
				obs.Backlog += st.Data.Backlog
				continue
			}
			prev = instanceSample{at: since, started: st.Started}
		}
		dt := now.Sub(prev.at).Seconds()
		if dt <= 0 {
			s.prev[st.ID] = cur
			obs.Backlog += st.Data.Backlog
			continue
		}
		// Calls an instance refused busy wait at their callers, not in
		// its backlog; by Little's law the period's sum of queue waits
		// over its length is how many calls waited on average, wherever
		// they were.
		cur.held = max(cur.held, (cur.waited-prev.waited)/dt)
		s.prev[st.ID] = cur
		obs.Backlog += int64(math.Round(cur.held))
		dGaps := cur.gaps.minus(prev.gaps)
		dService := cur.service.minus(prev.service)
		// Calls offered to the instance — each unicast call once, when
		// it first reached one, started or refused — plus the growth of
		// what waits in its client library: under overload an instance
		// takes calls in only as fast as it serves them, and the rest of
		// the offered load shows as refusals or a growing backlog. An omq
		// that does not count offered calls: arrivals that started, plus
		// the growth of every call waiting, wherever (Little's law).
		var arrived float64
		if cur.offered > 0 || prev.offered > 0 {
			arrived = float64(cur.offered-prev.offered) + float64(cur.backlog-prev.backlog)
		} else {
			arrived = float64(max(dGaps.n, 0)) + (cur.held - prev.held)
		}
		rate += max(arrived, 0) / dt
		if dGaps.n > 0 {
			gaps = gaps.plus(dGaps)
		}
		if dService.n > 0 {
			service = service.plus(dService)
		}
		// Queue-wait percentiles, weighted by the instance's share of
		// the period's calls; instances without calls read 0 and would
		// only dilute the figure.
		d := st.Data
		if w := float64(max(dService.n, 0)); w > 0 {
			waitW += w
			p50 += w * d.QueueWaitP50
			p90 += w * d.QueueWaitP90
			p99 += w * d.QueueWaitP99
			anyWait = true
		} else if d.QueueWaitP50+d.QueueWaitP90+d.QueueWaitP99 > 0 {
			// Stuck: calls waiting but none finished in the period.
			fallback50 = max(fallback50, d.QueueWaitP50)
			fb90 = max(fb90, d.QueueWaitP90)
			fb99 = max(fb99, d.QueueWaitP99)
			fallbackN++
		}
	}
	for id, p := range s.prev {
		if !seenNow[id] {
			if p.seen++; p.seen > forgetAfter {
				delete(s.prev, id)
				continue
			}
			s.prev[id] = p
		}
	}
	obs.Lambda = rate
	obs.ServiceTime = service.moments()
	obs.InterArrival = gaps.moments()
	switch {
	case anyWait:
		obs.QueueWait = Percentiles{P50: seconds(p50 / waitW), P90: seconds(p90 / waitW), P99: seconds(p99 / waitW)}
	case fallbackN > 0:
		obs.QueueWait = Percentiles{P50: seconds(fallback50), P90: seconds(fb90), P99: seconds(fb99)}
	}
	return obs
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
