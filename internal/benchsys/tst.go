package benchsys

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/procstat"
	"github.com/dpc-project/dpc/omq"
)

const (
	// TstService is the service StartTst starts and the benches call:
	// the thesis's Tst-serv.
	TstService = "tst"
	// HubService is the name the hub's built-in functions are bound
	// under.
	HubService = "hub"
)

// TstOptions say which tst system to measure: one to start, or with
// NATS one already running.
type TstOptions struct {
	// NATS is the URL of a running system to measure instead of starting
	// one; PIDs name its processes on this machine (the one named hub is
	// the hub), MetricsURL is the hub's Prometheus endpoint, Creds and
	// TLSCA how to reach it (default: this machine's DPC profile's).
	NATS       string
	PIDs       map[string]int
	MetricsURL string
	Creds      string
	TLSCA      string
	// HubBin and ServiceBin are the binaries to start (default: go build
	// them into the system's temporary directory).
	HubBin, ServiceBin string
	// StartTimeout bounds the start, until the system is ready.
	StartTimeout time.Duration
}

// StartTst starts a hub and instances tst service processes, or, with
// o.NATS, takes the running system at that URL, and waits until tst is
// callable and the hub's catalog lists that many instances of it (at
// least one with o.NATS). On error nothing started is left running.
func StartTst(ctx context.Context, o TstOptions, instances int, progress func(string, ...any)) (_ *System, err error) {
	s := New(progress, "")
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	if o.NATS != "" {
		url, opts, err := hubconn.Resolve(o.NATS, o.Creds, o.TLSCA)
		if err != nil {
			return nil, err
		}
		s.Info = Info{URL: url, MetricsURL: o.MetricsURL}
		s.conn = opts
		names := make([]string, 0, len(o.PIDs))
		for name := range o.PIDs {
			names = append(names, name)
		}
		// The hub first, then the others by name.
		slices.SortFunc(names, func(a, b string) int {
			if (a == HubProc) != (b == HubProc) {
				if a == HubProc {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, name := range names {
			pid := o.PIDs[name]
			if _, err := procstat.CPU(pid); err != nil {
				return nil, fmt.Errorf("--pid %s=%d: %w", name, pid, err)
			}
			s.Procs = append(s.Procs, &Proc{Name: name, PID: pid})
		}
		instances = 1
	} else {
		if err := s.startTst(ctx, o, instances); err != nil {
			return nil, err
		}
	}
	s.recordProcs()
	if err := s.waitTst(ctx, instances); err != nil {
		return nil, err
	}
	return s, nil
}

// startTst builds the binaries it was not given, and starts the hub, then
// the services.
func (s *System) startTst(ctx context.Context, o TstOptions, instances int) error {
	if err := s.MakeDir("dpc-bench-"); err != nil {
		return err
	}
	hubBin, svcBin, err := s.binaries(ctx, o)
	if err != nil {
		return err
	}
	if err := s.StartHub(ctx, hubBin); err != nil {
		return err
	}
	for i := range instances {
		p, err := s.StartProc(fmt.Sprintf("%s#%d", TstService, i+1), svcBin, "--nats", s.Info.URL, TstService)
		if err != nil {
			return err
		}
		s.progress("dpc-service %s (pid %d) started", TstService, p.PID)
	}
	return nil
}

// binaries returns the binaries to run: those given, the others built.
func (s *System) binaries(ctx context.Context, o TstOptions) (hub, svc string, err error) {
	hub, svc = o.HubBin, o.ServiceBin
	var pkgs []string
	if hub == "" {
		pkgs = append(pkgs, HubPackage)
		hub = filepath.Join(s.dir, "dpc-hub")
	}
	if svc == "" {
		pkgs = append(pkgs, ServicePackage)
		svc = filepath.Join(s.dir, "dpc-service")
	}
	if len(pkgs) == 0 {
		return hub, svc, nil
	}
	s.progress("building %s", strings.Join(pkgs, " "))
	if err := Build(ctx, s.dir, pkgs...); err != nil {
		return "", "", err
	}
	return hub, svc, nil
}

// waitTst polls until tst.nopExtra answers and the hub's catalog lists
// at least instances instances of tst, or a process exits, or ctx ends.
func (s *System) waitTst(ctx context.Context, instances int) error {
	node, err := s.Node("dpc-bench probe", omq.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer node.Conn().Close()
	s.Info.ServerVersion = node.Conn().ConnectedServerVersion()
	err = s.waitUntil(ctx, 50*time.Millisecond, "the system was ready", "system not ready", func() error {
		return tstReady(ctx, node, instances)
	})
	if err == nil {
		s.progress("%s callable, the catalog lists %d instance(s) of it", TstService, instances)
	}
	return err
}

// tstReady is one readiness check: a call of tst.nopExtra, and the
// catalog's list of services.
func tstReady(ctx context.Context, node *omq.Node, instances int) error {
	if err := node.Lookup(TstService).Call(ctx, "nopExtra", nil, nil); err != nil {
		return err
	}
	var services []catalog.ServiceInfo
	if err := node.Lookup("catalog").Call(ctx, "services", nil, &services); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	for _, svc := range services {
		if svc.Name == TstService {
			if len(svc.Instances) >= instances {
				return nil
			}
			return fmt.Errorf("catalog lists %d instance(s) of %s, want %d", len(svc.Instances), TstService, instances)
		}
	}
	return fmt.Errorf("catalog does not list %s yet", TstService)
}
