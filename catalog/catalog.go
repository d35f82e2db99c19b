// Package catalog is the hub's view of the live DPC services: which
// services run, on which instances, with which manifests, and which
// functions each application may use.
//
// # Trust
//
// The catalog believes only what the NATS server vouches for. Once the
// server enforces per-identity permissions, the one guarantee is that a
// reply to a request sent to $SRV.<VERB>.<name> or $SRV.<VERB>.<name>.<id>
// comes from an identity allowed to serve <name>. Anyone may call announce
// and withdraw, and any service may answer the bare $SRV.PING claiming to
// be anything, so:
//
//   - announce(instance, host, manifest) is a hint. The announced manifest
//     is not used: the catalog asks $SRV.INFO.<manifest.name>.<instance>
//     and adds the instance from that reply's metadata (dpc.manifest,
//     dpc.host) if the reply's name and id are the ones asked for.
//   - withdraw(service, instance) is a hint. The catalog asks
//     $SRV.PING.<service>.<instance>; it removes the instance only if
//     nobody answers (no responders or timeout) and keeps it otherwise.
//     servicehost stops answering before it withdraws, so a real withdraw
//     takes effect at once.
//   - A sweep (every Interval) sends one bare $SRV.PING, whose replies only
//     nominate (name, id) pairs: each one not yet known is looked up with
//     $SRV.INFO.<name>.<id>, and only that reply is used. Liveness comes
//     from one $SRV.PING.<name> per known service name in the same window:
//     the ids that answer there are alive, and an instance that has not
//     answered for Expiry is gone. A forged bare PING reply can neither
//     add an instance nor keep a dead one alive.
//
// The work is bounded. A sweep sends one bare PING and one PING per known
// service name, plus one INFO per nominated unknown instance (at most
// MaxVerifying at a time, within the sweep's Interval, the names taken in
// turn so that one service's nominations cannot starve another's). At most
// MaxVerifying announce and withdraw checks run at once; more are refused
// at once with a 503 (CodeBusy) rather than queued — the sweep finds a
// real instance anyway. The catalog holds at most MaxServices services
// and MaxInstances instances; what does not fit is ignored, with a Warn
// log at most once per sweep.
//
// # Versions
//
// Manifests are kept per instance: during a rolling upgrade two versions
// of one service are listed side by side, each instance with its version,
// and an instance that goes takes its manifest with it. A service's
// functions are the union over its live instances' manifests. For a
// function that several versions have, funcs and describe report the
// entry of the newest version (SemVer precedence; for equal versions, the
// most recently arrived instance's) — its signature, app_list and options
// — with "version" that version, "versions" every live version that has
// the function (newest first), and "instances" the number of live
// instances, of any version, that have it. apps() lists the applications
// of those reported entries, so apps and funcs agree. services() gives a
// service's newest version as "version", every live version as
// "versions" (newest first), and each instance's own "version"; its
// description is the newest version's.
//
// After a hub restart the catalog rebuilds itself from the live services
// — none lost, none stale — with no file of registrations; only the
// manifests of the services that may sleep are kept (see asleep.go), so
// that one with no instance stays listed, asleep, and callable.
//
// The catalog serves its queries as the omq service "catalog" (see
// Queries); dpc-cli and any other client call them.
package catalog

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// Metadata keys a DPC service instance puts in its $SRV metadata.
const (
	// MetaManifest holds the service's manifest as compact JSON.
	MetaManifest = "dpc.manifest"
	// MetaHost names the machine the instance runs on.
	MetaHost = "dpc.host"
	// MetaMetrics is the URL of the instance's /metrics, when it serves
	// one (dpc-service --metrics): the agent that started it lists it
	// for Prometheus's service discovery.
	MetaMetrics = "dpc.metrics"
)

// ServiceName is the omq name the catalog's queries are bound under.
const ServiceName = "catalog"

// Config tunes the catalog. DefaultConfig is what the hub uses; zero
// values of the fields after Expiry take their defaults.
type Config struct {
	// Interval between sweeps of $SRV.PING.
	Interval time.Duration
	// Expiry: an instance not seen for this long is gone.
	Expiry time.Duration
	// VerifyTimeout bounds each request the catalog sends to one
	// instance to check a hint: $SRV.INFO.<name>.<id> after an announce
	// or a nomination, $SRV.PING.<name>.<id> after a withdraw (default
	// 1s).
	VerifyTimeout time.Duration
	// MaxVerifying is how many announce and withdraw checks may run at
	// once (default 8); more are refused with CodeBusy. A sweep checks
	// as many nominations at once.
	MaxVerifying int
	// MaxServices and MaxInstances bound the catalog (defaults 256 and
	// 1024); services and instances beyond them are ignored.
	MaxServices  int
	MaxInstances int
	// MaxAsleep bounds the services kept asleep (default 256; the one
	// asleep longest is forgotten first), and AsleepFor how long one is
	// kept (default 30 days). See "Asleep" in the package comment.
	MaxAsleep int
	AsleepFor time.Duration
	// Store, if set, keeps the manifests of the services that may sleep
	// across restarts (the hub's is a KV bucket, KVStore); nil keeps them
	// in memory only.
	Store  Store
	Logger *slog.Logger
}

// Defaults of the bounds in Config.
const (
	DefaultVerifyTimeout = time.Second
	DefaultMaxVerifying  = 8
	DefaultMaxServices   = 256
	DefaultMaxInstances  = 1024
	DefaultMaxAsleep     = 256
	DefaultAsleepFor     = 30 * 24 * time.Hour
)

// DefaultConfig sweeps every second and forgets an instance after three
// seconds of silence.
func DefaultConfig() Config {
	return Config{
		Interval: time.Second, Expiry: 3 * time.Second,
		VerifyTimeout: DefaultVerifyTimeout, MaxVerifying: DefaultMaxVerifying,
		MaxServices: DefaultMaxServices, MaxInstances: DefaultMaxInstances,
		MaxAsleep: DefaultMaxAsleep, AsleepFor: DefaultAsleepFor,
	}
}

// Catalog holds the live services. It is safe for concurrent use.
type Catalog struct {
	node *omq.Node
	cfg  Config
	log  *slog.Logger

	// prefix is the node's subject prefix, learnt from the catalog's own
	// instance when Run binds it; instances under another prefix are not
	// listed.
	prefix atomic.Pointer[string]
	// verifying holds a token per announce or withdraw check running.
	verifying chan struct{}

	mu       sync.Mutex
	services map[string]*service
	count    int // instances, over all services
	// withdrawn remembers, per service.instance, when a withdrawal was
	// confirmed: an INFO reply to a request sent before then (by an
	// announce or a sweep racing the withdrawal) must not bring the
	// instance back. Entries go after Expiry + VerifyTimeout.
	withdrawn map[string]time.Time
	// fullWarned: the size limit has been logged since the last sweep
	// began.
	fullWarned bool
	// sleepy holds, per service whose newest manifest seen says it may
	// sleep (scaling.min 0), that manifest: for a live service in case
	// it sleeps, for one with no instance to list it asleep. stored is
	// what the Store holds, by entry (a new entry replaces a changed one,
	// so a differing pointer is a write to make).
	sleepy      map[string]*sleeper
	stored      map[string]*sleeper
	storeWarned bool
}

// sleeper is the manifest of a service that may sleep, and since when it
// has had no instance (zero while it has some).
type sleeper struct {
	manifest *manifests.Manifest
	raw      string
	asleep   time.Time
}

type service struct {
	instances map[string]*instance
}

type instance struct {
	id       string
	host     string
	manifest *manifests.Manifest
	// raw is the dpc.manifest metadata the manifest was read from; a
	// name-scoped PING showing another one makes the catalog read INFO
	// again (an instance restarted under the same id, say).
	raw      string
	since    time.Time
	lastSeen time.Time
}

// New makes a catalog that uses node to sweep and to serve its queries.
func New(node *omq.Node, cfg Config) (*Catalog, error) {
	if cfg.Interval <= 0 || cfg.Expiry < cfg.Interval {
		return nil, fmt.Errorf("catalog: interval %s must be positive and expiry %s at least the interval", cfg.Interval, cfg.Expiry)
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = DefaultVerifyTimeout
	}
	if cfg.MaxVerifying <= 0 {
		cfg.MaxVerifying = DefaultMaxVerifying
	}
	if cfg.MaxServices <= 0 {
		cfg.MaxServices = DefaultMaxServices
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.MaxAsleep <= 0 {
		cfg.MaxAsleep = DefaultMaxAsleep
	}
	if cfg.AsleepFor <= 0 {
		cfg.AsleepFor = DefaultAsleepFor
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{
		node: node, cfg: cfg, log: log,
		verifying: make(chan struct{}, cfg.MaxVerifying),
		services:  map[string]*service{}, withdrawn: map[string]time.Time{},
		sleepy: map[string]*sleeper{}, stored: map[string]*sleeper{},
	}
	p := omq.DefaultPrefix
	c.prefix.Store(&p)
	return c, nil
}

func key(serviceName, instanceID string) string { return serviceName + "." + instanceID }

// Add records one live instance of the service m describes, with m as its
// manifest (replacing the one it had). It reports false when the catalog
// is full. Add trusts its caller: the catalog's own calls come from
// verified $SRV.INFO replies.
func (c *Catalog) Add(m *manifests.Manifest, instanceID, host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.withdrawn, key(m.Name, instanceID))
	return c.addLocked(m, "", instanceID, host, time.Now())
}

// addVerified adds an instance from an INFO reply to a request sent at
// asked, unless a withdrawal was confirmed since.
func (c *Catalog) addVerified(m *manifests.Manifest, raw, instanceID, host string, asked time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key(m.Name, instanceID)
	if at, ok := c.withdrawn[k]; ok {
		if !asked.After(at) {
			return false // the reply predates the withdrawal
		}
		delete(c.withdrawn, k)
	}
	return c.addLocked(m, raw, instanceID, host, time.Now())
}

func (c *Catalog) addLocked(m *manifests.Manifest, raw, instanceID, host string, now time.Time) bool {
	s := c.services[m.Name]
	if in := s.get(instanceID); in != nil {
		in.lastSeen = now
		if in.raw != raw || in.manifest.Version != m.Version {
			c.log.Info("catalog: instance changed its manifest", "service", m.Name, "instance", instanceID,
				"version", m.Version, "was", in.manifest.Version)
			in.manifest, in.raw, in.host, in.since = m, raw, host, now
			c.noteSleepyLocked(m, raw)
		}
		return true
	}
	if s == nil && len(c.services) >= c.cfg.MaxServices {
		c.fullLocked("services", m.Name, instanceID)
		return false
	}
	if c.count >= c.cfg.MaxInstances {
		c.fullLocked("instances", m.Name, instanceID)
		return false
	}
	if s == nil {
		s = &service{instances: map[string]*instance{}}
		c.services[m.Name] = s
		c.log.Info("catalog: service arrived", "service", m.Name, "version", m.Version, "functions", len(m.Functions))
	}
	s.instances[instanceID] = &instance{id: instanceID, host: host, manifest: m, raw: raw, since: now, lastSeen: now}
	c.count++
	c.noteSleepyLocked(m, raw)
	c.log.Info("catalog: instance arrived", "service", m.Name, "instance", instanceID, "version", m.Version,
		"host", host, "instances", len(s.instances))
	return true
}

func (s *service) get(id string) *instance {
	if s == nil {
		return nil
	}
	return s.instances[id]
}

// fullLocked logs, once per sweep, that the catalog is full.
func (c *Catalog) fullLocked(what, serviceName, instanceID string) {
	if c.fullWarned {
		return
	}
	c.fullWarned = true
	c.log.Warn("catalog: full; ignoring new "+what+" until some leave", "service", serviceName, "instance", instanceID,
		"services", len(c.services), "max_services", c.cfg.MaxServices,
		"instances", c.count, "max_instances", c.cfg.MaxInstances)
}

// Remove forgets one instance, and the service with its last instance
// (unless it may sleep: then it is listed asleep).
// Like Add it trusts its caller; the withdraw query checks first.
func (c *Catalog) Remove(serviceName, instanceID, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removeLocked(serviceName, instanceID, why) {
		c.withdrawn[key(serviceName, instanceID)] = time.Now()
	}
}

func (c *Catalog) removeLocked(serviceName, instanceID, why string) bool {
	s := c.services[serviceName]
	if s.get(instanceID) == nil {
		return false
	}
	delete(s.instances, instanceID)
	c.count--
	c.log.Info("catalog: instance left", "service", serviceName, "instance", instanceID, "why", why, "instances", len(s.instances))
	if len(s.instances) == 0 {
		delete(c.services, serviceName)
		if sl := c.sleepy[serviceName]; sl != nil {
			c.sleepy[serviceName] = &sleeper{manifest: sl.manifest, raw: sl.raw, asleep: time.Now()}
			c.log.Info("catalog: service asleep: listed until a call wakes it", "service", serviceName, "version", sl.manifest.Version)
			c.boundAsleepLocked()
		} else {
			c.log.Info("catalog: service left", "service", serviceName)
		}
	}
	return true
}

// known reports whether the catalog lists the instance.
func (c *Catalog) known(serviceName, instanceID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.services[serviceName].get(instanceID) != nil
}

// room reports whether a new instance of the service would fit, logging
// (once per sweep) when it would not.
func (c *Catalog) room(serviceName, instanceID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.count >= c.cfg.MaxInstances:
		c.fullLocked("instances", serviceName, instanceID)
		return false
	case c.services[serviceName] == nil && len(c.services) >= c.cfg.MaxServices:
		c.fullLocked("services", serviceName, instanceID)
		return false
	}
	return true
}

// serviceNames lists the known services, sorted.
func (c *Catalog) serviceNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.services))
	for name := range c.services {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// alive marks the instances that answered a name-scoped PING as seen at
// at. It returns those among them the catalog does not know, and those
// whose manifest metadata differs from the one recorded: both are to be
// read with INFO.
func (c *Catalog) alive(answered []nominee, at time.Time) (recheck []nominee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range answered {
		in := c.services[a.service].get(a.id)
		if in == nil {
			recheck = append(recheck, a)
			continue
		}
		if at.After(in.lastSeen) {
			in.lastSeen = at
		}
		if in.raw != "" && a.raw != in.raw {
			recheck = append(recheck, a)
		}
	}
	return recheck
}

// expire forgets instances not seen since before cutoff, and withdrawals
// old enough that no reply can predate them.
func (c *Catalog) expire(cutoff time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, at := range c.withdrawn {
		if at.Before(cutoff.Add(-c.cfg.VerifyTimeout)) {
			delete(c.withdrawn, k)
		}
	}
	for name, s := range c.services {
		for id, in := range s.instances {
			if in.lastSeen.Before(cutoff) {
				c.removeLocked(name, id, "stopped answering")
			}
		}
	}
	c.expireAsleepLocked(time.Now().Add(-c.cfg.AsleepFor))
}

// startSweep resets the once-per-sweep warning.
func (c *Catalog) startSweep() {
	c.mu.Lock()
	c.fullWarned = false
	c.mu.Unlock()
}

// snapshot copies what queries need, so they run without the lock:
// services by name, instances by id.
func (c *Catalog) snapshot() []serviceView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]serviceView, 0, len(c.services)+len(c.sleepy))
	for name, s := range c.services {
		v := serviceView{name: name}
		for _, in := range s.instances {
			v.instances = append(v.instances, *in)
		}
		sort.Slice(v.instances, func(a, b int) bool { return v.instances[a].id < v.instances[b].id })
		out = append(out, v)
	}
	for name := range c.sleepy {
		if sl := c.asleepLocked(name); sl != nil {
			out = append(out, serviceView{name: name, asleep: sl})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].name < out[b].name })
	return out
}

type serviceView struct {
	name      string
	instances []instance
	// asleep: the service has no instance and may sleep (its manifest).
	asleep *sleeper
}
