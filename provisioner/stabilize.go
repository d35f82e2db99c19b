package provisioner

import (
	"fmt"
	"time"
)

// stabilizer is the Kubernetes HPA's stabilisation of a count, for one
// service: it remembers each period's recommendation, and a change goes
// up only as far as the lowest recommendation of the last up window and
// down only as far as the highest of the last down window. With an up
// window of 0 a rise acts at once; a down window holds the count while
// any recommendation within it wanted as many.
//
// TargetTracking stabilises its recommendations with one; the Supervisor
// stabilises every policy's proposals with one (Service.DownWindow), so
// that a rate whose noise crosses a boundary between two counts does not
// start and stop an instance every period.
type stabilizer struct {
	recs []recommendation
}

// recommendation is one period's count before stabilisation.
type recommendation struct {
	at time.Time
	n  int
}

// stabilize records rec, recommended at now, and returns the count to go
// to from cur, with a note for the reason ("" when rec stands).
func (s *stabilizer) stabilize(now time.Time, cur, rec int, upWindow, downWindow time.Duration) (int, string) {
	// The current recommendation is in both windows.
	up, down := rec, rec
	upCut, downCut := now.Add(-upWindow), now.Add(-downWindow)
	kept := s.recs[:0]
	for _, r := range s.recs {
		if r.at.After(upCut) {
			up = min(up, r.n)
		}
		if r.at.After(downCut) {
			down = max(down, r.n)
		}
		if r.at.After(upCut) || r.at.After(downCut) {
			kept = append(kept, r) // older ones can matter no more: now only grows
		}
	}
	s.recs = append(kept, recommendation{at: now, n: rec})

	switch {
	case up > cur:
		if up != rec {
			return up, fmt.Sprintf("; up only to %d, the lowest recommendation of the last %v", up, upWindow)
		}
		return up, ""
	case down < cur:
		if down != rec {
			return down, fmt.Sprintf("; down only to %d, the highest recommendation of the last %v", down, downWindow)
		}
		return down, ""
	case rec < cur:
		return cur, fmt.Sprintf("; held at %d by the highest recommendation of the last %v (%d)", cur, downWindow, down)
	case rec > cur:
		return cur, fmt.Sprintf("; held at %d by the lowest recommendation of the last %v (%d)", cur, upWindow, up)
	}
	return cur, ""
}

// reset forgets every recommendation.
func (s *stabilizer) reset() { s.recs = nil }
