package provisioner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultHistoryBucket is the key-value bucket a supervisor keeps its
// History in unless configured otherwise.
const DefaultHistoryBucket = "DPC_PROVISIONER_HISTORY"

// maxPeakAttempts bounds how often RecordPeak rereads a key another writer
// changed between its read and its write.
const maxPeakAttempts = 8

// KVHistory is a History in a JetStream key-value bucket: one key per
// service and slot, "<service>.<slot>", holding the JSON object of day →
// peak rate ({"20345": 118.5, …}). Writes are a compare-and-set on the
// key's revision, so several supervisors (or a restarted one racing its
// predecessor) never lose each other's peaks.
type KVHistory struct {
	kv jetstream.KeyValue
}

// NewKVHistory creates bucket, or opens it if it exists. The caller owns js
// and its connection.
func NewKVHistory(ctx context.Context, js jetstream.JetStream, bucket string) (*KVHistory, error) {
	kv, err := openBucket(ctx, js, bucket)
	if err != nil {
		return nil, err
	}
	return &KVHistory{kv: kv}, nil
}

// openBucket creates the supervisors' bucket, or opens it if it exists:
// the history's peaks, and the lease (LeaseKey).
func openBucket(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	// The description is the one of when the bucket held the history
	// only: creating it again with the same configuration is a no-op.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "DPC provisioner: peak arrival rate per service, time-of-day slot and day",
		History:     1, // the value itself holds the days
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("provisioner: open key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// historyKey is the bucket key of a service's slot. The service name
// becomes one key token, so it may hold only what a token may hold and no
// dot; omq's names ([A-Za-z0-9_-]+) all qualify.
func historyKey(service string, slot int) (string, error) {
	if service == "" {
		return "", fmt.Errorf("provisioner: history: empty service name")
	}
	if !omq.ValidName(service) {
		return "", fmt.Errorf("provisioner: history: service name %q cannot make a key-value key: use letters, digits, '-' and '_' only", service)
	}
	return service + "." + strconv.Itoa(slot), nil
}

// RecordPeak implements History.
func (h *KVHistory) RecordPeak(ctx context.Context, service string, slot int, day int64, rate float64, keep int) error {
	if err := checkPeak(service, slot, rate, keep); err != nil {
		return err
	}
	key, err := historyKey(service, slot)
	if err != nil {
		return err
	}
	for attempt := range maxPeakAttempts {
		if attempt > 0 {
			// Jittered and growing, so that two writers racing for the key
			// do not keep colliding: the one that just won would otherwise
			// reread first and win again.
			select {
			case <-ctx.Done():
				return fmt.Errorf("provisioner: history: write %s: %w", key, ctx.Err())
			case <-time.After(rand.N(time.Duration(attempt) * 2 * time.Millisecond)):
			}
		}
		peaks, rev, err := h.load(ctx, key)
		if err != nil {
			return err
		}
		if !mergePeak(peaks, day, rate, keep) {
			return nil
		}
		data, err := json.Marshal(peaks)
		if err != nil {
			return fmt.Errorf("provisioner: history: encode %s: %w", key, err)
		}
		if rev == 0 {
			_, err = h.kv.Create(ctx, key, data)
		} else {
			_, err = h.kv.Update(ctx, key, data, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another writer got in between: merge into theirs
		}
		if err != nil {
			return fmt.Errorf("provisioner: history: write %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("provisioner: history: write %s: still changing after %d attempts: %w", key, maxPeakAttempts, jetstream.ErrKeyRevisionMismatch)
}

// Peaks implements History.
func (h *KVHistory) Peaks(ctx context.Context, service string, slot int) (map[int64]float64, error) {
	key, err := historyKey(service, slot)
	if err != nil {
		return nil, err
	}
	peaks, _, err := h.load(ctx, key)
	return peaks, err
}

// load reads a key's days and the revision to compare-and-set against; a
// missing key is an empty map and revision 0.
func (h *KVHistory) load(ctx context.Context, key string) (map[int64]float64, uint64, error) {
	peaks := make(map[int64]float64)
	e, err := h.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return peaks, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("provisioner: history: read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &peaks); err != nil {
		return nil, 0, fmt.Errorf("provisioner: history: read %s: bad value: %w", key, err)
	}
	return peaks, e.Revision(), nil
}

var _ History = (*KVHistory)(nil)
