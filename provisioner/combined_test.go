package provisioner_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

func newCombined(t *testing.T, h provisioner.History) *provisioner.Combined {
	t.Helper()
	c, err := provisioner.NewCombined(newPredictive(t, h, nil), provisioner.DefaultReactiveConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewCombined_Config(t *testing.T) {
	pred := newPredictive(t, provisioner.NewMemoryHistory(), nil) // d = 200ms
	tests := []struct {
		name string
		d    time.Duration
		tau1 float64
		want string
	}{
		{"d from the predictive", 0, 1.2, ""},
		{"the same d", 200 * time.Millisecond, 1.2, ""},
		{"another d", time.Second, 1.2, "differs"},
		{"bad τ1", 0, 0.9, "Tau1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := provisioner.DefaultReactiveConfig()
			rc.ResponseTime, rc.Tau1 = tt.d, tt.tau1
			_, err := provisioner.NewCombined(pred, rc)
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
	if _, err := provisioner.NewCombined(nil, provisioner.DefaultReactiveConfig()); err == nil {
		t.Error("NewCombined accepted a nil Predictive")
	}
}

func TestCombined_WhichPartDecides(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	for day := int64(1000); day < 1007; day++ {
		record(t, h, "tst", 3, day, 40, 100) // λpred = 40 → ηp = ⌈40/10⌉ = 4
		record(t, h, "tst", 4, day, 40, 100)
		record(t, h, "tst", 5, day, 31, 100) // λpred = 31 → ηp = 4 too
	}
	busy, late := at(1007, 3, time.Second), at(1007, 5, time.Second)
	tests := []struct {
		name    string
		now     time.Time
		lambda  float64
		durable int64
		want    int
		inWhy   string
	}{
		{"on the prediction", busy, 40, 0, 4, "predictive: "},
		{"exactly τ1", busy, 48, 0, 4, "ratio 1.20 within [τ2=0.50, τ1=1.20]"},
		{"just above τ1", busy, 48.01, 0, 5, "reactive, flash crowd (λobs=48.0/s, λpred=40.0/s, ratio 1.20 > τ1=1.20)"}, // 4.801 → 5
		{"flash crowd", busy, 100, 0, 10, "reactive, flash crowd"},                                                      // 10 > 4
		{"flash crowd the prediction covers", late, 38, 0, 4, "but the reactive η=4 is not higher"},                     // 38/31 = 1.23; ⌈3.8⌉ = 4
		{"exactly τ2", busy, 20, 0, 4, "ratio 0.50 within"},
		{"prediction too high", busy, 15, 0, 2, "reactive, prediction too high (λobs=15.0/s, λpred=40.0/s, ratio 0.38 < τ2=0.50 for 3 periods)"}, // ⌈1.5⌉ = 2
		{"nothing arrives but calls wait", busy, 0, 3, 1, "durable lane → 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCombined(t, h)
			obs := observe(tt.now, tt.lambda, 4)
			obs.Durable = tt.durable
			if tt.lambda/40 < 0.5 {
				// Under τ2 the prediction holds for the first periods: one
				// quiet period is noise, not a wrong prediction.
				for i := 1; i < 3; i++ {
					got := decide(t, c, obs)
					if want := fmt.Sprintf("< τ2=0.50 for %d of 3 periods", i); got.Desired != 4 || !strings.Contains(got.Reason, want) {
						t.Fatalf("period %d: got %+v, want the prediction's 4 with %q", i, got, want)
					}
					obs.Now = obs.Now.Add(100 * time.Millisecond)
				}
			}
			got := decide(t, c, obs)
			if got.Desired != tt.want || !strings.Contains(got.Reason, tt.inWhy) {
				t.Fatalf("got %+v, want %d with %q", got, tt.want, tt.inWhy)
			}
		})
	}
}

func TestCombined_NoHistory(t *testing.T) {
	c := newCombined(t, provisioner.NewMemoryHistory())
	got := decide(t, c, observe(at(1000, 0, 0), 35, 1))
	if got.Desired != 4 || !strings.HasPrefix(got.Reason, "predictive without history") || !strings.Contains(got.Reason, "from λobs=35.0/s") {
		t.Fatalf("got %+v, want ⌈35/10⌉ = 4 from λobs", got)
	}
}

func TestCombined_RecordsHistory(t *testing.T) {
	h := provisioner.NewMemoryHistory()
	c := newCombined(t, h)
	decide(t, c, observe(at(1000, 2, 0), 35, 1))
	if got := peaks(t, h, "tst", 2); got[1000] != 35 {
		t.Fatalf("peaks %v, want day 1000 at 35", got)
	}
}
