package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Run serves the catalog's queries and sweeps until ctx ends. It returns
// after unbinding the queries.
func (c *Catalog) Run(ctx context.Context) error {
	// Rebuild before answering: with several hubs the catalog's queries go
	// to any of them, and one that has just started must not answer from
	// an empty catalog that a service is "not available". The services
	// asleep are read first, so that the sweep finds those awake.
	c.load(ctx)
	c.Sweep(ctx)
	c.flush(ctx)
	inst, err := c.node.Bind(ctx, ServiceName, c.queries(),
		omq.Description("DPC catalog: live services, their manifests and instances"),
		omq.NoDurable())
	if err != nil {
		return err
	}
	if p, ok := inst.Info().Metadata[omq.MetadataPrefix]; ok && p != *c.prefix.Load() {
		// Another prefix than assumed: what the first sweep found was not
		// ours.
		c.prefix.Store(&p)
		c.Sweep(ctx)
	}
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.flush(uctx)
			return inst.Unbind(uctx)
		case <-t.C:
			c.Sweep(ctx)
			c.flush(ctx)
		}
	}
}

// nominee is an instance some reply named.
type nominee struct {
	service, id string
	raw         string // its dpc.manifest metadata, as the reply showed it
}

// Sweep runs one round, within Interval: a bare $SRV.PING nominates
// instances, one $SRV.PING.<name> per known service tells which of its
// instances are alive, each nominated instance the catalog does not know
// is read with $SRV.INFO.<name>.<id>, and instances silent for Expiry are
// forgotten.
func (c *Catalog) Sweep(ctx context.Context) {
	start := time.Now()
	c.startSweep()
	sctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	// A fixed window, not a quiet period: an instance slowed by load must
	// not be missed, and nobody waits for the sweep.
	window := min(c.cfg.Interval/2, 500*time.Millisecond)
	names := c.serviceNames()
	var (
		wg     sync.WaitGroup
		bare   []micro.Ping
		scoped = make([][]micro.Ping, len(names))
	)
	wg.Go(func() {
		var err error
		if bare, err = c.node.PingWithin(sctx, "", window); err != nil && ctx.Err() == nil {
			c.log.Debug("catalog: sweep", "err", err)
		}
	})
	for i, name := range names {
		wg.Go(func() {
			var err error
			if scoped[i], err = c.node.PingWithin(sctx, name, window); err != nil && ctx.Err() == nil {
				c.log.Debug("catalog: sweep", "service", name, "err", err)
			}
		})
	}
	wg.Wait()

	// Only a reply to $SRV.PING.<name> speaks for <name>.
	var answered []nominee
	for i, name := range names {
		for _, p := range scoped[i] {
			if p.Name == name && omq.ValidName(p.ID) {
				answered = append(answered, nominee{service: name, id: p.ID, raw: p.Metadata[MetaManifest]})
			}
		}
	}
	nominated := c.alive(answered, start)
	// A bare PING reply may claim anything: it only names an instance to
	// ask about.
	for _, p := range bare {
		if _, dpc := p.Metadata[MetaManifest]; dpc && omq.ValidName(p.Name) && omq.ValidName(p.ID) && !c.known(p.Name, p.ID) {
			nominated = append(nominated, nominee{service: p.Name, id: p.ID})
		}
	}
	c.verifyAll(sctx, interleave(nominated))
	if ctx.Err() == nil {
		c.expire(start.Add(-c.cfg.Expiry))
	}
}

// interleave drops repeated nominees and orders the rest taking the
// services in turn, so that many nominees of one service (real or forged)
// do not hold up another's.
func interleave(ns []nominee) []nominee {
	seen := map[string]bool{}
	var order []string
	per := map[string][]nominee{}
	for _, n := range ns {
		if k := key(n.service, n.id); !seen[k] {
			seen[k] = true
			if per[n.service] == nil {
				order = append(order, n.service)
			}
			per[n.service] = append(per[n.service], n)
		}
	}
	out := make([]nominee, 0, len(seen))
	for i := 0; len(out) < len(seen); i++ {
		for _, s := range order {
			if i < len(per[s]) {
				out = append(out, per[s][i])
			}
		}
	}
	return out
}

// verifyAll reads INFO of each nominee, MaxVerifying at a time, until ctx
// ends.
func (c *Catalog) verifyAll(ctx context.Context, ns []nominee) {
	work := make(chan nominee)
	var wg sync.WaitGroup
	for range min(c.cfg.MaxVerifying, len(ns)) {
		wg.Go(func() {
			for n := range work {
				if err := c.verify(ctx, n.service, n.id); err != nil {
					c.log.Debug("catalog: nominated instance not added", "service", n.service, "instance", n.id, "err", err)
				}
			}
		})
	}
feed:
	for _, n := range ns {
		if !c.known(n.service, n.id) && !c.room(n.service, n.id) {
			continue
		}
		select {
		case work <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// errNotConfirmed: the instance did not answer for itself.
var errNotConfirmed = errors.New("the instance did not confirm")

// verify asks $SRV.INFO.<service>.<id> and records the instance from the
// reply. Only an identity allowed to serve service can answer there.
func (c *Catalog) verify(ctx context.Context, serviceName, id string) error {
	subject := micro.APIPrefix + "." + micro.InfoVerb.String() + "." + serviceName + "." + id
	vctx, cancel := context.WithTimeout(ctx, c.cfg.VerifyTimeout)
	defer cancel()
	asked := time.Now()
	msg, err := c.node.Conn().RequestWithContext(vctx, subject, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errNotConfirmed, subject, err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		return fmt.Errorf("%w: %s: %w", errNotConfirmed, subject, err)
	}
	if info.Name != serviceName || info.ID != id {
		return fmt.Errorf("%w: %s answered as %s.%s", errNotConfirmed, subject, info.Name, info.ID)
	}
	prefix, ok := info.Metadata[omq.MetadataPrefix]
	if !ok {
		prefix = omq.DefaultPrefix
	}
	if prefix != *c.prefix.Load() {
		return fmt.Errorf("%s: under subject prefix %q, not this catalog's", subject, prefix)
	}
	raw, ok := info.Metadata[MetaManifest]
	if !ok {
		return fmt.Errorf("%s: not a DPC service (no %s metadata)", subject, MetaManifest)
	}
	m, err := manifestFrom(raw, serviceName, id)
	if err != nil {
		c.log.Warn("catalog: instance with a bad manifest ignored", "service", serviceName, "instance", id, "err", err)
		return err
	}
	if !c.addVerified(m, raw, id, info.Metadata[MetaHost], asked) {
		return fmt.Errorf("%s: withdrawn, or the catalog is full", subject)
	}
	return nil
}

// confirmGone asks $SRV.PING.<service>.<id>: true when nobody answers
// there (no responders, or silence until VerifyTimeout). Only an identity
// allowed to serve service can answer.
func (c *Catalog) confirmGone(ctx context.Context, serviceName, id string) (bool, error) {
	subject := micro.APIPrefix + "." + micro.PingVerb.String() + "." + serviceName + "." + id
	vctx, cancel := context.WithTimeout(ctx, c.cfg.VerifyTimeout)
	defer cancel()
	_, err := c.node.Conn().RequestWithContext(vctx, subject, nil)
	switch {
	case err == nil:
		return false, nil // it still answers
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return true, nil
	}
	return false, err
}

func manifestFrom(raw, serviceName, id string) (*manifests.Manifest, error) {
	var m manifests.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, err
	}
	if m.Name != serviceName {
		return nil, errNameMismatch{manifest: m.Name, bound: serviceName}
	}
	if err := validManifest(&m, "$SRV metadata of "+id); err != nil {
		return nil, err
	}
	if m.Version == "" {
		m.Version = manifests.DefaultVersion
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
