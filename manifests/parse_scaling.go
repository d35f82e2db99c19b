package manifests

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// The fields of a manifest's scaling section.
var (
	scalingFields    = []string{"min", "max", "policy", "reactive", "predictive", "target_tracking", "instances", "idle"}
	reactiveFields   = []string{"response_time", "tau1", "tau2", "model", "percentile"}
	predictiveFields = []string{"response_time", "slot", "day", "days", "percentile", "lead"}
	targetFields     = []string{"target", "percentile", "tolerance", "up_window", "down_window"}
)

// Policies are the scaling policies a manifest may name.
var Policies = []string{"reactive", "predictive", "combined", "target-tracking", "fixed"}

// command reads a service's command line: a list of strings, the program
// first.
func (p *parser) command(n *yaml.Node) []string {
	items := p.seq(n, "command", "a command line as a list, program first, like [dpc-service, tst]")
	var out []string
	for i, it := range items {
		path := "command[" + strconv.Itoa(i) + "]"
		r := resolve(it)
		if r.Kind != yaml.ScalarNode || isNull(r) {
			p.errorf(it, path, "want a word of the command line, got %s", describeNode(r))
			continue
		}
		out = append(out, r.Value)
	}
	if len(items) > 0 && len(out) > 0 && out[0] == "" {
		p.errorf(items[0], "command[0]", "the program is empty")
	}
	return out
}

func (p *parser) scaling(n *yaml.Node) *Scaling {
	r := resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	f := p.mapping(n, "scaling", "a mapping with min, max, policy and the policy's settings", scalingFields)
	if f == nil {
		return nil
	}
	s := &Scaling{
		Min:       p.optInt(f.value("min"), "scaling.min"),
		Max:       p.optInt(f.value("max"), "scaling.max"),
		Policy:    p.str(f.value("policy"), "scaling.policy"),
		Instances: derefInt(p.optInt(f.value("instances"), "scaling.instances")),
		Idle:      p.optDuration(f.value("idle"), "scaling.idle"),
	}
	if s.Policy != "" && !contains(Policies, s.Policy) {
		p.errorf(f.value("policy"), "scaling.policy", "unknown policy %q (want one of %v)", s.Policy, Policies)
	}
	if s.Min != nil && s.Max != nil && *s.Max < *s.Min {
		p.errorf(f.value("max"), "scaling.max", "%d is less than min %d", *s.Max, *s.Min)
	}
	if v := f.value("reactive"); v != nil {
		if g := p.mapping(v, "scaling.reactive", "a mapping with response_time, tau1, tau2, model, percentile", reactiveFields); g != nil {
			s.Reactive = &ReactiveSpec{
				ResponseTime: p.durationOr0(g.value("response_time"), "scaling.reactive.response_time"),
				Tau1:         p.float(g.value("tau1"), "scaling.reactive.tau1"),
				Tau2:         p.float(g.value("tau2"), "scaling.reactive.tau2"),
				Model:        p.str(g.value("model"), "scaling.reactive.model"),
				Percentile:   p.float(g.value("percentile"), "scaling.reactive.percentile"),
			}
			if m := s.Reactive.Model; m != "" && !contains(SizingModels, m) {
				p.errorf(g.value("model"), "scaling.reactive.model", "unknown model %q (want one of %v)", m, SizingModels)
			}
			if q := s.Reactive.Percentile; q != 0 && !(q > 0 && q < 100) {
				p.errorf(g.value("percentile"), "scaling.reactive.percentile", "%v: want a percentile between 0 and 100, like 95", q)
			}
		}
	}
	if v := f.value("predictive"); v != nil {
		if g := p.mapping(v, "scaling.predictive", "a mapping with response_time, slot, day, days, percentile, lead", predictiveFields); g != nil {
			s.Predictive = &PredictiveSpec{
				ResponseTime: p.durationOr0(g.value("response_time"), "scaling.predictive.response_time"),
				Slot:         p.durationOr0(g.value("slot"), "scaling.predictive.slot"),
				Day:          p.durationOr0(g.value("day"), "scaling.predictive.day"),
				Days:         derefInt(p.optInt(g.value("days"), "scaling.predictive.days")),
				Percentile:   p.float(g.value("percentile"), "scaling.predictive.percentile"),
				Lead:         p.durationOr0(g.value("lead"), "scaling.predictive.lead"),
			}
		}
	}
	if v := f.value("target_tracking"); v != nil {
		if g := p.mapping(v, "scaling.target_tracking", "a mapping with target, percentile, tolerance, up_window, down_window", targetFields); g != nil {
			s.TargetTracking = &TargetSpec{
				Target:     p.durationOr0(g.value("target"), "scaling.target_tracking.target"),
				Percentile: derefInt(p.optInt(g.value("percentile"), "scaling.target_tracking.percentile")),
				Tolerance:  p.optFloat(g.value("tolerance"), "scaling.target_tracking.tolerance"),
				UpWindow:   p.optDuration(g.value("up_window"), "scaling.target_tracking.up_window"),
				DownWindow: p.optDuration(g.value("down_window"), "scaling.target_tracking.down_window"),
			}
		}
	}
	return s
}

// optInt reads a non-negative integer; absent or null is nil.
func (p *parser) optInt(n *yaml.Node, path string) *int {
	r := resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	v, err := strconv.Atoi(r.Value)
	if r.Kind != yaml.ScalarNode || err != nil || v < 0 {
		p.errorf(n, path, "want a whole number ≥ 0, got %s", describeNode(r))
		return nil
	}
	return &v
}

// float reads a non-negative number; absent or null is 0.
func (p *parser) float(n *yaml.Node, path string) float64 {
	r := resolve(n)
	if r == nil || isNull(r) {
		return 0
	}
	v, err := strconv.ParseFloat(r.Value, 64)
	if r.Kind != yaml.ScalarNode || err != nil || v < 0 {
		p.errorf(n, path, "want a number ≥ 0, got %s", describeNode(r))
		return 0
	}
	return v
}

// optFloat is float for a field whose zero means something: nil when
// absent or null (or wrong, reported).
func (p *parser) optFloat(n *yaml.Node, path string) *float64 {
	if r := resolve(n); r == nil || isNull(r) {
		return nil
	}
	before := len(p.errs)
	v := p.float(n, path)
	if len(p.errs) > before {
		return nil
	}
	return &v
}

// optDuration is duration for a field whose zero means something.
func (p *parser) optDuration(n *yaml.Node, path string) *Duration {
	if r := resolve(n); r == nil || isNull(r) {
		return nil
	}
	d, ok := p.duration(n, path)
	if !ok {
		return nil
	}
	return &d
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
