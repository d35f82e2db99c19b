// Package oracle sizes a service with hindsight: for an arrival rate λ it
// gives the fewest instances that meet a latency SLA on a percentile of
// the response time, from queueing theory, so that a bench can price
// what an elastic deployment spent against the least it could have.
//
// The model is M/G/k in steady state: Poisson arrivals of rate λ, k =
// n·c servers (n instances of c concurrent calls each), service time of
// mean s, first come first served. The probability that a call waits is
// Erlang C, C(k, a) with a = λs the offered load in erlangs (exact for
// M/M/k, and used for every service-time distribution). The wait of a
// call that waits is taken as exponential with the Allen–Cunneen mean
//
//	E[W | W > 0] = (ca² + cs²)/2 · s/(k − a),   ca² = 1 (Poisson),
//
// so that
//
//	P(W > t) ≈ C(k, a) · exp(−θt),   θ = (kμ − λ) · 2/(1 + cs²),   μ = 1/s.
//
// With exponential service (cs² = 1) this is the exact M/M/k waiting
// time, and the response time R = W + S has the exact tail
//
//	P(R > t) = (1 − C)·e^{−μt} + C·(θe^{−μt} − μe^{−θt})/(θ − μ).
//
// With deterministic service (cs² = 0, M/D/k) the exponential decays
// twice as fast (the Allen–Cunneen correction, which halves the M/M/k
// mean wait, exactly right for k = 1; Cosmetatos's refinement multiplies
// it by 1 + (1 − ρ)(k − 1)(√(4 + 5k) − 2)/(16ρk), which matters only at
// low utilisation ρ, where waits are rare), and R = W + s, so
// P(R > t) = P(W > t − s). Keeping Erlang C
// as the probability of waiting overstates it for M/D/k (deterministic
// service makes waits rarer), which errs towards more instances: the
// oracle is a little generous, never stingy.
//
// The SLA is met at n instances when P(R > D) ≤ 1 − q for the SLA bound D
// and percentile q (0.95 for a p95). The response time here is the
// queue's alone: no network, no hub, no start-up of instances, and the
// queue is in steady state at every rate, as if each second's rate had
// lasted long enough to settle.
package oracle
