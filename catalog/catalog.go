// Package catalog is the hub's view of the live DPC services: which
// services run, with which manifests, on how many instances, and which
// functions each application may use.
//
// A service instance announces itself with its manifest when it starts and
// withdraws on a graceful stop. Independently, the catalog sweeps the NATS
// service protocol every Interval: an instance that stops answering
// $SRV.PING for Expiry is gone, and an instance it does not know is looked
// up with $SRV.INFO, whose metadata carries the manifest. So after a hub
// restart the catalog rebuilds itself from the live services alone — none
// lost, none stale — with no file of registrations.
//
// The catalog serves its queries as the omq service "catalog" (see
// Queries); dpc-cli and any other client call them.
package catalog

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
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
)

// ServiceName is the omq name the catalog's queries are bound under.
const ServiceName = "catalog"

// Config tunes the catalog. DefaultConfig is what the hub uses.
type Config struct {
	// Interval between sweeps of $SRV.PING.
	Interval time.Duration
	// Expiry: an instance not seen for this long is gone.
	Expiry time.Duration
	Logger *slog.Logger
}

// DefaultConfig sweeps every second and forgets an instance after three
// seconds of silence.
func DefaultConfig() Config {
	return Config{Interval: time.Second, Expiry: 3 * time.Second}
}

// Catalog holds the live services. It is safe for concurrent use.
type Catalog struct {
	node *omq.Node
	cfg  Config
	log  *slog.Logger

	mu       sync.Mutex
	services map[string]*service
	// withdrawn remembers instances that withdrew, until Expiry has
	// passed: a sweep that began before the withdrawal may still carry
	// their last PING and must not bring them back.
	withdrawn map[string]time.Time
}

type service struct {
	manifest  *manifests.Manifest
	instances map[string]*instance
}

type instance struct {
	id       string
	host     string
	since    time.Time
	lastSeen time.Time
}

// New makes a catalog that uses node to sweep and to serve its queries.
func New(node *omq.Node, cfg Config) (*Catalog, error) {
	if cfg.Interval <= 0 || cfg.Expiry < cfg.Interval {
		return nil, fmt.Errorf("catalog: interval %s must be positive and expiry %s at least the interval", cfg.Interval, cfg.Expiry)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Catalog{node: node, cfg: cfg, log: log, services: map[string]*service{}, withdrawn: map[string]time.Time{}}, nil
}

// Add records one live instance of the service m describes. A different
// manifest under the same service name replaces the old one (the newest
// announcement wins, as after an upgrade).
func (c *Catalog) Add(m *manifests.Manifest, instanceID, host string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.withdrawn, instanceID) // an explicit announcement overrides a withdrawal
	s := c.services[m.Name]
	if s == nil {
		s = &service{instances: map[string]*instance{}}
		c.services[m.Name] = s
		c.log.Info("catalog: service arrived", "service", m.Name, "version", m.Version, "functions", len(m.Functions))
	}
	s.manifest = m
	if in, ok := s.instances[instanceID]; ok {
		in.lastSeen = now
		return
	}
	s.instances[instanceID] = &instance{id: instanceID, host: host, since: now, lastSeen: now}
	c.log.Info("catalog: instance arrived", "service", m.Name, "instance", instanceID, "host", host, "instances", len(s.instances))
}

// Remove forgets one instance, and the service with its last instance.
func (c *Catalog) Remove(serviceName, instanceID, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.withdrawn[instanceID] = time.Now()
	c.removeLocked(serviceName, instanceID, why)
}

func (c *Catalog) removeLocked(serviceName, instanceID, why string) {
	s := c.services[serviceName]
	if s == nil {
		return
	}
	if _, ok := s.instances[instanceID]; !ok {
		return
	}
	delete(s.instances, instanceID)
	c.log.Info("catalog: instance left", "service", serviceName, "instance", instanceID, "why", why, "instances", len(s.instances))
	if len(s.instances) == 0 {
		delete(c.services, serviceName)
		c.log.Info("catalog: service left", "service", serviceName)
	}
}

// seen marks instances as alive; it returns the ids it does not know.
func (c *Catalog) seen(ids map[string]string, at time.Time) (unknown map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := map[string]bool{}
	for _, s := range c.services {
		for id, in := range s.instances {
			if _, ok := ids[id]; ok {
				in.lastSeen = at
				known[id] = true
			}
		}
	}
	unknown = map[string]string{}
	for id, svc := range ids {
		if _, gone := c.withdrawn[id]; !known[id] && !gone {
			unknown[id] = svc
		}
	}
	return unknown
}

// expire forgets instances not seen since before cutoff, and withdrawals
// older than that.
func (c *Catalog) expire(cutoff time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, at := range c.withdrawn {
		if at.Before(cutoff) {
			delete(c.withdrawn, id)
		}
	}
	for name, s := range c.services {
		for id, in := range s.instances {
			if in.lastSeen.Before(cutoff) {
				c.removeLocked(name, id, "stopped answering")
			}
		}
	}
}

// snapshot copies what queries need, so they run without the lock.
func (c *Catalog) snapshot() []serviceView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]serviceView, 0, len(c.services))
	for _, s := range c.services {
		v := serviceView{manifest: s.manifest}
		for _, in := range s.instances {
			v.instances = append(v.instances, *in)
		}
		sort.Slice(v.instances, func(a, b int) bool { return v.instances[a].id < v.instances[b].id })
		out = append(out, v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].manifest.Name < out[b].manifest.Name })
	return out
}

type serviceView struct {
	manifest  *manifests.Manifest
	instances []instance
}
