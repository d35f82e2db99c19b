package benchsys

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"gopkg.in/yaml.v3"
)

// WorkFunction is the function the elasticity benches call on every
// service.
const WorkFunction = "work"

// The services of the work system.
const (
	ElasticService = "work"
	FixedService   = "work-fixed"
)

// Work is the system of the elasticity benches: the work service
// ("work", each call sleeping ServiceTime) resized by dpc-provisioner
// under Policy between Min and Max instances, and a copy of it,
// "work-fixed", of Fixed instances; or with Direct both started directly,
// Min and Fixed instances, with neither agent nor provisioner.
type Work struct {
	Policy string
	// Model sizes the reactive, predictive and combined policies' counts:
	// "gg1" or "erlang" (see docs/ELASTICITY.md).
	Model string
	// DownWindow, if not negative, is the provisioner's down_window
	// (negative: its default).
	DownWindow      time.Duration
	Min, Max, Fixed int
	ServiceTime     time.Duration
	ServiceTimeDist string // fixed or exp
	Concurrency     int
	Period          time.Duration // the provisioner's
	// Day is the predictive policy's day; SLA the p95 latency the
	// policies' targets are derived from.
	Day    time.Duration
	SLA    time.Duration
	Direct bool
	// BinDir has dpc-hub, dpc-service, dpc-agent and dpc-provisioner
	// built; "" builds them into the system's temporary directory.
	BinDir       string
	StartTimeout time.Duration
}

// ServiceCommand is the command line of one of the replay's services.
func (c Work) ServiceCommand(name string) []string {
	cmd := []string{"dpc-service", ElasticService}
	if name != ElasticService {
		cmd = append(cmd, "--name", name)
	}
	return append(cmd, "--service-time", c.ServiceTime.String(), "--service-time-dist", c.ServiceTimeDist,
		"--concurrency", strconv.Itoa(c.Concurrency))
}

// ProvisionerConfig is dpc-provisioner's config file for the replay: the
// elastic service under c.Policy, with every policy's settings derived
// from the SLA and the curve's day, and the fixed one.
func (c Work) ProvisionerConfig() ([]byte, error) {
	// A slot of a 24th of the day (5s of the default 2m day), at least the
	// period, so that each slot holds a few observations; the lead as
	// long, to have instances up before the slot's load comes.
	slot := max(c.Day/24, c.Period).Round(time.Second)
	// The G/G/1 sizing bounds the mean response time; the SLA is on the
	// p95. Queue waits have roughly exponential tails (p95 ≈ 3× the
	// mean), so a mean of half the SLA keeps the p95 near it. The erlang
	// model takes the p95 itself; the queue model sees neither the trip
	// through the hub nor an instance's start, so a fifth of the SLA is
	// left for them.
	d := c.SLA / 2
	var model string
	var q float64
	if c.Model == provisioner.ModelErlang {
		d, model, q = c.SLA*4/5, provisioner.ModelErlang, 95
	}
	dur := func(t time.Duration) manifests.Duration { return manifests.Duration(t) }
	minN, maxN, fixed := c.Min, c.Max, c.Fixed
	tolerance, ttWindow := 0.1, dur(10*c.Period)
	fc := provisioner.FileConfig{
		Period: dur(c.Period),
		// The history lives as long as the provisioner: the replay's own
		// training days fill it, and nothing of an earlier run leaks in.
		History: "memory",
		Services: []provisioner.ServiceSpec{{
			Name: ElasticService,
			Scaling: manifests.Scaling{
				Min: &minN, Max: &maxN, Policy: c.Policy,
				Reactive:   &manifests.ReactiveSpec{ResponseTime: dur(d), Tau1: 1.2, Tau2: 0.5, Model: model, Percentile: q},
				Predictive: &manifests.PredictiveSpec{ResponseTime: dur(d), Slot: dur(slot), Day: dur(c.Day), Days: 7, Percentile: 95, Lead: dur(slot)},
				// Queue wait at half the SLA leaves the other half for
				// the service time and the trip through the hub.
				TargetTracking: &manifests.TargetSpec{Target: dur(c.SLA / 2), Percentile: 90, Tolerance: &tolerance, DownWindow: &ttWindow},
			},
		}, {
			Name:    FixedService,
			Scaling: manifests.Scaling{Min: &fixed, Max: &fixed, Policy: "fixed"},
		}},
	}
	if c.DownWindow >= 0 {
		w := dur(c.DownWindow)
		fc.DownWindow = &w
	}
	return yaml.Marshal(fc)
}

// AgentConfig is dpc-agent's config file for the replay: its own commands
// for both services (spawn requests name the service only).
func (c Work) AgentConfig() ([]byte, error) {
	type service struct {
		Command []string `yaml:"command"`
	}
	return yaml.Marshal(struct {
		Services map[string]service `yaml:"services"`
	}{map[string]service{
		ElasticService: {c.ServiceCommand(ElasticService)},
		FixedService:   {c.ServiceCommand(FixedService)},
	}})
}

// StartWork builds the binaries (unless c.BinDir), starts the hub, the
// agent and the provisioner (or, with --direct, the services), and waits
// until both services are up with their starting instances. The
// provisioner's config is also written to out.
func StartWork(ctx context.Context, c Work, out string, progress func(string, ...any)) (_ *System, err error) {
	// The processes' logs go with the results: the provisioner's are its
	// decisions and their reasons.
	s := New(progress, filepath.Join(out, "logs"))
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
	defer cancel()
	if err := s.MakeDir("dpc-bench-replay-"); err != nil {
		return nil, err
	}

	bin := c.BinDir
	pkgs := []string{HubPackage, ServicePackage}
	if !c.Direct {
		pkgs = append(pkgs, AgentPackage, ProvisionerPackage)
	}
	if bin == "" {
		bin = filepath.Join(s.dir, "bin")
		progress("building %s", strings.Join(pkgs, " "))
		if err := Build(ctx, bin, pkgs...); err != nil {
			return nil, fmt.Errorf("%w\n(or give --bin-dir)", err)
		}
	}
	binary := func(pkg string) (string, error) {
		p := filepath.Join(bin, filepath.Base(pkg))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("--bin-dir: %w", err)
		}
		return p, nil
	}
	paths := map[string]string{}
	for _, pkg := range pkgs {
		if paths[pkg], err = binary(pkg); err != nil {
			return nil, err
		}
	}
	if err := s.StartHub(ctx, paths[HubPackage]); err != nil {
		return nil, err
	}

	if c.Direct {
		for _, sv := range []struct {
			name string
			n    int
		}{{ElasticService, c.Min}, {FixedService, c.Fixed}} {
			for i := range sv.n {
				id := fmt.Sprintf("%s-%d", sv.name, i+1)
				args := append([]string{"--nats", s.Info.URL, "--instance-id", id}, c.ServiceCommand(sv.name)[1:]...)
				p, err := s.StartProc(id, paths[ServicePackage], args...)
				if err != nil {
					return nil, err
				}
				progress("dpc-service %s (pid %d) started", id, p.PID)
			}
		}
	} else {
		cfg, err := c.ProvisionerConfig()
		if err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(out, "provisioner.yml")
		if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
			return nil, err
		}
		agentCfg, err := c.AgentConfig()
		if err != nil {
			return nil, err
		}
		agentCfgPath := filepath.Join(out, "agent.yml")
		if err := os.WriteFile(agentCfgPath, agentCfg, 0o644); err != nil {
			return nil, err
		}
		// The agent runs dpc-service by its name in its configured
		// commands: the binaries' directory goes first on its PATH.
		path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
		agent, agentReady, err := s.StartProcReady("agent", paths[AgentPackage], []string{path}, "dpc-agent ready",
			"--nats", s.Info.URL, "--id", "replay", "--config", agentCfgPath, "--log-format", "json")
		if err != nil {
			return nil, err
		}
		if err := agent.WaitReady(ctx, agentReady); err != nil {
			return nil, err
		}
		progress("dpc-agent (pid %d) ready", agent.PID)
		prov, ready, err := s.StartProcReady("provisioner", paths[ProvisionerPackage], []string{path}, "dpc-provisioner ready",
			"--nats", s.Info.URL, "--config", cfgPath, "--metrics", "127.0.0.1:0", "--log-format", "json")
		if err != nil {
			return nil, err
		}
		if err := prov.WaitReady(ctx, ready); err != nil {
			return nil, err
		}
		progress("dpc-provisioner (pid %d) ready, config %s", prov.PID, cfgPath)
	}
	s.recordProcs()
	if err := c.waitServices(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// waitServices polls until work answers with at least c.Min instances and
// work-fixed with c.Fixed, or a process exits, or ctx ends.
func (c Work) waitServices(ctx context.Context, s *System) error {
	node, err := s.Node("dpc-bench replay probe")
	if err != nil {
		return err
	}
	defer node.Conn().Close()
	s.Info.ServerVersion = node.Conn().ConnectedServerVersion()
	want := map[string]int{ElasticService: c.Min, FixedService: c.Fixed}
	err = s.waitUntil(ctx, 250*time.Millisecond, "the services were up", "services not up", func() error {
		for _, name := range []string{ElasticService, FixedService} {
			pings, err := node.PingWithin(ctx, name, 200*time.Millisecond)
			if err == nil && len(pings) < want[name] {
				err = fmt.Errorf("%s has %d instance(s), want %d", name, len(pings), want[name])
			}
			if err == nil {
				err = node.Lookup(name).Call(ctx, WorkFunction, nil, nil, omq.Timeout(2*time.Second))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.progress("%s has %d instance(s) and %s %d: starting the load", ElasticService, want[ElasticService], FixedService, want[FixedService])
	}
	return err
}
