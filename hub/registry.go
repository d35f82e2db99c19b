package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// The identity registry: who may connect, and the pairing codes not yet
// used. It is a JetStream key-value bucket, so that hubs of one cluster
// share it; only the hub's own identity (and the owner's) can reach it.
//
//	id.<public key>    an Identity, revoked ones included (their keys stay
//	                   revoked in the account for as long as they are kept)
//	code.<secret id>   a pendingCode, by a hash of its secret

const registryBucket = "DPC_IDENTITIES"

// Bounds on what the registry holds: it is small, and read whole.
const (
	maxIdentities   = 1024
	maxPendingCodes = 16
)

// Identity is one key the hub admits (or has revoked).
type Identity struct {
	Name      string     `json:"name"`
	Role      trust.Role `json:"role"`
	PublicKey string     `json:"public_key"`
	// AgentKey is an agent's own signing key (agents only).
	AgentKey string     `json:"agent_key,omitempty"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
}

// pendingCode is a pairing code the owner asked for. A used code stays a
// little while (usedGrace), marked, so that pairing stays open until the
// device has read its reply.
type pendingCode struct {
	Name    string     `json:"name"`
	Role    trust.Role `json:"role"`
	Expires time.Time  `json:"expires"`
	Used    *time.Time `json:"used,omitempty"`
}

// usedGrace is how long pairing stays open after its last code was used.
const usedGrace = 30 * time.Second

// open says whether c keeps pairing open at now.
func (c pendingCode) open(now time.Time) bool {
	if c.Used != nil {
		return now.Before(c.Used.Add(usedGrace))
	}
	return now.Before(c.Expires)
}

type registry struct {
	kv jetstream.KeyValue
}

func openRegistry(ctx context.Context, js jetstream.JetStream, replicas int) (*registry, error) {
	// Open what exists as it is; create only what does not.
	kv, err := js.KeyValue(ctx, registryBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      registryBucket,
			Description: "DPC: identities the hub admits, and pending pairing codes",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			MaxBytes:    16 << 20,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, registryBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("identity registry: %w", err)
	}
	return &registry{kv: kv}, nil
}

func idKey(publicKey string) string  { return "id." + publicKey }
func codeKey(secretID string) string { return "code." + secretID }

// identities reads every identity.
func (r *registry) identities(ctx context.Context) ([]Identity, error) {
	var out []Identity
	err := r.each(ctx, "id.>", func(_ string, v []byte) {
		var id Identity
		if json.Unmarshal(v, &id) == nil && id.PublicKey != "" {
			out = append(out, id)
		}
	})
	return out, err
}

// codes reads every pairing code that keeps pairing open: unused and
// unexpired, or used a moment ago.
func (r *registry) codes(ctx context.Context, now time.Time) (map[string]pendingCode, error) {
	out := map[string]pendingCode{}
	err := r.each(ctx, "code.>", func(key string, v []byte) {
		var c pendingCode
		if json.Unmarshal(v, &c) == nil && c.open(now) {
			out[strings.TrimPrefix(key, "code.")] = c
		}
	})
	return out, err
}

func (r *registry) each(ctx context.Context, filter string, f func(key string, v []byte)) error {
	lister, err := r.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return fmt.Errorf("identity registry: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := r.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("identity registry: %s: %w", k, err)
		}
		f(k, e.Value())
	}
	return nil
}

// active finds the live identity called name.
func (r *registry) active(ctx context.Context, name string) (*Identity, error) {
	ids, err := r.identities(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id.Name == name && id.Revoked == nil {
			return &id, nil
		}
	}
	return nil, nil
}

func (r *registry) put(ctx context.Context, id Identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, idKey(id.PublicKey), b); err != nil {
		return fmt.Errorf("identity registry: %w", err)
	}
	return nil
}

// addCode stores a pending code.
func (r *registry) addCode(ctx context.Context, secretID string, c pendingCode) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := r.kv.Create(ctx, codeKey(secretID), b); err != nil {
		return fmt.Errorf("identity registry: %w", err)
	}
	return nil
}

// takeCode uses up a pending code: of two devices presenting it, exactly
// one gets it. An unknown, used or expired code is ErrBadCode.
func (r *registry) takeCode(ctx context.Context, secretID string, now time.Time) (pendingCode, error) {
	var c pendingCode
	e, err := r.kv.Get(ctx, codeKey(secretID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, errBadCode
	}
	if err != nil {
		return c, fmt.Errorf("identity registry: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil || c.Used != nil || !now.Before(c.Expires) {
		return c, errBadCode
	}
	// Marking it used at the revision read is the compare-and-set that
	// makes the code single-use.
	used := c
	used.Used = &now
	b, err := json.Marshal(used)
	if err != nil {
		return c, err
	}
	if _, err := r.kv.Update(ctx, e.Key(), b, e.Revision()); err != nil {
		return c, errBadCode
	}
	return c, nil
}

// dropExpiredCodes deletes codes that no longer keep pairing open.
func (r *registry) dropExpiredCodes(ctx context.Context, now time.Time) {
	_ = r.each(ctx, "code.>", func(key string, v []byte) {
		var c pendingCode
		if json.Unmarshal(v, &c) != nil || !c.open(now) {
			_ = r.kv.Delete(ctx, key)
		}
	})
}

var errBadCode = errors.New("unknown, used or expired pairing code")
