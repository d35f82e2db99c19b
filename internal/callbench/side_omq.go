package callbench

import (
	"context"
	"fmt"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// omqService is what the omq side binds: a Go value whose methods omq finds
// by reflection, as a DPC service would be written.
type omqService struct{}

// Nop does nothing: the call measures omq's own cost.
func (omqService) Nop() {}

// Echo returns its argument, for runs with a payload.
func (omqService) Echo(s string) string { return s }

// omqServiceName is the name the service is bound and looked up under.
const omqServiceName = "bench"

// omqSide binds omqService on its own connection and calls it through
// Node.Lookup(...).Call.
type omqSide struct{ p sideParams }

func (omqSide) Name() string { return SideOMQ }

// prefix gives the run its own subject space (dpcbench_<id>.svc.bench.nop).
func (s omqSide) prefix() string { return "dpcbench_" + s.p.runID }

func (s omqSide) Serve(ctx context.Context, url string) (func(), error) {
	nc, err := s.p.connect(url, "dpc-bench omq service")
	if err != nil {
		return nil, fmt.Errorf("omq service: connect %s: %w", url, err)
	}
	node, err := omq.New(nc, omq.WithPrefix(s.prefix()))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("omq service: %w", err)
	}
	// NoDurable: the bench measures synchronous calls, and must not create
	// a JetStream stream on an external server.
	if _, err := node.Bind(ctx, omqServiceName, omqService{}, omq.NoDurable()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("omq service: %w", err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.p.timeout)
		defer cancel()
		_ = node.Close(ctx)
		nc.Close()
	}
	return stop, nil
}

func (s omqSide) Dial(url string) (client, error) {
	nc, err := s.p.connect(url, "dpc-bench omq client")
	if err != nil {
		return nil, fmt.Errorf("omq client: connect %s: %w", url, err)
	}
	node, err := omq.New(nc, omq.WithPrefix(s.prefix()), omq.WithTimeout(s.p.timeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("omq client: %w", err)
	}
	c := &omqClient{nc: nc, stub: node.Lookup(omqServiceName)}
	if s.p.payload > 0 {
		c.arg = string(payload(s.p.payload))
	}
	return c, nil
}

type omqClient struct {
	nc   *nats.Conn
	stub *omq.Stub
	arg  string
}

// Call, like the raw side, bounds each call by the timeout alone (set with
// omq.WithTimeout) and leaves interruption to the load loop, which checks
// ctx between calls: the raw side's nc.Request watches no context either.
// A cancellable context costs omq about 1.5µs more per call (a timer and
// a registration with the parent), measured separately in
// docs/BENCHMARKS.md.
func (c *omqClient) Call(context.Context) error {
	ctx := context.Background()
	if c.arg == "" {
		if err := c.stub.Call(ctx, "nop", nil, nil); err != nil {
			return fmt.Errorf("omq call: %w", err)
		}
		return nil
	}
	var out string
	if err := c.stub.Call(ctx, "echo", omq.Args(c.arg), &out); err != nil {
		return fmt.Errorf("omq call: %w", err)
	}
	if len(out) != len(c.arg) {
		return fmt.Errorf("omq call: reply of %d bytes to a request of %d", len(out), len(c.arg))
	}
	return nil
}

func (c *omqClient) Close() { c.nc.Close() }
