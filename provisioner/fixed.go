package provisioner

import (
	"context"
	"fmt"
)

// Fixed always proposes N instances: the fixed-size deployment that
// elastic policies are compared against, and a way to pin a service.
type Fixed struct {
	N int
}

// Name is "fixed".
func (f Fixed) Name() string { return "fixed" }

// Decide proposes N.
func (f Fixed) Decide(ctx context.Context, obs Observation) (Decision, error) {
	if f.N < 0 {
		return Decision{}, fmt.Errorf("provisioner: fixed: negative count %d", f.N)
	}
	return Decision{Desired: f.N, Reason: fmt.Sprintf("fixed at %d", f.N)}, nil
}

var _ Provisioner = Fixed{}
