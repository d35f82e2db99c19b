package catalog

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// The catalog's functions, bound as the omq service "catalog". Arguments go
// by name (a JSON object) or by position in the order listed.
//
//	announce(announcement Announcement)   a hint: an instance may have arrived
//	withdraw(service, instance string)    a hint: it may have left
//	apps() []string                       applications named in app_lists
//	funcs(app string) []FunctionInfo      functions an application may use ("" = all)
//	describe(name string) FunctionInfo    one function, by name or service.name
//	services() []ServiceInfo              services, instances and their load
//
// Besides the live services, the answers list the services asleep (see
// "Asleep services"): no instance, "asleep": true.

// Announcement is what a service instance sends when it starts. The
// catalog takes it as a hint: it reads the instance's manifest and host
// from $SRV.INFO.<manifest name>.<instance>, not from the announcement.
type Announcement struct {
	Instance string              `json:"instance"`
	Host     string              `json:"host"`
	Manifest *manifests.Manifest `json:"manifest"`
}

// FunctionInfo describes one callable function. When live instances of
// its service run several versions, it is the newest version's entry.
type FunctionInfo struct {
	// Name is the qualified name, service.function.
	Name     string             `json:"name"`
	Service  string             `json:"service"`
	Function manifests.Function `json:"function"`
	// Instances counts the live instances, of any version, that have the
	// function.
	Instances int `json:"instances"`
	// Version is the version whose entry Function is; Versions lists
	// every live version that has the function, newest first.
	Version  string   `json:"version"`
	Versions []string `json:"versions"`
	// Asleep: the service has no instance now and may sleep (scaling.min
	// 0); a call wakes it (Instances is 0).
	Asleep bool `json:"asleep,omitempty"`
}

// ServiceInfo describes one live service.
type ServiceInfo struct {
	Name string `json:"name"`
	// Version is the newest live version; Versions lists every live
	// version, newest first (more than one during a rolling upgrade).
	Version  string   `json:"version"`
	Versions []string `json:"versions"`
	// Description is the newest version's.
	Description string `json:"description"`
	// Functions is the union over the live instances' manifests: the
	// newest version's in its order, then those only older versions have.
	Functions []string       `json:"functions"`
	Instances []InstanceInfo `json:"instances"`
	// Asleep: no instance runs, and the service may sleep; a call wakes
	// it. AsleepSince is when its last instance left.
	Asleep      bool       `json:"asleep,omitempty"`
	AsleepSince *time.Time `json:"asleep_since,omitempty"`
}

// InstanceInfo is one live instance and its load.
type InstanceInfo struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Version  string    `json:"version"`
	Since    time.Time `json:"since"`
	LastSeen time.Time `json:"last_seen"`
	// Load, from $SRV.STATS at the time of the query.
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	InFlight     int64   `json:"in_flight"`
	Backlog      int64   `json:"backlog"`
	QueueWaitP90 float64 `json:"queue_wait_p90_s"`
	// State is the instance's own: "ok", "saturated" (every handler slot
	// taken) or "stalled" (saturated with no slot freed for a while: its
	// handlers stopped finishing); empty when it did not answer STATS.
	State string `json:"state,omitempty"`
	// Refused counts calls it sent back busy, to be sent elsewhere.
	Refused int64 `json:"refused"`
}

func (c *Catalog) queries() omq.Handlers {
	return omq.Handlers{
		"announce": omq.HandlerFunc(c.announce),
		"withdraw": omq.HandlerFunc(c.withdraw),
		"apps":     omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return c.Apps(), nil }),
		"funcs":    omq.HandlerFunc(c.funcs),
		"describe": omq.HandlerFunc(c.describe),
		"services": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) { return c.Services(ctx), nil }),
	}
}

// stringArgs reads string arguments by position or by name.
func stringArgs(req *omq.Request, names ...string) ([]string, error) {
	out := make([]string, len(names))
	if t := strings.TrimSpace(string(req.Args)); t != "" && t[0] == '{' {
		named, err := req.Named()
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			if raw, ok := named[n]; ok {
				if err := json.Unmarshal(raw, &out[i]); err != nil {
					return nil, omq.Errorf(omq.CodeBadArguments, "%s: argument %q: want a string", req.Function, n)
				}
			}
		}
		return out, nil
	}
	pos, err := req.Positional()
	if err != nil {
		return nil, err
	}
	if len(pos) > len(names) {
		return nil, omq.Errorf(omq.CodeBadArguments, "%s takes at most %d arguments (%s)", req.Function, len(names), strings.Join(names, ", "))
	}
	for i, raw := range pos {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, omq.Errorf(omq.CodeBadArguments, "%s: argument %q: want a string", req.Function, names[i])
		}
	}
	return out, nil
}

// CodeBusy is the error code of an announce or withdraw refused because
// MaxVerifying checks are already running (or, for announce, because the
// catalog is full). Nothing is lost: the sweep finds a new instance and
// forgets a silent one by itself.
const CodeBusy = 503

// announce takes an announcement as a hint: the instance is added from
// its own $SRV.INFO reply, never from the announced manifest. The reply
// is null once the instance is listed (or if it already was); a 400 if
// the announcement is malformed or the instance did not answer for
// itself within VerifyTimeout; a 503 (CodeBusy) when the catalog is busy
// checking others or full.
func (c *Catalog) announce(ctx context.Context, req *omq.Request) (any, error) {
	var a Announcement
	body := strings.TrimSpace(string(req.Args))
	if strings.HasPrefix(body, "[") {
		var pos []Announcement
		if err := json.Unmarshal(req.Args, &pos); err != nil || len(pos) != 1 {
			return nil, omq.Errorf(omq.CodeBadArguments, "announce takes one announcement {instance, host, manifest}")
		}
		a = pos[0]
	} else if err := json.Unmarshal(req.Args, &a); err != nil {
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: %v", err)
	}
	if a.Manifest == nil || a.Instance == "" {
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: instance and manifest are required")
	}
	// The manifest is checked only to tell a service's author what is
	// wrong with it; what gets listed is what the instance itself says.
	if err := validManifest(a.Manifest, "announcement of "+a.Instance); err != nil {
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: manifest of %s: %v", a.Manifest.Name, err)
	}
	name := a.Manifest.Name
	if !omq.ValidName(a.Instance) {
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: instance %q is not a valid instance id", a.Instance)
	}
	if c.known(name, a.Instance) {
		return nil, nil // the sweeps keep it, or notice it has gone
	}
	if !c.acquire() {
		c.log.Debug("catalog: busy; announce refused", "service", name, "instance", a.Instance)
		return nil, omq.Errorf(CodeBusy, "announce: the catalog is busy checking other instances; it will find %s.%s by itself", name, a.Instance)
	}
	defer c.release()
	if !c.room(name, a.Instance) {
		return nil, omq.Errorf(CodeBusy, "announce: the catalog is full")
	}
	if err := c.verify(ctx, name, a.Instance); err != nil {
		c.log.Debug("catalog: announced instance not added", "service", name, "instance", a.Instance, "err", err)
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: instance %s of %s not added: %v", a.Instance, name, err)
	}
	return nil, nil
}

// withdraw takes a withdrawal as a hint: the instance is removed only if
// it no longer answers $SRV.PING.<service>.<instance>. The reply is null
// either way (a 503 when the catalog is busy).
func (c *Catalog) withdraw(ctx context.Context, req *omq.Request) (any, error) {
	args, err := stringArgs(req, "service", "instance")
	if err != nil {
		return nil, err
	}
	if args[0] == "" || args[1] == "" {
		return nil, omq.Errorf(omq.CodeBadArguments, "withdraw: service and instance are required")
	}
	if !c.known(args[0], args[1]) {
		return nil, nil // nothing to do (and no id to check)
	}
	if !c.acquire() {
		c.log.Debug("catalog: busy; withdraw refused", "service", args[0], "instance", args[1])
		return nil, omq.Errorf(CodeBusy, "withdraw: the catalog is busy checking other instances; it will notice %s.%s has gone by itself", args[0], args[1])
	}
	defer c.release()
	gone, err := c.confirmGone(ctx, args[0], args[1])
	switch {
	case err != nil:
		c.log.Debug("catalog: withdraw not checked", "service", args[0], "instance", args[1], "err", err)
	case gone:
		c.Remove(args[0], args[1], "withdrew")
	default:
		c.log.Debug("catalog: withdraw ignored: the instance still answers", "service", args[0], "instance", args[1])
	}
	return nil, nil
}

// acquire takes a check token if one is free.
func (c *Catalog) acquire() bool {
	select {
	case c.verifying <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *Catalog) release() { <-c.verifying }

func (c *Catalog) funcs(_ context.Context, req *omq.Request) (any, error) {
	args, err := stringArgs(req, "app")
	if err != nil {
		return nil, err
	}
	return c.Functions(args[0]), nil
}

func (c *Catalog) describe(_ context.Context, req *omq.Request) (any, error) {
	args, err := stringArgs(req, "name")
	if err != nil {
		return nil, err
	}
	return c.Describe(args[0])
}

// merged lists the live services, each the union of its instances'
// manifests, by name.
func (c *Catalog) merged() []merged {
	views := c.snapshot()
	out := make([]merged, len(views))
	for i, v := range views {
		out[i] = merge(v)
	}
	return out
}

// Apps lists the applications named in the app_lists of the live
// functions (for a function in several versions, the newest version's
// entry), sorted.
func (c *Catalog) Apps() []string {
	seen := map[string]bool{}
	for _, s := range c.merged() {
		for _, f := range s.functions {
			for _, a := range f.entry.Apps {
				seen[a] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Functions lists the functions app may use ("" for every function),
// sorted by qualified name. Built-in and extra functions are alike. A
// function that several live versions of its service have is listed once,
// with the newest version's entry.
func (c *Catalog) Functions(app string) []FunctionInfo {
	out := []FunctionInfo{}
	for _, s := range c.merged() {
		for _, f := range s.functions {
			if app != "" && !f.entry.AvailableTo(app) {
				continue
			}
			out = append(out, FunctionInfo{
				Name: s.name + "." + f.entry.Name, Service: s.name,
				Function: f.entry, Instances: f.instances,
				Version: f.version, Versions: f.versions, Asleep: !s.asleep.IsZero(),
			})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Describe finds one function by its qualified name (service.function) or
// by its plain name if exactly one live service has it. An ambiguous name
// is a 409 listing the candidates; an unknown one a 404.
func (c *Catalog) Describe(name string) (FunctionInfo, error) {
	if name == "" {
		return FunctionInfo{}, omq.Errorf(omq.CodeBadArguments, "describe: name is required")
	}
	all := c.Functions("")
	var hits []FunctionInfo
	for _, f := range all {
		if f.Name == name || f.Function.Name == name {
			hits = append(hits, f)
		}
	}
	// A qualified name matches exactly one, even if a plain name equals it.
	for _, f := range hits {
		if f.Name == name {
			return f, nil
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return FunctionInfo{}, omq.Errorf(omq.CodeUnknownFunction, "no live service has a function %q", name)
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.Name
	}
	return FunctionInfo{}, omq.Errorf(CodeAmbiguous, "%q is ambiguous: say which of %s", name, strings.Join(names, ", "))
}

// CodeAmbiguous is the error code for a plain function name that several
// services have.
const CodeAmbiguous = 409

// Services lists the live services with their instances, and each
// instance's load from $SRV.STATS.<service> (asked per service, so that
// only the service's own instances can report it).
func (c *Catalog) Services(ctx context.Context) []ServiceInfo {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	services := c.merged()
	// Wait a fixed window rather than a quiet period, so that a busy
	// instance's figures are not left out.
	stats := make([]map[string]omq.Stats, len(services))
	var wg sync.WaitGroup
	for i, s := range services {
		if !s.asleep.IsZero() {
			continue // nothing to ask
		}
		wg.Go(func() {
			sts, _ := c.node.StatsWithin(sctx, s.name, 250*time.Millisecond)
			stats[i] = map[string]omq.Stats{}
			for _, st := range sts {
				if st.Name == s.name {
					stats[i][st.ID] = st
				}
			}
		})
	}
	wg.Wait()
	out := []ServiceInfo{}
	for i, s := range services {
		si := ServiceInfo{
			Name: s.name, Version: s.newest.Version, Versions: s.versions,
			Description: s.newest.Description, Functions: []string{}, Instances: []InstanceInfo{},
		}
		if !s.asleep.IsZero() {
			since := s.asleep
			si.Asleep, si.AsleepSince = true, &since
		}
		for _, f := range s.functions {
			si.Functions = append(si.Functions, f.entry.Name)
		}
		for _, in := range s.instances {
			ii := InstanceInfo{ID: in.id, Host: in.host, Version: in.manifest.Version, Since: in.since, LastSeen: in.lastSeen}
			if st, ok := stats[i][in.id]; ok {
				for _, ep := range st.Endpoints {
					ii.Requests += ep.NumRequests
					ii.Errors += ep.NumErrors
				}
				ii.InFlight, ii.Backlog, ii.QueueWaitP90 = st.Data.InFlight, st.Data.Backlog, st.Data.QueueWaitP90
				ii.State, ii.Refused = st.Data.State, st.Data.Refused
			}
			si.Instances = append(si.Instances, ii)
		}
		out = append(out, si)
	}
	return out
}
