package loadgen

import "time"

// Step is a step in offered load and back: Low for Warmup, High for
// Hold, then Low again for After.
//
//	λ(t) = Low  for t ∈ [0, Warmup)
//	       High for t ∈ [Warmup, Warmup + Hold)
//	       Low  for t ∈ [Warmup + Hold, Warmup + Hold + After)
//
// The whole of it is reported: the warm-up is what the step is measured
// against.
type Step struct {
	Low, High           float64
	Warmup, Hold, After time.Duration
}

// Up is when the load steps up to High, Down when it steps back to Low.
func (s Step) Up() time.Duration   { return s.Warmup }
func (s Step) Down() time.Duration { return s.Warmup + s.Hold }

func (s Step) Length() time.Duration     { return s.Warmup + s.Hold + s.After }
func (s Step) ReportFrom() time.Duration { return 0 }

func (s Step) Rate(t time.Duration) float64 {
	switch {
	case t < 0 || t >= s.Length():
		return 0
	case t >= s.Up() && t < s.Down():
		return s.High
	default:
		return s.Low
	}
}

// Constant is a load that does not change: PerSec for For.
type Constant struct {
	PerSec float64
	For    time.Duration
}

func (c Constant) Length() time.Duration     { return c.For }
func (c Constant) ReportFrom() time.Duration { return 0 }

func (c Constant) Rate(t time.Duration) float64 {
	if t < 0 || t >= c.For {
		return 0
	}
	return c.PerSec
}
