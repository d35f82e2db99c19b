package manifests

// Scaling is how a provisioner sizes a service: the limits of its instance
// count and the policy that picks a count within them. A manifest may
// carry one (the service's author knows its SLA); a provisioner's config
// file may give or override it per service. Zero fields take the
// provisioner's defaults.
type Scaling struct {
	// Min and Max bound the instance count. Nil: the provisioner's
	// default (1 and 8).
	Min *int `yaml:"min,omitempty" json:"min,omitempty"`
	Max *int `yaml:"max,omitempty" json:"max,omitempty"`
	// Policy is reactive, predictive, combined, target-tracking or fixed.
	Policy         string          `yaml:"policy,omitempty" json:"policy,omitempty"`
	Reactive       *ReactiveSpec   `yaml:"reactive,omitempty" json:"reactive,omitempty"`
	Predictive     *PredictiveSpec `yaml:"predictive,omitempty" json:"predictive,omitempty"`
	TargetTracking *TargetSpec     `yaml:"target_tracking,omitempty" json:"target_tracking,omitempty"`
	// Instances is the fixed policy's count (default: Min).
	Instances int `yaml:"instances,omitempty" json:"instances,omitempty"`
	// Idle, with min 0, is how long the service may handle no calls
	// before it is scaled to zero (nil: the provisioner's default, 30s;
	// 0: the policy alone decides).
	Idle *Duration `yaml:"idle,omitempty" json:"idle,omitempty"`
}

// ReactiveSpec parameterises the SLA-driven reactive policy: the target d
// for a high percentile of response time, and the band [Tau2, Tau1] of
// observed/predicted arrival rate inside which it leaves the count alone.
//
// Model is how an instance count is sized for a rate: "gg1" (default), the
// paper's G/G/1 bound, one queue per instance, ResponseTime a mean; or
// "erlang", one queue shared by every instance (M/G/n, Erlang C — what
// omq's dispatch to the idle makes of a service), ResponseTime the bound
// on the Percentile of response time (default 95).
type ReactiveSpec struct {
	ResponseTime Duration `yaml:"response_time,omitempty" json:"response_time,omitempty"`
	Tau1         float64  `yaml:"tau1,omitempty" json:"tau1,omitempty"`
	Tau2         float64  `yaml:"tau2,omitempty" json:"tau2,omitempty"`
	Model        string   `yaml:"model,omitempty" json:"model,omitempty"`
	Percentile   float64  `yaml:"percentile,omitempty" json:"percentile,omitempty"`
}

// SizingModels are the values of ReactiveSpec.Model.
var SizingModels = []string{"gg1", "erlang"}

// PredictiveSpec parameterises the predictive policy: arrival rates are
// kept per Slot of a Day (a day may be compressed for experiments) over
// Days past days; the Percentile of a slot's rates is its predicted peak,
// provisioned Lead ahead.
type PredictiveSpec struct {
	ResponseTime Duration `yaml:"response_time,omitempty" json:"response_time,omitempty"`
	Slot         Duration `yaml:"slot,omitempty" json:"slot,omitempty"`
	Day          Duration `yaml:"day,omitempty" json:"day,omitempty"`
	Days         int      `yaml:"days,omitempty" json:"days,omitempty"`
	Percentile   float64  `yaml:"percentile,omitempty" json:"percentile,omitempty"`
	Lead         Duration `yaml:"lead,omitempty" json:"lead,omitempty"`
}

// TargetSpec parameterises queue-latency target tracking (as Kubernetes'
// HPA does it): keep the Percentile of queue wait near Target, ignoring
// deviations within Tolerance, scaling up on the lowest recommendation of
// UpWindow and down on the highest of DownWindow.
type TargetSpec struct {
	Target     Duration `yaml:"target,omitempty" json:"target,omitempty"`
	Percentile int      `yaml:"percentile,omitempty" json:"percentile,omitempty"`
	// Zero is a meaningful tolerance or window, so these are nil when not
	// given (the policy's default applies).
	Tolerance  *float64  `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	UpWindow   *Duration `yaml:"up_window,omitempty" json:"up_window,omitempty"`
	DownWindow *Duration `yaml:"down_window,omitempty" json:"down_window,omitempty"`
}
