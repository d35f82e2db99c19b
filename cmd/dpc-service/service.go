package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/dpc-project/dpc/execfn"
	"github.com/dpc-project/dpc/internal/command"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
)

// service is what to run: a Go service by name (with its own manifest or
// --manifest), or, with no name, the commands of --manifest.
func (c *CLI) service(log *slog.Logger) (servicehost.Service, error) {
	if c.Service == "" {
		return c.commands(log)
	}
	var m *manifests.Manifest
	if c.Manifest != "" {
		var err error
		if m, err = manifests.Load(c.Manifest); err != nil {
			return servicehost.Service{}, err
		}
		// One mechanism per instance: a Go service's functions are its
		// handlers, and a command would silently go unused.
		for i, f := range m.Functions {
			if len(f.Exec) > 0 {
				return servicehost.Service{}, fmt.Errorf("%s: functions[%d] (%s) names a command (exec), which runs only without a service name: dpc-service --manifest %s",
					c.Manifest, i, f.Name, c.Manifest)
			}
		}
	}
	return services.Get(c.Service, m, services.Options{
		Name:            c.Name,
		ServiceTime:     c.ServiceTime,
		ServiceTimeDist: c.ServiceTimeDist,
	})
}

// commands hosts a manifest whose functions run commands. Every program
// must be on this host: a missing one is reported now, at its line,
// rather than at the first call.
func (c *CLI) commands(log *slog.Logger) (servicehost.Service, error) {
	if c.Manifest == "" {
		return servicehost.Service{}, command.Usage(fmt.Errorf("name a service to run (%s), or give a manifest whose functions run commands: --manifest FILE",
			strings.Join(services.Names(), ", ")))
	}
	m, err := manifests.LoadWith(c.Manifest, manifests.Options{CheckProgram: execfn.CheckProgram})
	if err != nil {
		return servicehost.Service{}, err
	}
	if c.Name != "" && c.Name != m.Name {
		m.Name = c.Name
		if err := m.Validate(); err != nil {
			return servicehost.Service{}, fmt.Errorf("running %s as %q: %w", c.Manifest, c.Name, err)
		}
	}
	svc, err := execfn.Service(m, execfn.Config{PassEnv: c.ExecEnv, Logger: log})
	if err != nil {
		return svc, fmt.Errorf("%s: %w", c.Manifest, err)
	}
	return svc, nil
}
