package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dpc-project/dpc/catalog"
)

// catalogView is what the interactive menus know of the catalog: every
// live function, from one funcs("") query (the applications menu lists
// the applications those functions name, as the catalog's apps() does),
// and the list the last menu was drawn from, to say what has changed
// since.
//
// The menus read the catalog each time one is drawn — after a result, an
// error, an empty line, refresh or change_app — so they follow services
// that arrive or go (announced, withdrawn, found or dropped by the
// catalog's sweep, or a hub restart) without refresh, and a line says
// what changed ("tst is back."). Reading at draw time, rather than
// watching for changes, because:
//
//   - a device may subscribe to its own inbox only (docs/SECURITY.md), so
//     it cannot see announce/withdraw calls or $SRV traffic; and a killed
//     service withdraws nothing: only the catalog's sweep notices it;
//   - change events published by the catalog would be lost while the
//     connection is down (core NATS keeps none) and across a hub restart,
//     so the menu would need this read anyway — and every role a new
//     subject;
//   - a background poll would query every few seconds for a menu nobody
//     is reading, and could still show its news only at the next draw:
//     redrawing a menu while someone types a number would renumber the
//     entries under them.
//
// The cost is bounded by the user: one query per menu drawn, none while
// they think, none while the hub cannot be reached (the menu is then
// drawn from the last list read, and says so).
type catalogView struct {
	fns  []catalog.FunctionInfo // every live function, as last read
	read bool                   // fns has been read at least once
	// shown is what the last menu drawn was made from (drawn: one was);
	// seen holds every service listed at any time in the session.
	shown []catalog.FunctionInfo
	drawn bool
	seen  map[string]bool
	// silent maps a service that no instance answered when one of its
	// functions was chosen to how the catalog listed it then. The catalog
	// notices a killed instance only at its sweep, so until it drops the
	// service, or lists it otherwise (an instance more or less), the menu
	// says that its functions are not available.
	silent map[string]string
}

// errHubUnreachable: the connection is down and reconnecting.
var errHubUnreachable = errors.New("the hub is not reachable at the moment")

// update reads the catalog. While the connection is down it does not try
// (a request would wait for its timeout) and keeps the last list.
func (v *catalogView) update(ctx context.Context, cl *client) error {
	if !cl.nc.IsConnected() {
		return errHubUnreachable
	}
	fns, err := cl.funcs(ctx, "")
	if err != nil {
		return err
	}
	v.fns, v.read = fns, true
	return nil
}

// apps lists the applications the live functions name, sorted.
func (v *catalogView) apps() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range v.fns {
		for _, a := range f.Function.Apps {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// functions lists the live functions app may use (allApps: every one),
// sorted by qualified name.
func (v *catalogView) functions(app string) []catalog.FunctionInfo {
	return appFunctions(v.fns, app)
}

func appFunctions(fns []catalog.FunctionInfo, app string) []catalog.FunctionInfo {
	out := []catalog.FunctionInfo{}
	for _, f := range fns {
		if app == allApps || f.Function.AvailableTo(app) {
			out = append(out, f)
		}
	}
	return out
}

// changes says, one line each, which services have arrived, come back or
// gone since the last menu was drawn, among those with functions for app
// (allApps: any); for a functions menu (withFunctions), also which ones
// now offer other functions. It then takes the current list as drawn.
func (v *catalogView) changes(app string, withFunctions bool) []string {
	var out []string
	if v.drawn {
		was, now := byService(v.shown, app), byService(v.fns, app)
		names := make([]string, 0, len(was)+len(now))
		for s := range was {
			names = append(names, s)
		}
		for s := range now {
			if _, ok := was[s]; !ok {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		for _, s := range names {
			before, wasThere := was[s]
			after, isThere := now[s]
			switch {
			case isThere && !wasThere && v.seen[s]:
				out = append(out, s+" is back.")
			case isThere && !wasThere:
				out = append(out, s+" has arrived.")
			case wasThere && !isThere:
				out = append(out, s+" has gone.")
			case withFunctions && before != after:
				out = append(out, s+" now offers other functions.")
			}
		}
	}
	v.shown, v.drawn = v.fns, true
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	for _, f := range v.fns {
		v.seen[f.Service] = true
	}
	return out
}

// byService maps each service with functions for app to the names of
// those functions, in one string.
func byService(fns []catalog.FunctionInfo, app string) map[string]string {
	out := map[string]string{}
	for _, f := range appFunctions(fns, app) {
		out[f.Service] += f.Function.Name + " "
	}
	return out
}

// listing is how the catalog lists service: its functions, each with its
// number of instances and version; "" if not at all.
func (v *catalogView) listing(service string) string {
	var b strings.Builder
	for _, f := range v.fns {
		if f.Service == service {
			fmt.Fprintf(&b, "%s:%d:%s ", f.Function.Name, f.Instances, f.Version)
		}
	}
	return b.String()
}

// markSilent records that no instance of service answered just now;
// markAnswered that one did.
func (v *catalogView) markSilent(service string) {
	if v.silent == nil {
		v.silent = map[string]string{}
	}
	v.silent[service] = v.listing(service)
}

func (v *catalogView) markAnswered(service string) { delete(v.silent, service) }

// silentServices lists, sorted, the services with functions for app that
// the catalog still lists as it did when they did not answer; the others
// are forgotten.
func (v *catalogView) silentServices(app string) []string {
	listed := byService(v.fns, app)
	var out []string
	for s, was := range v.silent {
		now := v.listing(s)
		switch {
		case now == "" || now != was:
			delete(v.silent, s)
		case listed[s] != "":
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
