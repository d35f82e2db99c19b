package elasticity

import (
	"sync"
	"time"

	"github.com/dpc-project/dpc/loadgen"
)

// ServedLog keeps when each instance first answered a call. Safe for
// concurrent use: the generator's collector writes, the bench reads at
// the end.
type ServedLog struct {
	mu    sync.Mutex
	first map[string]time.Time
}

// NewServedLog is an empty log.
func NewServedLog() *ServedLog {
	return &ServedLog{first: map[string]time.Time{}}
}

// Served is loadgen.Config.Served for one service.
func (l *ServedLog) Served(_ int, instance string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.first[instance]; !ok {
		l.first[instance] = at
	}
}

// Firsts returns the instances' first answers, from start (the start of
// the load).
func (l *ServedLog) Firsts(start time.Time) map[string]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Duration, len(l.first))
	for id, at := range l.first {
		out[id] = at.Sub(start)
	}
	return out
}

// firstNewInstance is the first instance to answer a call at or after up
// that is not among before (the instances known before the step: those
// that answered a call before it, and those that answered $SRV.PING at
// it), and how long after up it answered; ok is false when there is
// none. first is each instance's first answer, from the start of the
// load. Ties go to the smaller id, so the answer does not depend on a
// map's order.
func firstNewInstance(first map[string]time.Duration, before map[string]bool, up time.Duration) (id string, after time.Duration, ok bool) {
	for inst, at := range first {
		if before[inst] || at < up {
			continue
		}
		if !ok || at-up < after || (at-up == after && inst < id) {
			id, after, ok = inst, at-up, true
		}
	}
	return id, after, ok
}

// knownBefore is the set of instances that answered a call before up,
// with the extra ids (those that answered $SRV.PING at the step).
func knownBefore(first map[string]time.Duration, up time.Duration, extra []string) map[string]bool {
	out := map[string]bool{}
	for inst, at := range first {
		if at < up {
			out[inst] = true
		}
	}
	for _, id := range extra {
		out[id] = true
	}
	return out
}

// holds reports whether ok holds for every row of [from, min(from+stable,
// to)): a condition that holds for stable seconds, or until the phase
// ends if that comes sooner.
func holds(rows []loadgen.Row, from, to, stable int, ok func(loadgen.Row) bool) bool {
	for s := from; s < min(from+stable, to, len(rows)); s++ {
		if !ok(rows[s]) {
			return false
		}
	}
	return true
}

// firstStable is the first second s of [from, to) from which ok holds
// for stable seconds (or to the phase's end), as seconds after from; ok
// is false when there is none.
func firstStable(rows []loadgen.Row, from, to, stable int, ok func(loadgen.Row) bool) (int, bool) {
	to = min(to, len(rows))
	for s := max(from, 0); s < to; s++ {
		if holds(rows, s, to, stable, ok) {
			return s - from, true
		}
	}
	return 0, false
}

// p95Recovery is how many seconds after the step up, at second up, the
// 1-second p95 was back within the SLA to stay for stable seconds, the
// high phase ending at second down; 0 when it never left it.
func p95Recovery(rows []loadgen.Row, up, down, stable int) (int, bool) {
	return firstStable(rows, up, down, stable, func(r loadgen.Row) bool { return r.SLAMet })
}

// scaleDown is how many seconds after the step down, at second down,
// the instance count was at most target to stay for stable seconds (or
// to the end of the run, second end).
func scaleDown(rows []loadgen.Row, down, end, target, stable int) (int, bool) {
	return firstStable(rows, down, end, stable, func(r loadgen.Row) bool { return r.Instances >= 0 && r.Instances <= target })
}

// peakInstances is the most instances counted in [from, to), and the
// first second it was counted, as seconds after from; -1 when none was.
func peakInstances(rows []loadgen.Row, from, to int) (peak, at int) {
	peak, at = -1, -1
	for s := max(from, 0); s < min(to, len(rows)); s++ {
		if rows[s].Instances > peak {
			peak, at = rows[s].Instances, s-from
		}
	}
	return peak, at
}

// firstAbove is the first second of [from, to) with more than n
// instances counted, as seconds after from.
func firstAbove(rows []loadgen.Row, from, to, n int) (int, bool) {
	for s := max(from, 0); s < min(to, len(rows)); s++ {
		if rows[s].Instances > n {
			return s - from, true
		}
	}
	return 0, false
}

// violations counts the seconds of [from, to) over the SLA.
func violations(rows []loadgen.Row, from, to int) int {
	n := 0
	for s := max(from, 0); s < min(to, len(rows)); s++ {
		if !rows[s].SLAMet {
			n++
		}
	}
	return n
}
