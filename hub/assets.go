package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/nats-io/nats.go/jetstream"
)

// The hub's JetStream assets: it creates every one that roles may use but
// not create, each with the hub's replica count, and brings the replica
// count of existing ones in line (one hub: 1; a cluster: up to 3), so that
// losing a hub loses no note, durable call or identity.

// streams of the assets, as JetStream names them.
var assetStreams = []string{
	omq.DefaultStream,                       // the durable lane
	omq.DefaultDeadStream,                   // its dead letters
	"OBJ_" + bodiesBucket,                   // large bodies
	"KV_DPC_NOTES", "OBJ_DPC_NOTES_CONTENT", // notes
	"KV_" + registryBucket,                   // identities
	"KV_" + provisioner.DefaultHistoryBucket, // the provisioner's history
	"KV_" + catalog.DefaultBucket,            // services that may sleep
	logstream.Stream,                         // recent log records
}

// leaderReadStreams are read from their stream leader only: with direct
// gets any replica answers, and one that has just rejoined a cluster
// answers from its stale copy before it has caught up (a note's revision
// just saved, a revocation just made, missing).
var leaderReadStreams = []string{"KV_DPC_NOTES", "OBJ_DPC_NOTES_CONTENT", "KV_" + registryBucket, "KV_" + catalog.DefaultBucket}

// replicas is how many copies of each asset the hub keeps: Config.Replicas,
// else 1 alone and min(3, hubs) in a cluster of the hubs its routes name.
func (h *Hub) replicas() int {
	if h.cfg.Replicas > 0 {
		return h.cfg.Replicas
	}
	if h.cfg.Cluster == nil {
		return 1
	}
	return min(3, 1+len(h.cfg.Cluster.Routes))
}

// waitJetStream waits until JetStream answers: in a cluster its meta
// group needs a leader first, and a request before that gets no reply.
func (h *Hub) waitJetStream(ctx context.Context) error {
	return retry(ctx, h, "JetStream", func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := h.js.AccountInfo(actx)
		return err
	})
}

// ensureAssets creates the assets the hub owns besides the notes and the
// registry (which their packages create) and sets every asset's replicas.
func (h *Hub) ensureAssets(ctx context.Context) error {
	r := h.replicas()
	creates := []struct {
		what   string
		create func(context.Context) error
	}{
		{"durable lane", func(ctx context.Context) error {
			_, err := h.js.CreateStream(ctx, jetstream.StreamConfig{
				Name: omq.DefaultStream, Description: "omq durable lane",
				Subjects: []string{omq.DefaultPrefix + ".async.>"}, Retention: jetstream.WorkQueuePolicy,
				Storage: jetstream.FileStorage, Replicas: r,
			})
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil
			}
			return err
		}},
		{"dead letters", func(ctx context.Context) error {
			cfg := omq.DeadLetterStream(omq.DefaultPrefix)
			cfg.Replicas = r
			_, err := h.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil
			}
			return err
		}},
		{"large-body store", func(ctx context.Context) error {
			_, err := h.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
				Bucket: bodiesBucket, Description: "omq bodies larger than a NATS message",
				TTL: 7 * 24 * time.Hour, MaxBytes: h.cfg.MaxBodies, Storage: jetstream.FileStorage, Replicas: r,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				return nil
			}
			return err
		}},
		{"provisioner history", func(ctx context.Context) error {
			_, err := h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      provisioner.DefaultHistoryBucket,
				Description: "DPC provisioner: peak arrival rate per service, time-of-day slot and day",
				History:     1, Storage: jetstream.FileStorage, Replicas: r,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				return nil
			}
			return err
		}},
		{"catalog's services that may sleep", func(ctx context.Context) error {
			// Read and written by the hub's catalog only (no role's
			// permissions name it); bounded, one small record per service.
			_, err := h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:       catalog.DefaultBucket,
				Description:  "DPC catalog: manifests of the services that may sleep (scaling.min 0), to list them asleep",
				History:      1,
				MaxValueSize: catalog.BucketMaxValue, MaxBytes: catalog.BucketMaxBytes,
				Storage: jetstream.FileStorage, Replicas: r,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				return nil
			}
			return err
		}},
	}
	creates = append(creates, struct {
		what   string
		create func(context.Context) error
	}{"logs window", h.ensureLogs})
	for _, c := range creates {
		if err := retry(ctx, h, c.what, c.create); err != nil {
			return err
		}
	}
	return nil
}

// ensureReplicas sets every existing asset to the hub's replica count.
func (h *Hub) ensureReplicas(ctx context.Context) error {
	r := h.replicas()
	for _, name := range assetStreams {
		err := retry(ctx, h, "replicas of "+name, func(ctx context.Context) error {
			st, err := h.js.Stream(ctx, name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil // not made yet: whoever makes it sets them
			}
			if err != nil {
				return err
			}
			cfg := st.CachedInfo().Config
			leader := slices.Contains(leaderReadStreams, name)
			if cfg.Replicas == r && !(leader && cfg.AllowDirect) {
				return nil
			}
			h.log.Info("updating a JetStream asset", "stream", name, "replicas", r, "leader_reads", leader)
			cfg.Replicas = r
			if leader {
				cfg.AllowDirect = false
			}
			t0 := time.Now()
			_, err = h.js.UpdateStream(ctx, cfg)
			h.log.Debug("updated", "stream", name, "took", time.Since(t0), "err", err)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// retry runs f until it succeeds or ctx ends, backing off from 100 ms to
// 2 s: JetStream in a cluster refuses (or does not answer) until its meta
// leader is elected and enough hubs are up for the replicas asked for.
func retry(ctx context.Context, h *Hub, what string, f func(context.Context) error) error {
	wait := 100 * time.Millisecond
	start := time.Now()
	warned := false
	for {
		// Each attempt gets a bounded time: a request JetStream does not
		// answer (no leader yet) must not use up the whole start.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		h.log.Debug("retrying", "what", what, "err", err)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (waited %s)", what, err, time.Since(start).Round(time.Millisecond))
		}
		if !warned && time.Since(start) > 5*time.Second {
			h.log.Warn("waiting for JetStream (in a cluster: for enough hubs to be up for the replicas)", "for", what, "replicas", h.replicas(), "err", err)
			warned = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (waited %s)", what, err, time.Since(start).Round(time.Millisecond))
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}
