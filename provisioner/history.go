package provisioner

import (
	"context"
	"fmt"
	"maps"
	"math"
	"sync"
)

// History keeps, for the Predictive policy, the peak arrival rate each
// service saw in each time-of-day slot of each day. Days are numbered from
// the Unix epoch and slots from the start of the day, in units the policy
// chooses (PredictiveConfig.Day and Slot).
//
// Implementations are safe for concurrent use. NewMemoryHistory keeps the
// history in the process; NewKVHistory in a JetStream key-value bucket, so
// that it survives restarts of the supervisor.
type History interface {
	// RecordPeak raises the peak recorded for service's slot on day to
	// rate; a lower rate leaves the record as it is, so that a restarted
	// policy, whose peak starts again from nothing, never lowers it. It
	// also forgets the slot's days older than keep days before day (keeps
	// day-keep+1 … day). rate must be finite and non-negative, keep ≥ 1.
	RecordPeak(ctx context.Context, service string, slot int, day int64, rate float64, keep int) error
	// Peaks returns the peaks recorded for service's slot, by day; none is
	// an empty map and no error. The caller owns the map.
	Peaks(ctx context.Context, service string, slot int) (map[int64]float64, error)
}

// checkPeak validates RecordPeak's arguments, for every implementation.
func checkPeak(service string, slot int, rate float64, keep int) error {
	switch {
	case service == "":
		return fmt.Errorf("provisioner: history: empty service name")
	case slot < 0:
		return fmt.Errorf("provisioner: history: service %q: negative slot %d", service, slot)
	case rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0):
		return fmt.Errorf("provisioner: history: service %q slot %d: rate %v is not a finite non-negative number", service, slot, rate)
	case keep < 1:
		return fmt.Errorf("provisioner: history: service %q slot %d: keep %d must be at least 1", service, slot, keep)
	}
	return nil
}

// mergePeak applies RecordPeak to one slot's days, in place, and reports
// whether anything changed (so that a store can skip the write).
func mergePeak(peaks map[int64]float64, day int64, rate float64, keep int) bool {
	changed := false
	if old, ok := peaks[day]; !ok || rate > old {
		peaks[day] = rate
		changed = true
	}
	for d := range peaks {
		if d <= day-int64(keep) {
			delete(peaks, d)
			changed = true
		}
	}
	return changed
}

// MemoryHistory is a History in the process's memory, lost when it exits:
// for tests, trace replays and a supervisor that need not remember.
type MemoryHistory struct {
	mu    sync.Mutex
	slots map[slotKey]map[int64]float64
}

type slotKey struct {
	service string
	slot    int
}

// NewMemoryHistory returns an empty MemoryHistory.
func NewMemoryHistory() *MemoryHistory {
	return &MemoryHistory{slots: make(map[slotKey]map[int64]float64)}
}

// RecordPeak implements History.
func (h *MemoryHistory) RecordPeak(ctx context.Context, service string, slot int, day int64, rate float64, keep int) error {
	if err := checkPeak(service, slot, rate, keep); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := slotKey{service, slot}
	peaks := h.slots[k]
	if peaks == nil {
		peaks = make(map[int64]float64)
		h.slots[k] = peaks
	}
	mergePeak(peaks, day, rate, keep)
	return nil
}

// Peaks implements History.
func (h *MemoryHistory) Peaks(ctx context.Context, service string, slot int) (map[int64]float64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := maps.Clone(h.slots[slotKey{service, slot}])
	if out == nil {
		out = make(map[int64]float64)
	}
	return out, nil
}

var _ History = (*MemoryHistory)(nil)
