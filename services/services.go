// Package services holds the Go services that dpc-service can run by
// name: the thesis's test service (tst) and a text utility limited to the
// notes application (textutil). Each is a manifest from package manifests
// and the handlers of its functions.
package services

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services/textutil"
	"github.com/dpc-project/dpc/services/tst"
)

var handlers = map[string]func() omq.Handlers{
	"tst":      tst.Handlers,
	"textutil": textutil.Handlers,
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
// m is not nil (a manifest file given on the command line).
func Get(name string, m *manifests.Manifest) (servicehost.Service, error) {
	h, ok := handlers[name]
	if !ok {
		return servicehost.Service{}, fmt.Errorf("services: no service %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	if m == nil {
		var err error
		if m, err = manifests.Builtin(name); err != nil {
			return servicehost.Service{}, err
		}
	}
	svc := servicehost.Service{Manifest: m, Handlers: h()}
	return svc, svc.Check()
}
