package oracle

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors of a Model.
var (
	// ErrInfeasible: no number of instances meets the SLA, since the
	// service time alone exceeds it too often.
	ErrInfeasible = errors.New("oracle: the SLA cannot be met at any number of instances")
	// ErrTooMany: meeting the SLA takes more than Model.Max instances.
	ErrTooMany = errors.New("oracle: more instances needed than the model's maximum")
)

// Dist is a service-time distribution.
type Dist int

const (
	// Deterministic: every call takes exactly the service time (cs² = 0).
	Deterministic Dist = iota
	// Exponential: exponential with the service time as its mean
	// (cs² = 1).
	Exponential
)

func (d Dist) String() string {
	switch d {
	case Deterministic:
		return "deterministic"
	case Exponential:
		return "exponential"
	}
	return fmt.Sprintf("Dist(%d)", int(d))
}

// scv is the squared coefficient of variation of the service time.
func (d Dist) scv() float64 {
	if d == Exponential {
		return 1
	}
	return 0
}

// Model is a service and its SLA: the SLA is met when the Percentile of
// the response time is at most SLA.
type Model struct {
	ServiceTime time.Duration // mean
	Dist        Dist
	// Concurrency is the calls an instance serves at once: n instances
	// are n·Concurrency servers.
	Concurrency int
	SLA         time.Duration
	Percentile  float64 // in (0, 1), e.g. 0.95
	// Min is the fewest instances counted, even with no load (a service
	// keeps one to answer); Max bounds the search (0: 100,000).
	Min, Max int
}

// Validate reports a model that cannot be evaluated.
func (m Model) Validate() error {
	switch {
	case m.ServiceTime <= 0:
		return fmt.Errorf("oracle: service time %s: must be positive", m.ServiceTime)
	case m.Concurrency < 1:
		return fmt.Errorf("oracle: concurrency %d: must be at least 1", m.Concurrency)
	case m.SLA <= 0:
		return fmt.Errorf("oracle: SLA %s: must be positive", m.SLA)
	case !(m.Percentile > 0 && m.Percentile < 1):
		return fmt.Errorf("oracle: percentile %g: must be in (0, 1)", m.Percentile)
	case m.Min < 0 || (m.Max > 0 && m.Max < m.Min):
		return fmt.Errorf("oracle: min %d, max %d: want 0 ≤ min ≤ max", m.Min, m.Max)
	case m.Dist != Deterministic && m.Dist != Exponential:
		return fmt.Errorf("oracle: unknown service-time distribution %v", m.Dist)
	}
	return nil
}

// Feasible reports whether some number of instances meets the SLA: with
// no queue at all, the service time alone must meet it.
func (m Model) Feasible() bool {
	s, d := m.ServiceTime.Seconds(), m.SLA.Seconds()
	if m.Dist == Exponential {
		return math.Exp(-d/s) <= 1-m.Percentile
	}
	return s <= d
}

// ErlangC is the probability that a call waits in an M/M/k queue with
// offered load a = λ/μ erlangs: 1 when a ≥ k (the queue grows without
// bound). It uses the recursion of Erlang B, B(0) = 1, B(j) =
// a·B(j−1)/(j + a·B(j−1)), and C = B/(1 − (a/k)(1 − B)), which is
// stable for any k.
func ErlangC(k int, a float64) float64 {
	if k < 1 || a >= float64(k) {
		return 1
	}
	if a <= 0 {
		return 0
	}
	b := 1.0
	for j := 1; j <= k; j++ {
		b = a * b / (float64(j) + a*b)
	}
	return erlangCFromB(k, a, b)
}

func erlangCFromB(k int, a, b float64) float64 {
	return b / (1 - a/float64(k)*(1-b))
}

// WaitTail is P(W > t), the probability that a call waits longer than t
// in queue, at k servers and arrival rate lambda (per second).
func (m Model) WaitTail(k int, lambda float64, t time.Duration) float64 {
	a := lambda * m.ServiceTime.Seconds()
	if t < 0 {
		return 1
	}
	return m.waitTail(k, lambda, ErlangC(k, a), t.Seconds())
}

func (m Model) waitTail(k int, lambda, c, t float64) float64 {
	mu := 1 / m.ServiceTime.Seconds()
	if lambda >= float64(k)*mu {
		return 1
	}
	theta := (float64(k)*mu - lambda) * 2 / (1 + m.Dist.scv())
	return c * math.Exp(-theta*t)
}

// ResponseTail is P(R > t), the probability that a call's response time
// (wait and service) exceeds t, at k servers and arrival rate lambda.
func (m Model) ResponseTail(k int, lambda float64, t time.Duration) float64 {
	return m.responseTail(k, lambda, ErlangC(k, lambda*m.ServiceTime.Seconds()), t.Seconds())
}

func (m Model) responseTail(k int, lambda, c, t float64) float64 {
	s := m.ServiceTime.Seconds()
	mu := 1 / s
	if lambda >= float64(k)*mu {
		return 1
	}
	if m.Dist == Deterministic {
		if t < s {
			return 1
		}
		return m.waitTail(k, lambda, c, t-s)
	}
	// W is 0 with probability 1 − C, else Exp(θ); S is Exp(μ): the sum
	// of two exponentials is hypoexponential.
	theta := float64(k)*mu - lambda
	var sum float64
	if math.Abs(theta-mu) < 1e-9*mu {
		sum = (1 + mu*t) * math.Exp(-mu*t)
	} else {
		sum = (theta*math.Exp(-mu*t) - mu*math.Exp(-theta*t)) / (theta - mu)
	}
	return (1-c)*math.Exp(-mu*t) + c*sum
}

// Instances is the fewest instances (at least Min) that meet the SLA at
// arrival rate lambda (per second).
func (m Model) Instances(lambda float64) (int, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	if !m.Feasible() {
		return 0, ErrInfeasible
	}
	maxN := m.Max
	if maxN == 0 {
		maxN = 100_000
	}
	lambda = max(lambda, 0)
	a := lambda * m.ServiceTime.Seconds()
	c := m.Concurrency
	// Stability needs k = n·c > a; start there, carrying Erlang B up
	// one server at a time as n grows.
	n := max(m.Min, int(math.Floor(a/float64(c)))+1)
	if lambda == 0 {
		// Feasible: the service time alone meets the SLA.
		return m.Min, nil
	}
	b, j := 1.0, 0
	for ; n <= maxN; n++ {
		for ; j < n*c; j++ {
			b = a * b / (float64(j+1) + a*b)
		}
		k := n * c
		cw := 0.0
		if a > 0 {
			cw = erlangCFromB(k, a, b)
		}
		if m.responseTail(k, lambda, cw, m.SLA.Seconds()) <= 1-m.Percentile {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w (%d) at λ=%g/s", ErrTooMany, maxN, lambda)
}

// InstanceSeconds sums Instances over rates, one a second.
func (m Model) InstanceSeconds(rates []float64) (int, error) {
	sum := 0
	for _, l := range rates {
		n, err := m.Instances(l)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// String describes the model in a line, e.g. "M/D/k, s 20ms, 1 call(s)
// at a time per instance, p95 ≤ 100ms".
func (m Model) String() string {
	kind := "M/D/k"
	if m.Dist == Exponential {
		kind = "M/M/k"
	}
	return fmt.Sprintf("%s, s %s (%s), %d call(s) at a time per instance, p%g ≤ %s", kind, m.ServiceTime, m.Dist, m.Concurrency, 100*m.Percentile, m.SLA)
}
