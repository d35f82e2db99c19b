package provisioner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease lets one of several supervisors of a hub act at a time; the
// others stand by, deciding nothing and starting or stopping nothing,
// until the one acting stops renewing. A Supervisor asks for it at the
// start of every round (Config.Lease).
type Lease interface {
	// Hold renews the lease if this supervisor holds it, or takes it if
	// it is free or its holder has stopped renewing. Held says whether
	// the supervisor may act in this round; an error with Held true means
	// the renewal failed but the last one still covers the round.
	Hold(ctx context.Context) (LeaseState, error)
	// Release gives the lease up, if held, so that a standby takes over
	// at its next round rather than after the expiry.
	Release(ctx context.Context) error
}

// LeaseState is what Hold found.
type LeaseState struct {
	Held   bool
	Holder string // the holder's id, "" when unknown
}

// LeaseKey is the key of the lease in the history bucket. No service's
// history key can be it: those are "<service>.<slot>".
const LeaseKey = "_lease"

// LeaseConfig tunes a KVLease.
type LeaseConfig struct {
	// Holder is this supervisor's id in the lease (DefaultLeaseHolder
	// when empty).
	Holder string
	// Expiry is how long a holder may go without renewing before a
	// standby takes the lease; at least twice Renew (3 × Renew when 0).
	Expiry time.Duration
	// Renew is the time between the holder's renewals: the supervisor's
	// period. The holder stops acting Renew before its last renewal
	// expires, so that its last round ends before a standby starts.
	Renew time.Duration
}

func (c LeaseConfig) withDefaults() LeaseConfig {
	if c.Holder == "" {
		c.Holder = DefaultLeaseHolder()
	}
	if c.Expiry == 0 {
		c.Expiry = 3 * c.Renew
	}
	return c
}

// Validate checks c as NewKVLease will use it (zero fields defaulted).
func (c LeaseConfig) Validate() error {
	c = c.withDefaults()
	if c.Renew <= 0 || c.Expiry < 2*c.Renew {
		return fmt.Errorf("provisioner: lease: expiry %v, renewed every %v (the period): want an expiry of at least two periods", c.Expiry, c.Renew)
	}
	return nil
}

// DefaultLeaseHolder is "<host>-<pid>-<random>": unique, and telling
// where the supervisor runs.
func DefaultLeaseHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "provisioner"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// leaseValue is the lease's value, JSON.
type leaseValue struct {
	Holder string `json:"holder"`
	// Expires is the holder's clock at the renewal plus the expiry, for
	// people reading the bucket: a standby never compares it with its own
	// clock, it counts the expiry from when it first saw this revision.
	Expires  time.Time `json:"expires"`
	ExpiryMS int64     `json:"expiry_ms"`
	Released bool      `json:"released,omitempty"`
}

// KVLease is a Lease in the supervisors' key-value bucket (the history
// bucket, DPC_PROVISIONER_HISTORY), key LeaseKey: every write is a
// compare-and-set on the key's revision, so two supervisors never both
// take it. The holder rewrites it every round. A standby takes it over
// when its revision has not changed for the expiry (the longer of its own
// and the one the holder wrote), as measured by the standby's clock from
// when it first read that revision, so clocks of different hosts are
// never compared; the holder acts only while its last successful renewal,
// sent at most Expiry − Renew ago, covers the round.
type KVLease struct {
	kv  jetstream.KeyValue
	cfg LeaseConfig

	mu      sync.Mutex
	rev     uint64    // our last write's revision while we hold the lease; 0 otherwise
	sent    time.Time // when that write was sent
	seenRev uint64    // the revision of someone else's lease we are timing
	seenAt  time.Time // when we first read it
}

// NewKVLease opens bucket (creating it as NewKVHistory does) and returns
// a lease in it. The caller owns js and its connection.
func NewKVLease(ctx context.Context, js jetstream.JetStream, bucket string, cfg LeaseConfig) (*KVLease, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := openBucket(ctx, js, bucket)
	if err != nil {
		return nil, err
	}
	return &KVLease{kv: kv, cfg: cfg}, nil
}

// Holder is this supervisor's id in the lease.
func (l *KVLease) Holder() string { return l.cfg.Holder }

// Expiry is how long a holder may go without renewing.
func (l *KVLease) Expiry() time.Duration { return l.cfg.Expiry }

func (l *KVLease) value(now time.Time, released bool) []byte {
	v := leaseValue{Holder: l.cfg.Holder, Expires: now.Add(l.cfg.Expiry).UTC(), ExpiryMS: l.cfg.Expiry.Milliseconds(), Released: released}
	if released {
		v.Expires = now.UTC()
	}
	b, _ := json.Marshal(v)
	return b
}

func lostRace(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Hold implements Lease.
func (l *KVLease) Hold(ctx context.Context) (LeaseState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	me := LeaseState{Held: true, Holder: l.cfg.Holder}
	now := time.Now()
	if l.rev != 0 {
		rev, err := l.kv.Update(ctx, LeaseKey, l.value(now, false), l.rev)
		switch {
		case err == nil:
			l.rev, l.sent = rev, now
			return me, nil
		case lostRace(err):
			l.rev = 0 // someone else wrote it: see who, below
		default:
			// The renewal may or may not have been written; the last one
			// known to be covers us for a while.
			if now.Before(l.sent.Add(l.cfg.Expiry - l.cfg.Renew)) {
				return me, fmt.Errorf("provisioner: lease: renew: %w", err)
			}
			return LeaseState{}, fmt.Errorf("provisioner: lease: renew: %w; not renewed for %v, standing by", err, now.Sub(l.sent).Round(time.Millisecond))
		}
	}
	e, err := l.kv.Get(ctx, LeaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		rev, err := l.kv.Create(ctx, LeaseKey, l.value(now, false))
		switch {
		case err == nil:
			l.rev, l.sent = rev, now
			return me, nil
		case lostRace(err):
			return LeaseState{}, nil // another supervisor took it first; the next round reads who
		}
		return LeaseState{}, fmt.Errorf("provisioner: lease: take: %w", err)
	}
	if err != nil {
		return LeaseState{}, fmt.Errorf("provisioner: lease: read: %w", err)
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil {
		v = leaseValue{Holder: "(unreadable lease)"} // timed like any other
	}
	if e.Revision() != l.seenRev {
		l.seenRev, l.seenAt = e.Revision(), now
	}
	expiry := max(l.cfg.Expiry, time.Duration(v.ExpiryMS)*time.Millisecond)
	// Our own name: a renewal whose answer was lost.
	free := v.Holder == l.cfg.Holder || v.Released || now.Sub(l.seenAt) >= expiry
	if !free {
		return LeaseState{Holder: v.Holder}, nil
	}
	rev, err := l.kv.Update(ctx, LeaseKey, l.value(now, false), e.Revision())
	switch {
	case err == nil:
		l.rev, l.sent = rev, now
		return me, nil
	case lostRace(err):
		return LeaseState{Holder: v.Holder}, nil // renewed, or another standby was quicker
	}
	return LeaseState{Holder: v.Holder}, fmt.Errorf("provisioner: lease: take over from %s: %w", v.Holder, err)
}

// Release implements Lease.
func (l *KVLease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rev == 0 {
		return nil
	}
	_, err := l.kv.Update(ctx, LeaseKey, l.value(time.Now(), true), l.rev)
	l.rev = 0
	if err != nil && !lostRace(err) {
		return fmt.Errorf("provisioner: lease: release: %w", err)
	}
	return nil
}

var _ Lease = (*KVLease)(nil)
