package provisioner_test

import (
	"context"
	"testing"

	"github.com/dpc-project/dpc/provisioner"
)

func TestFixed_AlwaysN(t *testing.T) {
	var p provisioner.Provisioner = provisioner.Fixed{N: 3}
	for _, lambda := range []float64{0, 10, 1e6} {
		if got := decide(t, p, observe(t0, lambda, 1)); got.Desired != 3 || got.Reason != "fixed at 3" {
			t.Errorf("λ=%v: %+v, want 3", lambda, got)
		}
	}
	if p.Name() != "fixed" {
		t.Errorf("Name() = %q", p.Name())
	}
	if _, err := (provisioner.Fixed{N: -1}).Decide(context.Background(), observe(t0, 0, 0)); err == nil {
		t.Error("negative N: no error")
	}
}
