package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// The server's accounts follow the registry: revoked identities go into
// the DPC account's revocations, agents' signing keys into its keys, and
// the pairing account admits connections only while a code is pending.
// Every hub watches the registry and applies it, so in a cluster a change
// made on one hub holds on all.

// codeSweep is how often expired pairing codes are dropped (and pairing
// closed when none is left).
const codeSweep = 5 * time.Second

// apply brings the server's accounts in line with the registry.
func (h *Hub) apply(ctx context.Context) error {
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	ids, err := h.reg.identities(ctx)
	if err != nil {
		return err
	}
	st := trust.AccountState{Storage: h.cfg.MaxStore, Memory: h.cfg.MaxMemory}
	for _, id := range ids {
		switch {
		case id.Revoked != nil:
			st.Revoked = append(st.Revoked, trust.Revoked{PublicKey: id.PublicKey, At: *id.Revoked})
		case id.Role == trust.RoleAgent && id.AgentKey != "":
			st.AgentKeys = append(st.AgentKeys, id.AgentKey)
		}
	}
	slices.SortFunc(st.Revoked, func(a, b trust.Revoked) int {
		if a.PublicKey < b.PublicKey {
			return -1
		}
		return 1
	})
	slices.Sort(st.AgentKeys)
	b, _ := json.Marshal(st)
	if string(b) != h.applied {
		acc, err := h.auth.DPCAccountJWT(st)
		if err != nil {
			return err
		}
		if err := h.srv.UpdateAccount(acc); err != nil {
			return fmt.Errorf("applying identities: %w", err)
		}
		if err := writeFile(h.cfg.stateFile(), b); err != nil {
			h.log.Warn("caching the account state", "err", err)
		}
		h.applied = string(b)
		h.metrics.identities.Set(float64(len(ids) - len(st.Revoked)))
	}
	pending, err := h.reg.codes(ctx, time.Now())
	if err != nil {
		return err
	}
	if open := len(pending) > 0; open != h.pairingOpen {
		acc, err := h.auth.PairingAccountJWT(open)
		if err != nil {
			return err
		}
		if err := h.srv.UpdateAccount(acc); err != nil {
			return fmt.Errorf("pairing account: %w", err)
		}
		h.pairingOpen = open
		h.log.Info("pairing", "open", open, "codes", len(pending))
	}
	return nil
}

// watchRegistry applies every change to the registry, and drops expired
// codes, until ctx ends. Every codeSweep it also applies the registry
// whatever the watch says, so a watch lost with JetStream (and made again)
// delays a change by that much at most.
func (h *Hub) watchRegistry(ctx context.Context) {
	t := time.NewTicker(codeSweep)
	defer t.Stop()
	var updates <-chan jetstream.KeyValueEntry
	var w jetstream.KeyWatcher
	defer func() {
		// Stopping a watch deletes its consumer, a request that nobody may
		// answer when the cluster is going down: only while it is up.
		if w != nil && ctx.Err() == nil {
			_ = w.Stop()
		}
	}()
	for {
		if w == nil {
			var err error
			if w, err = h.reg.kv.WatchAll(ctx); err != nil {
				h.log.Warn("watching the identity registry; applying it every few seconds instead", "err", err)
				w, updates = nil, nil
			} else {
				updates = w.Updates()
			}
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-updates:
			if !ok {
				w, updates = nil, nil
			}
		case <-t.C:
			h.reg.dropExpiredCodes(ctx, time.Now())
		}
		if err := h.apply(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("applying the identity registry", "err", err)
		}
	}
}

func writeFile(path string, b []byte) error { return trust.WriteSecret(path, b) }
