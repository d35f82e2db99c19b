// Package services holds the Go services that dpc-service can run by
// name: the thesis's test service (tst), a text utility limited to the
// notes application (textutil), and a service of set service time for
// elasticity experiments (work). Each is a manifest from package
// manifests and the handlers of its functions.
package services

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services/textutil"
	"github.com/dpc-project/dpc/services/tst"
	"github.com/dpc-project/dpc/services/work"
)

// Options are what dpc-service's flags set for every service; each
// service reads the ones that apply to it. The zero value runs a service
// as its manifest describes it, with the defaults.
type Options struct {
	// Name, when set, is the name to run the service under instead of its
	// manifest's: instances under another name form their own queue group,
	// so two configurations of one service can run side by side.
	Name string
	// ServiceTime is the mean time a call of work takes (default
	// work.DefaultServiceTime).
	ServiceTime time.Duration
	// ServiceTimeDist is how work draws each call's service time: "fixed"
	// (default) or "exp".
	ServiceTimeDist string
}

var handlers = map[string]func(Options) omq.Handlers{
	"tst":      func(Options) omq.Handlers { return tst.Handlers() },
	"textutil": func(Options) omq.Handlers { return textutil.Handlers() },
	"work": func(o Options) omq.Handlers {
		return work.Handlers(work.Config{ServiceTime: o.ServiceTime, Dist: work.Dist(o.ServiceTimeDist)})
	},
}

// Names lists the services that can be run by name, sorted.
func Names() []string {
	out := make([]string, 0, len(handlers))
	for n := range handlers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Get returns a service by name with its embedded manifest, or with m if
// m is not nil (a manifest file given on the command line), configured by
// opts.
func Get(name string, m *manifests.Manifest, opts Options) (servicehost.Service, error) {
	h, ok := handlers[name]
	if !ok {
		return servicehost.Service{}, fmt.Errorf("services: no service %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	// Every service gets the check, not only work: a bad value is a
	// mistake on the command line even where it would be ignored.
	wc := work.Config{ServiceTime: opts.ServiceTime, Dist: work.Dist(opts.ServiceTimeDist)}
	if err := wc.Check(); err != nil {
		return servicehost.Service{}, fmt.Errorf("services: %w", err)
	}
	if m == nil {
		var err error
		if m, err = manifests.Builtin(name); err != nil {
			return servicehost.Service{}, err
		}
	}
	if opts.Name != "" && opts.Name != m.Name {
		// Builtin returns a fresh manifest, but one from the caller is
		// the caller's: rename a copy.
		renamed := *m
		renamed.Name = opts.Name
		if err := renamed.Validate(); err != nil {
			return servicehost.Service{}, fmt.Errorf("services: running %s as %q: %w", name, opts.Name, err)
		}
		m = &renamed
	}
	svc := servicehost.Service{Manifest: m, Handlers: h(opts)}
	return svc, svc.Check()
}
