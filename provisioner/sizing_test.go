package provisioner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/provisioner"
)

// The erlang model sizes a pooled queue: at 100 calls/s of 20 ms (2
// erlangs) on one-slot instances, two instances are saturated and three
// meet p95 ≤ 100 ms by a wide margin (P(wait > 80 ms) = C(3, 2)·e⁻⁸ ≈
// 0.0001). The G/G/1 model, given half the SLA as its mean (as the
// replay sizes a p95 with it), asks for more: separate queues.
func TestReactive_ErlangModelPoolsTheInstances(t *testing.T) {
	obs := provisioner.Observation{
		Service: "w", Now: t0, Period: time.Second, Current: 1, Ready: 1, Concurrency: 1,
		Limits:       provisioner.Limits{Min: 1, Max: 10},
		Lambda:       100,
		ServiceTime:  provisioner.Moments{Count: 100, Mean: 0.020},
		InterArrival: provisioner.Moments{Count: 100, Mean: 0.01, Variance: 0.0001},
	}
	decide := func(model string, d time.Duration) provisioner.Decision {
		cfg := provisioner.DefaultReactiveConfig()
		cfg.ResponseTime, cfg.Model = d, model
		r, err := provisioner.NewReactive(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := r.Decide(context.Background(), obs)
		if err != nil {
			t.Fatal(err)
		}
		return dec
	}
	e := decide(provisioner.ModelErlang, 100*time.Millisecond)
	if e.Desired != 3 || !strings.Contains(e.Reason, "erlang") {
		t.Fatalf("erlang: %+v, want 3 instances and the model named", e)
	}
	if g := decide(provisioner.ModelGG1, 50*time.Millisecond); g.Desired <= e.Desired {
		t.Fatalf("gg1 asked for %d, erlang %d: separate queues need more", g.Desired, e.Desired)
	}
	// Slow at night: one instance.
	obs.Lambda = 5
	if d := decide(provisioner.ModelErlang, 100*time.Millisecond); d.Desired != 1 {
		t.Fatalf("erlang at 5/s: %+v, want 1", d)
	}
}

func TestReactiveConfig_RejectsUnknownModel(t *testing.T) {
	cfg := provisioner.DefaultReactiveConfig()
	cfg.ResponseTime, cfg.Model = 100*time.Millisecond, "mm1"
	if _, err := provisioner.NewReactive(cfg); err == nil || !strings.Contains(err.Error(), "mm1") {
		t.Fatalf("got %v, want the model refused by name", err)
	}
	cfg.Model, cfg.SLAPercentile = provisioner.ModelErlang, 100
	if _, err := provisioner.NewReactive(cfg); err == nil {
		t.Fatal("percentile 100 accepted")
	}
}

// Calls already waiting are sized to drain within a period, on top of
// the rate.
func TestReactive_ErlangDrainsTheBacklog(t *testing.T) {
	obs := provisioner.Observation{
		Service: "w", Now: t0, Period: time.Second, Current: 3, Ready: 3, Concurrency: 1,
		Limits:       provisioner.Limits{Min: 1, Max: 20},
		Lambda:       100,
		ServiceTime:  provisioner.Moments{Count: 100, Mean: 0.020},
		InterArrival: provisioner.Moments{Count: 100, Mean: 0.01, Variance: 0.0001},
	}
	decide := func(backlog int64) provisioner.Decision {
		cfg := provisioner.DefaultReactiveConfig()
		cfg.ResponseTime, cfg.Model = 100*time.Millisecond, provisioner.ModelErlang
		r, err := provisioner.NewReactive(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := obs
		o.Backlog = backlog
		dec, err := r.Decide(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return dec
	}
	calm, crowd := decide(0), decide(200)
	// 100/s + 200 waiting over 1 s = 300/s: 6 erlangs, at least 7.
	if calm.Desired != 3 || crowd.Desired < 7 || !strings.Contains(crowd.Reason, "200 waiting") {
		t.Fatalf("without a backlog %+v, with 200 waiting %+v", calm, crowd)
	}
}
