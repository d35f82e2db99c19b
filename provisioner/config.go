package provisioner

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"gopkg.in/yaml.v3"
)

// Default limits of a service that gives none.
const (
	DefaultMin = 1
	DefaultMax = 8
	// DefaultIdle is how long a min-0 service may handle no calls before
	// it is scaled to zero: long enough that a person's next call, a few
	// seconds or tens of seconds later, does not pay a cold start again;
	// short next to Knative's and OpenFaaS's defaults (a minute and
	// more), since a DPC cold start costs a few hundred milliseconds.
	DefaultIdle = 30 * time.Second
	// DefaultDownWindow is Service.DownWindow for every policy but
	// target-tracking (whose own down_window defaults to 30s). A policy
	// sizing from each period's rate sees Poisson noise: at 100 calls/s a
	// second's count varies by ±10, enough to cross the boundary between
	// two counts in a third of the periods; the higher count must then
	// win in none of the last ten 1 s periods (five of the default 2 s)
	// before an instance stops, which noise alone does in about 2 rounds
	// in 10⁵ (0.34¹⁰). Longer holds surplus instances for longer after a real
	// drop, which costs little: ours start in well under a second, so the
	// window need not also cover a slow start, as the HPA's 5 minutes do.
	DefaultDownWindow = 10 * time.Second
)

// FileConfig is dpc-provisioner's YAML configuration file:
//
//	period: 2s            # time between rounds
//	window: 250ms         # how long a round waits for replies
//	agent_expiry: 6s      # silence after which an agent's instances are re-created elsewhere
//	grace: 10s            # SIGTERM → SIGKILL when stopping an instance (0: the agent's own)
//	start_timeout: 30s    # time a started process has to appear in $SRV under its instance id
//	history: kv           # predictive history: kv (JetStream, survives restarts) or memory
//	lease_expiry: 6s      # with history kv: a standby takes over after the active one has not renewed for this long
//	down_window: 10s      # scale down only to the highest count of this long (not target-tracking: it has its own)
//	services:
//	  - name: work
//	    manifest: work.yml    # optional: scaling from the manifest
//	    min: 1
//	    max: 8
//	    policy: target-tracking
//	    target_tracking: {target: 50ms, percentile: 90, tolerance: 0.1, down_window: 30s}
//	  - name: report
//	    min: 0                # scaled to zero while idle, started by the first call
//	    idle: 30s             # no calls for this long: scaled to zero (default 30s)
//	    policy: fixed
//	    instances: 1
//
// A service's scaling fields override its manifest's. How an instance
// starts is up to the agents (their config, the manifests installed on
// their hosts): a service may not have a command here, and a manifest's
// is ignored.
type FileConfig struct {
	Period       manifests.Duration `yaml:"period,omitempty"`
	Window       manifests.Duration `yaml:"window,omitempty"`
	AgentExpiry  manifests.Duration `yaml:"agent_expiry,omitempty"`
	Grace        manifests.Duration `yaml:"grace,omitempty"`
	StartTimeout manifests.Duration `yaml:"start_timeout,omitempty"`
	History      string             `yaml:"history,omitempty"`
	LeaseExpiry  manifests.Duration `yaml:"lease_expiry,omitempty"`
	// DownWindow, if set, is every service's Service.DownWindow but
	// target-tracking ones' (0s: none); unset, DefaultDownWindow.
	DownWindow *manifests.Duration `yaml:"down_window,omitempty"`
	Services   []ServiceSpec       `yaml:"services"`

	file string
}

// ServiceSpec is one service of the file.
type ServiceSpec struct {
	Name              string `yaml:"name"`
	Manifest          string `yaml:"manifest,omitempty"`
	manifests.Scaling `yaml:",inline"`
}

// LoadConfig reads and checks a config file. Unknown keys and wrong types
// are errors naming the file and line.
func LoadConfig(path string) (*FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("provisioner: config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses a config file's contents; name is used in messages.
func ParseConfig(name string, data []byte) (*FileConfig, error) {
	if err := noCommands(name, data); err != nil {
		return nil, err
	}
	var fc FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("provisioner: config %s: %w", name, err)
	}
	fc.file = name
	var errs []error
	seen := map[string]bool{}
	for i, s := range fc.Services {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("provisioner: config %s: services[%d]: name: missing", name, i))
		case !omq.ValidName(s.Name):
			errs = append(errs, fmt.Errorf("provisioner: config %s: services[%d]: name %q: use letters, digits, '-' and '_' only", name, i, s.Name))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("provisioner: config %s: services[%d]: %q is already configured", name, i, s.Name))
		}
		seen[s.Name] = true
		if s.Policy != "" && !slices.Contains(manifests.Policies, s.Policy) {
			errs = append(errs, fmt.Errorf("provisioner: config %s: services[%d] (%s): policy %q: want one of %v", name, i, s.Name, s.Policy, manifests.Policies))
		}
	}
	if fc.DownWindow != nil && *fc.DownWindow < 0 {
		errs = append(errs, fmt.Errorf("provisioner: config %s: down_window %v: want ≥ 0", name, fc.DownWindow.D()))
	}
	switch fc.History {
	case "", "kv", "memory":
	default:
		errs = append(errs, fmt.Errorf("provisioner: config %s: history %q: want kv or memory", name, fc.History))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &fc, nil
}

// noCommands refuses a service with a command, which the supervisor once
// sent in its spawn requests: agents now refuse requests that bring one.
func noCommands(name string, data []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil // the decoder reports it
	}
	var services *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "services" {
			services = root.Content[i+1]
		}
	}
	if services == nil || services.Kind != yaml.SequenceNode {
		return nil
	}
	var errs []error
	for i, svc := range services.Content {
		for j := 0; j+1 < len(svc.Content); j += 2 {
			if k := svc.Content[j]; k.Value == "command" {
				errs = append(errs, fmt.Errorf("provisioner: config %s:%d: services[%d].command: agents no longer take a command from the provisioner; "+
					"give it to the agents: install the service's manifest with its command in their --manifests directory, or put it in their config's services", name, k.Line, i))
			}
		}
	}
	return errors.Join(errs...)
}

// Supervisor returns the supervisor settings of the file over base:
// fields the file leaves out keep base's.
func (fc *FileConfig) Supervisor(base Config) Config {
	if fc.Period > 0 {
		base.Period = fc.Period.D()
		if fc.AgentExpiry == 0 {
			base.AgentExpiry = 3 * base.Period
		}
		if fc.Window == 0 {
			base.Window = min(base.Window, base.Period/4)
		}
	}
	if fc.Window > 0 {
		base.Window = fc.Window.D()
	}
	if fc.AgentExpiry > 0 {
		base.AgentExpiry = fc.AgentExpiry.D()
	}
	if fc.Grace > 0 {
		base.Grace = fc.Grace.D()
	}
	if fc.StartTimeout > 0 {
		base.StartTimeout = fc.StartTimeout.D()
	}
	return base
}

// Lease returns the lease settings of the file for a supervisor of the
// given period: lease_expiry, else three periods; renewed every period.
func (fc *FileConfig) Lease(period time.Duration) LeaseConfig {
	lc := LeaseConfig{Expiry: 3 * period, Renew: period}
	if fc.LeaseExpiry > 0 {
		lc.Expiry = fc.LeaseExpiry.D()
	}
	return lc
}

// BuildServices builds the services of the file, each with its own
// policy (policies keep per-service state). A service's manifest, if
// named, is read relative to the working directory. hist is the
// predictive policies' history (shared: it is keyed by service).
func (fc *FileConfig) BuildServices(hist History) ([]Service, error) {
	var out []Service
	var errs []error
	for _, spec := range fc.Services {
		svc, err := spec.Build(hist)
		if err != nil {
			errs = append(errs, fmt.Errorf("provisioner: config %s: service %s: %w", fc.file, spec.Name, err))
			continue
		}
		if fc.DownWindow != nil && svc.DownWindow > 0 {
			svc.DownWindow = fc.DownWindow.D()
		}
		out = append(out, svc)
	}
	return out, errors.Join(errs...)
}

// Build turns the spec (over its manifest, if any) into a Service.
func (spec ServiceSpec) Build(hist History) (Service, error) {
	sc := spec.Scaling
	if spec.Manifest != "" {
		m, err := manifests.Load(spec.Manifest)
		if err != nil {
			return Service{}, err
		}
		if m.Name != spec.Name {
			return Service{}, fmt.Errorf("manifest %s describes %q, not %q", spec.Manifest, m.Name, spec.Name)
		}
		if m.Scaling != nil {
			sc = overlay(*m.Scaling, sc)
		}
	}
	return ServiceFromScaling(spec.Name, sc, hist)
}

// overlay returns base with every field top sets replaced.
func overlay(base, top manifests.Scaling) manifests.Scaling {
	if top.Min != nil {
		base.Min = top.Min
	}
	if top.Max != nil {
		base.Max = top.Max
	}
	if top.Policy != "" {
		base.Policy = top.Policy
	}
	// Field by field: a config's {tau1: 1.5} must not drop the manifest's
	// response_time.
	if t := top.Reactive; t != nil {
		m := deref(base.Reactive)
		m.ResponseTime = cmp.Or(t.ResponseTime, m.ResponseTime)
		m.Tau1, m.Tau2 = cmp.Or(t.Tau1, m.Tau1), cmp.Or(t.Tau2, m.Tau2)
		base.Reactive = &m
	}
	if t := top.Predictive; t != nil {
		m := deref(base.Predictive)
		m.ResponseTime = cmp.Or(t.ResponseTime, m.ResponseTime)
		m.Slot, m.Day, m.Lead = cmp.Or(t.Slot, m.Slot), cmp.Or(t.Day, m.Day), cmp.Or(t.Lead, m.Lead)
		m.Days, m.Percentile = cmp.Or(t.Days, m.Days), cmp.Or(t.Percentile, m.Percentile)
		base.Predictive = &m
	}
	if t := top.TargetTracking; t != nil {
		m := deref(base.TargetTracking)
		m.Target, m.Percentile = cmp.Or(t.Target, m.Target), cmp.Or(t.Percentile, m.Percentile)
		m.Tolerance = cmp.Or(t.Tolerance, m.Tolerance)
		m.UpWindow, m.DownWindow = cmp.Or(t.UpWindow, m.UpWindow), cmp.Or(t.DownWindow, m.DownWindow)
		base.TargetTracking = &m
	}
	if top.Instances != 0 {
		base.Instances = top.Instances
	}
	if top.Idle != nil {
		base.Idle = top.Idle
	}
	return base
}

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// ServiceFromScaling builds a Service from a scaling section (a
// manifest's, or a config file's). The policy defaults to
// target-tracking: it needs nothing but a queue-wait target, and its
// default target suits interactive calls.
func ServiceFromScaling(name string, sc manifests.Scaling, hist History) (Service, error) {
	lim := Limits{Min: DefaultMin, Max: DefaultMax}
	if sc.Min != nil {
		lim.Min = *sc.Min
	}
	if sc.Max != nil {
		lim.Max = *sc.Max
	} else if lim.Min > lim.Max {
		lim.Max = lim.Min
	}
	if lim.Min < 0 || lim.Max < lim.Min || lim.Max == 0 {
		return Service{}, fmt.Errorf("limits min %d, max %d: want 0 ≤ min ≤ max, max ≥ 1", lim.Min, lim.Max)
	}
	pol, err := NewPolicy(sc, lim, hist)
	if err != nil {
		return Service{}, err
	}
	svc := Service{Name: name, Limits: lim, Policy: pol}
	if _, own := pol.(*TargetTracking); !own {
		svc.DownWindow = DefaultDownWindow
	}
	if lim.Min == 0 {
		svc.Idle = DefaultIdle
		if sc.Idle != nil {
			svc.Idle = sc.Idle.D()
		}
	}
	return svc, nil
}

// NewPolicy builds the policy a scaling section names, with its settings
// over the policy's defaults.
func NewPolicy(sc manifests.Scaling, lim Limits, hist History) (Provisioner, error) {
	policy := sc.Policy
	if policy == "" {
		policy = "target-tracking"
	}
	rc := DefaultReactiveConfig()
	if r := sc.Reactive; r != nil {
		rc.ResponseTime = cmp.Or(r.ResponseTime.D(), rc.ResponseTime)
		rc.Tau1 = cmp.Or(r.Tau1, rc.Tau1)
		rc.Tau2 = cmp.Or(r.Tau2, rc.Tau2)
		rc.Model, rc.SLAPercentile = r.Model, r.Percentile
	}
	pc := DefaultPredictiveConfig()
	if p := sc.Predictive; p != nil {
		pc.ResponseTime = cmp.Or(p.ResponseTime.D(), pc.ResponseTime)
		pc.Slot = cmp.Or(p.Slot.D(), pc.Slot)
		pc.Day = cmp.Or(p.Day.D(), pc.Day)
		pc.Days = cmp.Or(p.Days, pc.Days)
		pc.Percentile = cmp.Or(p.Percentile, pc.Percentile)
		pc.Lead = cmp.Or(p.Lead.D(), pc.Lead)
	}
	// One sizing model for both halves of the combined policy.
	pc.Model, pc.SLAPercentile = rc.Model, rc.SLAPercentile
	if sc.Predictive == nil || sc.Predictive.ResponseTime == 0 {
		// One SLA for both halves of the combined policy unless told.
		pc.ResponseTime = rc.ResponseTime
	}
	if hist == nil {
		hist = NewMemoryHistory()
	}
	// The policies' own checks name Go fields; name the YAML ones first.
	switch {
	case (policy == "reactive" || policy == "combined") && rc.ResponseTime == 0:
		return nil, fmt.Errorf("policy %s: reactive.response_time missing: the SLA's target d for a high percentile of response time, like 100ms", policy)
	case policy == "predictive" && pc.ResponseTime == 0:
		return nil, fmt.Errorf("policy predictive: predictive.response_time missing: the SLA's target d for a high percentile of response time, like 100ms")
	case policy == "target-tracking" && (sc.TargetTracking == nil || sc.TargetTracking.Target == 0):
		return nil, fmt.Errorf("policy target-tracking: target_tracking.target missing: the queue wait to hold, like 50ms")
	}
	switch policy {
	case "reactive":
		return NewReactive(rc)
	case "predictive":
		return NewPredictive(pc, hist)
	case "combined":
		p, err := NewPredictive(pc, hist)
		if err != nil {
			return nil, err
		}
		return NewCombined(p, rc)
	case "target-tracking":
		tc := DefaultTargetTrackingConfig()
		if t := sc.TargetTracking; t != nil {
			tc.Target = cmp.Or(t.Target.D(), tc.Target)
			tc.Percentile = cmp.Or(t.Percentile, tc.Percentile)
			if t.Tolerance != nil {
				tc.Tolerance = *t.Tolerance
			}
			if t.UpWindow != nil {
				tc.UpWindow = t.UpWindow.D()
			}
			if t.DownWindow != nil {
				tc.DownWindow = t.DownWindow.D()
			}
		}
		return NewTargetTracking(tc)
	case "fixed":
		n := sc.Instances
		if n == 0 {
			n = lim.Min
		}
		if n < 0 {
			return nil, fmt.Errorf("policy fixed: instances %d: want ≥ 0", n)
		}
		return Fixed{N: n}, nil
	}
	return nil, fmt.Errorf("policy %q: want one of %v", policy, manifests.Policies)
}
