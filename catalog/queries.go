package catalog

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// The catalog's functions, bound as the omq service "catalog". Arguments go
// by name (a JSON object) or by position in the order listed.
//
//	announce(announcement Announcement)   a service instance arrives
//	withdraw(service, instance string)    it leaves gracefully
//	apps() []string                       applications named in app_lists
//	funcs(app string) []FunctionInfo      functions an application may use ("" = all)
//	describe(name string) FunctionInfo    one function, by name or service.name
//	services() []ServiceInfo              services, instances and their load

// Announcement is what a service instance sends when it starts.
type Announcement struct {
	Instance string              `json:"instance"`
	Host     string              `json:"host"`
	Manifest *manifests.Manifest `json:"manifest"`
}

// FunctionInfo describes one callable function.
type FunctionInfo struct {
	// Name is the qualified name, service.function.
	Name      string             `json:"name"`
	Service   string             `json:"service"`
	Function  manifests.Function `json:"function"`
	Instances int                `json:"instances"`
}

// ServiceInfo describes one live service.
type ServiceInfo struct {
	Name        string         `json:"name"`
	Version     string         `json:"version"`
	Description string         `json:"description"`
	Functions   []string       `json:"functions"`
	Instances   []InstanceInfo `json:"instances"`
}

// InstanceInfo is one live instance and its load.
type InstanceInfo struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Since    time.Time `json:"since"`
	LastSeen time.Time `json:"last_seen"`
	// Load, from $SRV.STATS at the time of the query.
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	InFlight     int64   `json:"in_flight"`
	Backlog      int64   `json:"backlog"`
	QueueWaitP90 float64 `json:"queue_wait_p90_s"`
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

func (c *Catalog) announce(_ context.Context, req *omq.Request) (any, error) {
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
	if err := validManifest(a.Manifest, "announcement of "+a.Instance); err != nil {
		return nil, omq.Errorf(omq.CodeBadArguments, "announce: manifest of %s: %v", a.Manifest.Name, err)
	}
	c.Add(a.Manifest, a.Instance, a.Host)
	return nil, nil
}

func (c *Catalog) withdraw(_ context.Context, req *omq.Request) (any, error) {
	args, err := stringArgs(req, "service", "instance")
	if err != nil {
		return nil, err
	}
	if args[0] == "" || args[1] == "" {
		return nil, omq.Errorf(omq.CodeBadArguments, "withdraw: service and instance are required")
	}
	c.Remove(args[0], args[1], "withdrew")
	return nil, nil
}

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

// Apps lists the applications named in the app_lists of live services,
// sorted.
func (c *Catalog) Apps() []string {
	seen := map[string]bool{}
	for _, s := range c.snapshot() {
		for _, f := range s.manifest.Functions {
			for _, a := range f.Apps {
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
// sorted by qualified name. Built-in and extra functions are alike.
func (c *Catalog) Functions(app string) []FunctionInfo {
	out := []FunctionInfo{}
	for _, s := range c.snapshot() {
		for _, f := range s.manifest.Functions {
			if app != "" && !f.AvailableTo(app) {
				continue
			}
			out = append(out, FunctionInfo{
				Name: s.manifest.Name + "." + f.Name, Service: s.manifest.Name,
				Function: f, Instances: len(s.instances),
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
// instance's load from $SRV.STATS.
func (c *Catalog) Services(ctx context.Context) []ServiceInfo {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Stats from the instances the catalog knows of: wait a fixed window
	// rather than a quiet period, so a busy instance's figures are not
	// left out.
	stats, _ := c.node.StatsWithin(sctx, "", 250*time.Millisecond)
	byID := map[string]omq.Stats{}
	for _, st := range stats {
		byID[st.ID] = st
	}
	out := []ServiceInfo{}
	for _, s := range c.snapshot() {
		si := ServiceInfo{Name: s.manifest.Name, Version: s.manifest.Version, Description: s.manifest.Description}
		for _, f := range s.manifest.Functions {
			si.Functions = append(si.Functions, f.Name)
		}
		for _, in := range s.instances {
			ii := InstanceInfo{ID: in.id, Host: in.host, Since: in.since, LastSeen: in.lastSeen}
			if st, ok := byID[in.id]; ok {
				for _, ep := range st.Endpoints {
					ii.Requests += ep.NumRequests
					ii.Errors += ep.NumErrors
				}
				ii.InFlight, ii.Backlog, ii.QueueWaitP90 = st.Data.InFlight, st.Data.Backlog, st.Data.QueueWaitP90
			}
			si.Instances = append(si.Instances, ii)
		}
		out = append(out, si)
	}
	return out
}
