package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/micro"
)

// Run serves the catalog's queries and sweeps until ctx ends. It returns
// after unbinding the queries.
func (c *Catalog) Run(ctx context.Context) error {
	inst, err := c.node.Bind(ctx, ServiceName, c.queries(),
		omq.Description("DPC catalog: live services, their manifests and instances"),
		omq.NoDurable())
	if err != nil {
		return err
	}
	c.Sweep(ctx) // rebuild at once after a (re)start
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return inst.Unbind(uctx)
		case <-t.C:
			c.Sweep(ctx)
		}
	}
}

// Sweep pings every service instance once: known ones are marked alive,
// unknown DPC ones are added from the manifest in their metadata, and
// instances silent for Expiry are forgotten.
func (c *Catalog) Sweep(ctx context.Context) {
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	// A fixed window, not a quiet period: an instance slowed by load must
	// not be missed, and nobody waits for the sweep.
	pings, err := c.node.PingWithin(pctx, "", min(c.cfg.Interval/2, 500*time.Millisecond))
	if err != nil && ctx.Err() == nil {
		c.log.Debug("catalog: sweep", "err", err)
	}
	ids := map[string]string{}
	byID := map[string]micro.Ping{}
	for _, p := range pings {
		if _, ok := p.Metadata[MetaManifest]; !ok {
			continue // not a DPC service
		}
		ids[p.ID] = p.Name
		byID[p.ID] = p
	}
	for id := range c.seen(ids, start) {
		p := byID[id]
		m, err := manifestFrom(p)
		if err != nil {
			c.log.Warn("catalog: instance with a bad manifest ignored", "service", p.Name, "instance", id, "err", err)
			continue
		}
		c.Add(m, id, p.Metadata[MetaHost])
	}
	if ctx.Err() == nil {
		c.expire(start.Add(-c.cfg.Expiry))
	}
}

func manifestFrom(p micro.Ping) (*manifests.Manifest, error) {
	var m manifests.Manifest
	if err := json.Unmarshal([]byte(p.Metadata[MetaManifest]), &m); err != nil {
		return nil, err
	}
	if m.Name != p.Name {
		return nil, errNameMismatch{manifest: m.Name, bound: p.Name}
	}
	if err := validManifest(&m, "$SRV metadata of "+p.ID); err != nil {
		return nil, err
	}
	return &m, nil
}

// validManifest holds a manifest that arrived as JSON to the same rules as
// a YAML file.
func validManifest(m *manifests.Manifest, source string) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

type errNameMismatch struct{ manifest, bound string }

func (e errNameMismatch) Error() string {
	return "manifest names service " + e.manifest + " but the instance is bound as " + e.bound
}
