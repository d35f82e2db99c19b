// Package provisioner keeps DPC services elastic: a Supervisor observes
// each service once per period, asks the service's provisioning policy — a
// Provisioner — how many instances it needs, and has the agents start or
// stop instances to match. This is ObjectMQ's elasticity framework: the
// policy is the extensible hook, the Supervisor enforces what it proposes.
//
// # The Provisioner interface
//
// A policy has a name and one method:
//
//	type Provisioner interface {
//		Name() string
//		Decide(ctx context.Context, obs Observation) (Decision, error)
//	}
//
// The Observation covers the last period of one service: its arrival rate
// Lambda, the moments of service and inter-arrival times, percentiles of
// the queue wait, the calls waiting in a backlog or the durable lane, the
// instances running, and the service's Limits. The Decision is a count and
// the reason for it, in figures, for the supervisor's log:
//
//	λobs=120.0/s, λpred=40.0/s, ratio 3.00 > τ1=1.20: δ=42.1/s (s=20.0ms, σa²=(20.0ms)², σb²=(14.1ms)², d=100ms) → η=3
//
// The supervisor clamps the count to the Limits, so a policy need not,
// and stabilises it as the Kubernetes HPA does (Service.DownWindow): up
// at once, down only as far as the highest count of the window, so a
// policy need not damp its own noise either. It only proposes; it logs
// nothing and starts nothing.
//
// A service with Limits.Min 0 may scale to zero: a call that then finds
// no instance waits and publishes a wake (omq's Node.WakeSubject), on
// which the supervisor starts one instance at once (Supervisor.Wake); the
// period's wakes reach the policy as Observation.Woken. After Service.Idle
// without calls the supervisor scales the service back to zero.
//
// # The policies
//
// Reactive, Predictive and Combined follow Urgaonkar et al. Each instance
// is a G/G/1 queue; for a mean response-time target d it sustains at most
// δ requests/s (Capacity), and a rate λ needs η = ⌈λ/δ⌉ instances
// (Instances):
//
//	δ, err := provisioner.Capacity(0.020, 0.0004, 0.0002, 100*time.Millisecond) // 42.1/s
//	η := provisioner.Instances(120, δ)                                          // 3
//
// The policies built on it, and one that needs no model:
//
//   - Reactive sizes for the rate it observed and resizes only when the rate
//     leaves [τ2, τ1] times the rate it sized for.
//   - Predictive records the peak rate of every time-of-day slot in a
//     History (in memory, or in a JetStream key-value bucket so that it
//     survives restarts) and sizes each slot ahead of time for a high
//     percentile of that slot's peaks on past days.
//   - Combined takes the predictive count and corrects it reactively: up
//     for a flash crowd, down when the prediction was too high.
//   - TargetTracking needs no model: it holds a percentile of the queue wait
//     at a target the way the Kubernetes HPA holds a metric, with its
//     tolerance, stabilisation windows and step limit.
//   - Fixed always proposes the same count, for comparisons.
//
// Each is built from a config that starts from its Default…Config:
//
//	cfg := provisioner.DefaultReactiveConfig()
//	cfg.ResponseTime = 100 * time.Millisecond // the SLA: no default
//	policy, err := provisioner.NewReactive(cfg)
//
// # Writing a policy
//
// Any type with Name and Decide is a policy. This one provisions an
// instance per 50 calls/s, never none while calls wait:
//
//	type perFifty struct{}
//
//	func (perFifty) Name() string { return "per-fifty" }
//
//	func (perFifty) Decide(ctx context.Context, obs provisioner.Observation) (provisioner.Decision, error) {
//		n := provisioner.Instances(obs.Lambda, 50)
//		if n == 0 && obs.Backlog+obs.Durable > 0 {
//			n = 1
//		}
//		return provisioner.Decision{Desired: n, Reason: fmt.Sprintf("λ=%.1f/s ÷ 50/s → %d", obs.Lambda, n)}, nil
//	}
//
// What to keep in mind:
//
//   - Decide is called once per period for each service, with Now
//     increasing. Take time from obs.Now, never from the clock: tests and
//     trace replays drive a policy with a fake clock, a compressed day.
//   - State a policy keeps between calls (a window, the last rate it sized
//     for) is per service: key it by obs.Service, as the policies here do,
//     so one value can serve several services.
//   - An idle period carries no moments (their Count is 0). Keep the last
//     ones that had data rather than forgetting what an instance can do.
//   - λ is 0 when nothing arrived, yet calls may wait in the durable lane
//     with no instance to take them: propose at least one then.
//   - Return an error only when no decision is possible; the supervisor
//     then keeps the current count. A degraded decision (no history, no
//     moments yet) is still a decision — say in the reason what it lacked.
//   - Decide must return well within the period; it is the supervisor's
//     budget for the whole round.
package provisioner
