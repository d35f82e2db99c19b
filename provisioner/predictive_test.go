package provisioner_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

// A compressed day for the predictive tests: a minute of six 10s slots.
const (
	testDay  = time.Minute
	testSlot = 10 * time.Second
)

// at is the fake clock at offset into slot of day (days since the epoch).
func at(day int64, slot int, offset time.Duration) time.Time {
	return time.Unix(0, 0).UTC().Add(time.Duration(day)*testDay + time.Duration(slot)*testSlot + offset)
}

func compressedConfig() provisioner.PredictiveConfig {
	cfg := provisioner.DefaultPredictiveConfig()
	cfg.ResponseTime = 200 * time.Millisecond // with tenPerSecond moments: δ = 10/s
	cfg.Slot, cfg.Day = testSlot, testDay
	return cfg
}

func newPredictive(t *testing.T, h provisioner.History, change func(*provisioner.PredictiveConfig)) *provisioner.Predictive {
	t.Helper()
	cfg := compressedConfig()
	if change != nil {
		change(&cfg)
	}
	p, err := provisioner.NewPredictive(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPredictiveConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*provisioner.PredictiveConfig)
		want   string
	}{
		{"compressed", func(*provisioner.PredictiveConfig) {}, ""},
		{"defaults", func(c *provisioner.PredictiveConfig) { c.Slot, c.Day = time.Hour, 24*time.Hour }, ""},
		{"no d", func(c *provisioner.PredictiveConfig) { c.ResponseTime = 0 }, "ResponseTime"},
		{"no slot", func(c *provisioner.PredictiveConfig) { c.Slot = 0 }, "Slot"},
		{"day not whole slots", func(c *provisioner.PredictiveConfig) { c.Slot = 7 * time.Second }, "whole number"},
		{"day shorter than a slot", func(c *provisioner.PredictiveConfig) { c.Day = time.Second }, "whole number"},
		{"no days", func(c *provisioner.PredictiveConfig) { c.Days = 0 }, "Days"},
		{"percentile zero", func(c *provisioner.PredictiveConfig) { c.Percentile = 0 }, "Percentile"},
		{"percentile above 100", func(c *provisioner.PredictiveConfig) { c.Percentile = 101 }, "Percentile"},
		{"negative lead", func(c *provisioner.PredictiveConfig) { c.Lead = -time.Second }, "Lead"},
		{"lead beyond a day", func(c *provisioner.PredictiveConfig) { c.Lead = 2 * time.Minute }, "Lead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compressedConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "provisioner: ") {
				t.Fatalf("err = %v, want one about %s", err, tt.want)
			}
		})
	}
	if _, err := provisioner.NewPredictive(compressedConfig(), nil); err == nil {
		t.Error("NewPredictive accepted a nil History")
	}
}

func TestPredictive_SlotOf(t *testing.T) {
	p := newPredictive(t, provisioner.NewMemoryHistory(), nil)
	tests := []struct {
		t    time.Time
		day  int64
		slot int
	}{
		{at(1000, 0, 0), 1000, 0},
		{at(1000, 3, 9999*time.Millisecond), 1000, 3},
		{at(1000, 5, 10*time.Second-1), 1000, 5},
		{at(1001, 0, 0), 1001, 0},
		{time.Unix(0, 0).Add(-time.Second), -1, 5}, // before the epoch: floor
	}
	for _, tt := range tests {
		if day, slot := p.SlotOf(tt.t); day != tt.day || slot != tt.slot {
			t.Errorf("SlotOf(%v) = %d, %d; want %d, %d", tt.t, day, slot, tt.day, tt.slot)
		}
	}
}

func TestPredictive_Percentile(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	// Slot 3 on days 1000…1006 (unsorted), today (1007) and long ago (999).
	for day, rate := range map[int64]float64{
		999: 500, 1000: 70, 1001: 10, 1002: 50, 1003: 30, 1004: 60, 1005: 20, 1006: 40, 1007: 1000,
	} {
		record(t, h, "tst", 3, day, rate, 100)
	}
	when := at(1007, 3, 5*time.Second)
	tests := []struct {
		name       string
		days       int
		percentile float64
		want       float64
		wantN      int
	}{
		// Days 1000…1006 sorted: 10 20 30 40 50 60 70; rank ⌈P/100 × 7⌉.
		{"p95 of a week is its highest", 7, 95, 70, 7}, // ⌈6.65⌉ = 7
		{"p90", 7, 90, 70, 7},                          // ⌈6.3⌉ = 7
		{"p80", 7, 80, 60, 7},                          // ⌈5.6⌉ = 6
		{"median", 7, 50, 40, 7},                       // ⌈3.5⌉ = 4
		{"p1 is the lowest", 7, 1, 10, 7},              // ⌈0.07⌉ = 1
		{"p100", 7, 100, 70, 7},                        // 7
		// Days 1004…1006: 20 40 60.
		{"three days, median", 3, 50, 40, 3}, // ⌈1.5⌉ = 2
		{"three days, p95", 3, 95, 60, 3},    // ⌈2.85⌉ = 3
		// Days 997…1006, of which 999…1006 recorded: 10 … 70, 500.
		{"ten days reach the old peak", 10, 95, 500, 8}, // ⌈7.6⌉ = 8
		{"ten days, median", 10, 50, 40, 8},             // ⌈4⌉ = 4
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPredictive(t, h, func(c *provisioner.PredictiveConfig) { c.Days, c.Percentile = tt.days, tt.percentile })
			rate, n, err := p.Predict(context.Background(), "tst", when)
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.want || n != tt.wantN {
				t.Fatalf("Predict = %v over %d days, want %v over %d", rate, n, tt.want, tt.wantN)
			}
		})
	}
	t.Run("no history", func(t *testing.T) {
		p := newPredictive(t, h, nil)
		if rate, n, err := p.Predict(context.Background(), "tst", at(1007, 2, 0)); rate != 0 || n != 0 || err != nil {
			t.Fatalf("slot 2: %v, %d, %v; want nothing", rate, n, err)
		}
	})
}

func TestPredictive_RecordsPeaksOverDays(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	p := newPredictive(t, h, nil)
	// Three compressed days, a decision every 2s (five per slot). The rate
	// rises within each slot and differs by slot and day.
	rate := func(day int64, slot, k int) float64 {
		return float64(10*(slot+1)) + float64(k) + float64(day-1000)*5
	}
	for day := int64(1000); day < 1003; day++ {
		for slot := range 6 {
			for k := range 5 {
				o := observe(at(day, slot, time.Duration(k)*2*time.Second), rate(day, slot, k), 1)
				decide(t, p, o)
			}
		}
	}
	for slot := range 6 {
		want := map[int64]float64{}
		for day := int64(1000); day < 1003; day++ {
			want[day] = rate(day, slot, 4) // the peak: the slot's last period
		}
		if got := peaks(t, h, "tst", slot); !maps.Equal(got, want) {
			t.Errorf("slot %d: %v, want %v", slot, got, want)
		}
	}

	// Day 1003 at the start of slot 1: with a one-slot lead, slot 2 is
	// predicted from days 1000…1002: 34, 39, 44 → p95 = 44 → η = ⌈44/10⌉ = 5.
	got := decide(t, p, observe(at(1003, 1, 0), 5, 1))
	if got.Desired != 5 || !strings.Contains(got.Reason, "slot 2 (in 10s) p95 of 3 days 44.0/s") ||
		!strings.Contains(got.Reason, "slot 1 (now) p95 of 3 days 34.0/s") || !strings.Contains(got.Reason, "λpred=44.0/s") {
		t.Fatalf("day 1003: %+v, want 5 for slot 2's 44/s", got)
	}
}

func TestPredictive_LeadAndCurrentSlot(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	for day := int64(1000); day < 1007; day++ {
		record(t, h, "tst", 2, day, 10, 100)
		record(t, h, "tst", 3, day, 100, 100)
		record(t, h, "tst", 4, day, 10, 100)
	}
	tests := []struct {
		name  string
		lead  time.Duration
		now   time.Time
		want  int
		inWhy string
	}{
		{"ahead of the peak", 0, at(1007, 2, time.Second), 10, "slot 3 (in 10s) p95 of 7 days 100.0/s"},
		{"during the peak, the next slot low", 0, at(1007, 3, 5*time.Second), 10, "slot 3 (now) p95 of 7 days 100.0/s"},
		{"after the peak", 0, at(1007, 4, time.Second), 1, "slot 5 (in 10s) no history"},
		{"short lead stays in the slot", 2 * time.Second, at(1007, 2, time.Second), 1, "slot 2 (now) p95 of 7 days 10.0/s → λpred=10.0/s"},
		{"short lead reaches the peak late in the slot", 2 * time.Second, at(1007, 2, 9*time.Second), 10, "slot 3 (in 2s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPredictive(t, h, func(c *provisioner.PredictiveConfig) { c.Lead = tt.lead })
			got := decide(t, p, observe(tt.now, 1, 1))
			if got.Desired != tt.want || !strings.Contains(got.Reason, tt.inWhy) {
				t.Fatalf("got %+v, want %d with %q", got, tt.want, tt.inWhy)
			}
		})
	}
}

func TestPredictive_LeadAcrossMidnight(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	// Slot 0 on the days 1001…1007; today is 1007, so a prediction for
	// tomorrow's slot 0 counts today's too.
	for day := int64(1001); day <= 1007; day++ {
		record(t, h, "tst", 0, day, float64(day-1000)*10, 100) // 10 … 70
	}
	p := newPredictive(t, h, func(c *provisioner.PredictiveConfig) { c.Percentile = 50 })
	got := decide(t, p, observe(at(1007, 5, 5*time.Second), 1, 1))
	// Days 1001…1007: 10 … 70, median rank ⌈3.5⌉ = 4 → 40 → η = 4.
	if got.Desired != 4 || !strings.Contains(got.Reason, "slot 0 (in 10s) p50 of 7 days 40.0/s") {
		t.Fatalf("got %+v, want 4 from tomorrow's slot 0", got)
	}
}

func TestPredictive_NoHistoryFallsBack(t *testing.T) {
	p := newPredictive(t, provisioner.NewMemoryHistory(), nil)
	got := decide(t, p, observe(at(1000, 0, 0), 35, 1))
	if got.Desired != 4 || !strings.Contains(got.Reason, "no history") || !strings.Contains(got.Reason, "from λobs=35.0/s") {
		t.Fatalf("got %+v, want ⌈35/10⌉ = 4 from λobs", got)
	}
}

func TestPredictive_RestartKeepsThePeak(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	decide(t, newPredictive(t, h, nil), observe(at(1000, 1, 0), 80, 1))
	// A new policy on the same history, in the same slot, sees less.
	decide(t, newPredictive(t, h, nil), observe(at(1000, 1, 2*time.Second), 20, 1))
	if got := peaks(t, h, "tst", 1); got[1000] != 80 {
		t.Fatalf("peaks %v, want 80 kept", got)
	}
}

func TestPredictive_KeepsMomentsOverIdle(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	for day := int64(1000); day < 1007; day++ {
		record(t, h, "tst", 1, day, 30, 100)
	}
	p := newPredictive(t, h, func(c *provisioner.PredictiveConfig) { c.Lead = time.Nanosecond })
	decide(t, p, observe(at(1007, 0, 0), 5, 1)) // learns δ = 10/s
	idle := observe(at(1007, 1, 0), 0, 1)
	idle.ServiceTime, idle.InterArrival = provisioner.Moments{}, provisioner.Moments{}
	if got := decide(t, p, idle); got.Desired != 3 || !strings.Contains(got.Reason, "δ=10.0/s") {
		t.Fatalf("idle in a busy slot: %+v, want ⌈30/10⌉ = 3 from the remembered δ", got)
	}
}

// failingHistory fails every call, as a KV bucket does when the hub is
// away.
type failingHistory struct{}

var errHistoryDown = errors.New("history down")

func (failingHistory) RecordPeak(context.Context, string, int, int64, float64, int) error {
	return errHistoryDown
}

func (failingHistory) Peaks(context.Context, string, int) (map[int64]float64, error) {
	return nil, errHistoryDown
}

func TestPredictive_HistoryFailure(t *testing.T) {
	p := newPredictive(t, failingHistory{}, nil)
	got := decide(t, p, observe(at(1000, 0, 0), 35, 1))
	if got.Desired != 4 || !strings.Contains(got.Reason, "could not record") || !strings.Contains(got.Reason, "history unreadable") {
		t.Fatalf("got %+v, want ⌈35/10⌉ = 4 from λobs and the failures in the reason", got)
	}
	if _, _, err := p.Predict(context.Background(), "tst", at(1000, 0, 0)); !errors.Is(err, errHistoryDown) {
		t.Errorf("Predict: err = %v, want the history's", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Decide(ctx, observe(at(1000, 0, 2*time.Second), 35, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestPredictive_WorkWaitsWithNoneRunning(t *testing.T) {
	p := newPredictive(t, provisioner.NewMemoryHistory(), nil)
	obs := observe(at(1000, 0, 0), 0, 0)
	obs.Durable = 4
	if got := decide(t, p, obs); got.Desired != 1 || !strings.Contains(got.Reason, "durable lane") {
		t.Fatalf("got %+v, want 1 for the durable lane", got)
	}
}

// countingHistory counts reads of a real (memory) history.
type countingHistory struct {
	*provisioner.MemoryHistory
	reads int
}

func (h *countingHistory) Peaks(ctx context.Context, service string, slot int) (map[int64]float64, error) {
	h.reads++
	return h.MemoryHistory.Peaks(ctx, service, slot)
}

// Past days do not change during a slot: a KV-backed history is read once
// per slot, not every period.
func TestPredictive_ReadsHistoryOncePerSlot(t *testing.T) {
	h := &countingHistory{MemoryHistory: provisioner.NewMemoryHistory()}
	for day := int64(1000); day < 1003; day++ {
		record(t, h, "tst", 2, day, 40, 100)
		record(t, h, "tst", 3, day, 60, 100)
	}
	p := newPredictive(t, h, nil)
	for i := range 9 { // nine periods of one slot, looking one slot ahead
		got := decide(t, p, observe(at(1003, 2, time.Duration(i)*time.Second), 40, 4))
		if got.Desired != 6 { // λpred = max(40, 60) = 60, δ = 10/s
			t.Fatalf("period %d: %+v, want 6", i, got)
		}
	}
	if h.reads != 2 {
		t.Fatalf("%d history reads over nine periods of one slot, want 2 (this slot and the next)", h.reads)
	}
}
