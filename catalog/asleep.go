package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/nats-io/nats.go/jetstream"
)

// Asleep services.
//
// A service whose manifest says it may sleep (scaling.min 0) has no
// instance while nobody calls it: a provisioner stops the last one when
// it is idle, and starts one when a call waits for it (omq publishes
// <prefix>.wake.<service>). A client that finds functions through the
// catalog must still see it then, or it never sends the call that would
// wake it. So the catalog keeps such a service's manifest after its last
// instance leaves and lists it asleep: its functions with no instance and
// "asleep": true. Its first instance lists it live again. Services that
// may not sleep leave with their last instance, as before.
//
// What is kept is the newest manifest (SemVer) a verified instance
// showed; a newer version without min 0 ends it. At most MaxAsleep
// services are kept asleep, the one asleep longest forgotten first, each
// for at most AsleepFor. With a Store (the hub's KV bucket) the manifests
// of the services that may sleep, live or asleep, survive a restart: Run
// reads them before its first sweep, and writes what changed after each
// sweep, so a change reaches the store within Interval. In a cluster
// every hub's catalog writes the one bucket. They see the same instances
// and so mostly write the same records; where they differ (one forgot a
// service by its bounds, another not yet) the store holds whichever wrote
// last, which matters only to a hub that starts then.

// MaySleep reports whether a manifest lets its service be scaled to zero
// (scaling.min: 0).
func MaySleep(m *manifests.Manifest) bool {
	return m != nil && m.Scaling != nil && m.Scaling.Min != nil && *m.Scaling.Min == 0
}

// noteSleepyLocked records an instance's manifest m of a service that has
// an instance now: the newest manifest decides whether the service may
// sleep.
func (c *Catalog) noteSleepyLocked(m *manifests.Manifest, raw string) {
	sl := c.sleepy[m.Name]
	newer := sl != nil && compareVersions(sl.manifest.Version, m.Version) > 0
	for _, in := range c.services[m.Name].instancesOrNil() {
		newer = newer || compareVersions(in.manifest.Version, m.Version) > 0
	}
	switch {
	case newer:
		// A newer version has the say; the service is awake, though.
		if sl != nil && !sl.asleep.IsZero() {
			c.sleepy[m.Name] = &sleeper{manifest: sl.manifest, raw: sl.raw}
		}
	case !MaySleep(m):
		delete(c.sleepy, m.Name)
	case sl == nil || !sl.asleep.IsZero() || sl.raw != raw || sl.manifest.Version != m.Version:
		c.sleepy[m.Name] = &sleeper{manifest: m, raw: raw}
	}
}

func (s *service) instancesOrNil() map[string]*instance {
	if s == nil {
		return nil
	}
	return s.instances
}

// asleepLocked is the entry of a service with no instance that is kept
// asleep, or nil.
func (c *Catalog) asleepLocked(name string) *sleeper {
	if sl := c.sleepy[name]; sl != nil && c.services[name] == nil {
		return sl
	}
	return nil
}

// boundAsleepLocked forgets the services asleep longest while more than
// MaxAsleep are asleep.
func (c *Catalog) boundAsleepLocked() {
	for {
		n := 0
		var oldest string
		for name, sl := range c.sleepy {
			if c.asleepLocked(name) == nil {
				continue
			}
			n++
			if oldest == "" || sl.asleep.Before(c.sleepy[oldest].asleep) {
				oldest = name
			}
		}
		if n <= c.cfg.MaxAsleep {
			return
		}
		c.log.Info("catalog: too many services asleep; forgetting the one asleep longest", "service", oldest,
			"asleep_since", c.sleepy[oldest].asleep, "max_asleep", c.cfg.MaxAsleep)
		delete(c.sleepy, oldest)
	}
}

// expireAsleepLocked forgets the services asleep since before cutoff.
func (c *Catalog) expireAsleepLocked(cutoff time.Time) {
	for name := range c.sleepy {
		if sl := c.asleepLocked(name); sl != nil && sl.asleep.Before(cutoff) {
			c.log.Info("catalog: service asleep too long; forgotten", "service", name, "asleep_since", sl.asleep)
			delete(c.sleepy, name)
		}
	}
}

// Store keeps the manifests of the services that may sleep, one record
// per service, across restarts of the catalog. KVStore is the hub's.
type Store interface {
	// Load returns every record, by service name.
	Load(ctx context.Context) (map[string][]byte, error)
	Put(ctx context.Context, service string, record []byte) error
	Delete(ctx context.Context, service string) error
}

// DefaultBucket is the KV bucket the hub keeps the catalog's store in.
const DefaultBucket = "DPC_CATALOG"

// Bounds of the hub's bucket: a record is a manifest (as in $SRV
// metadata, well under a NATS message) and its time, and there is one
// per service that may sleep — MaxServices live and MaxAsleep asleep by
// default.
const (
	BucketMaxValue = 256 << 10
	BucketMaxBytes = 64 << 20
)

// KVStore is a Store in a JetStream KV bucket, a key per service.
func KVStore(kv jetstream.KeyValue) Store { return kvStore{kv} }

type kvStore struct{ kv jetstream.KeyValue }

func (s kvStore) Load(ctx context.Context) (map[string][]byte, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string][]byte{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("catalog: store watch ended")
			}
			if e == nil {
				return out, nil // all read
			}
			out[e.Key()] = e.Value()
		}
	}
}

func (s kvStore) Put(ctx context.Context, service string, record []byte) error {
	_, err := s.kv.Put(ctx, service, record)
	return err
}

func (s kvStore) Delete(ctx context.Context, service string) error {
	err := s.kv.Delete(ctx, service)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// record is what the store keeps per service.
type record struct {
	Manifest json.RawMessage `json:"manifest"`
	// Asleep is when its last instance left; absent while it had some.
	Asleep time.Time `json:"asleep,omitzero"`
}

// load reads the store: each service in it is asleep until an instance
// of it is found. A bad record is skipped (and later deleted).
func (c *Catalog) load(ctx context.Context) {
	if c.cfg.Store == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	recs, err := c.cfg.Store.Load(lctx)
	if err != nil {
		c.log.Warn("catalog: cannot read the services that may sleep; listing them as their instances come", "err", err)
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, data := range recs {
		var r record
		err := json.Unmarshal(data, &r)
		var m *manifests.Manifest
		if err == nil {
			m, err = manifestFrom(string(r.Manifest), name, "the catalog's store")
		}
		if err != nil || !MaySleep(m) {
			c.log.Warn("catalog: bad record in the store; dropped", "service", name, "err", err)
			c.stored[name] = &sleeper{} // so that flush deletes it
			continue
		}
		if r.Asleep.IsZero() || r.Asleep.After(now) {
			r.Asleep = now
		}
		sl := &sleeper{manifest: m, raw: string(r.Manifest), asleep: r.Asleep}
		c.sleepy[name], c.stored[name] = sl, sl
	}
	c.boundAsleepLocked()
	c.expireAsleepLocked(now.Add(-c.cfg.AsleepFor))
	c.log.Info("catalog: read the services that may sleep", "services", len(c.sleepy))
}

// flush writes to the store what changed in sleepy since the last flush.
// A failed write is tried again at the next.
func (c *Catalog) flush(ctx context.Context) {
	if c.cfg.Store == nil {
		return
	}
	type put struct {
		name string
		sl   *sleeper
		data []byte
	}
	var puts []put
	var dels []string
	c.mu.Lock()
	for name, sl := range c.sleepy {
		if c.stored[name] == sl {
			continue
		}
		raw := json.RawMessage(sl.raw)
		if sl.raw == "" {
			raw, _ = json.Marshal(sl.manifest)
		}
		data, err := json.Marshal(record{Manifest: raw, Asleep: sl.asleep})
		if err != nil {
			continue
		}
		puts = append(puts, put{name, sl, data})
	}
	for name := range c.stored {
		if c.sleepy[name] == nil {
			dels = append(dels, name)
		}
	}
	c.mu.Unlock()
	if len(puts) == 0 && len(dels) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var failed error
	for _, p := range puts {
		if err := c.cfg.Store.Put(fctx, p.name, p.data); err != nil {
			failed = fmt.Errorf("%s: %w", p.name, err)
			continue
		}
		c.mu.Lock()
		c.stored[p.name] = p.sl
		c.mu.Unlock()
	}
	for _, name := range dels {
		if err := c.cfg.Store.Delete(fctx, name); err != nil {
			failed = fmt.Errorf("%s: %w", name, err)
			continue
		}
		c.mu.Lock()
		if c.sleepy[name] == nil {
			delete(c.stored, name)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case failed != nil && !c.storeWarned:
		c.storeWarned = true
		c.log.Warn("catalog: cannot write the services that may sleep; trying again after each sweep", "err", failed)
	case failed != nil:
		c.log.Debug("catalog: store", "err", failed)
	case c.storeWarned:
		c.storeWarned = false
		c.log.Info("catalog: writing the services that may sleep again")
	}
}
