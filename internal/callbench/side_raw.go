package callbench

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// rawSide is the baseline: the plainest queue-group responder, echoing each
// request from its subscription callback, and clients calling nc.Request
// with a timeout as `nats bench service request` does.
type rawSide struct{ p sideParams }

func (rawSide) Name() string { return SideRaw }

func (s rawSide) subject() string { return "dpcbench." + s.p.runID + ".raw" }

func (s rawSide) Serve(ctx context.Context, url string) (func(), error) {
	nc, err := s.p.connect(url, "dpc-bench raw responder")
	if err != nil {
		return nil, fmt.Errorf("raw responder: connect %s: %w", url, err)
	}
	_, err = nc.QueueSubscribe(s.subject(), "q", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err == nil {
		// The subscription must be on the server before the first request.
		fctx, cancel := context.WithTimeout(ctx, s.p.timeout)
		err = nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("raw responder: %w", err)
	}
	return nc.Close, nil
}

func (s rawSide) Dial(url string) (client, error) {
	nc, err := s.p.connect(url, "dpc-bench raw client")
	if err != nil {
		return nil, fmt.Errorf("raw client: connect %s: %w", url, err)
	}
	return &rawClient{nc: nc, subject: s.subject(), payload: payload(s.p.payload), p: s.p}, nil
}

type rawClient struct {
	nc      *nats.Conn
	subject string
	payload []byte
	p       sideParams
}

// Call ignores ctx as `nats bench` does: nc.Request bounds the wait with its
// own timeout, which is shorter than any interruption needs.
func (c *rawClient) Call(context.Context) error {
	m, err := c.nc.Request(c.subject, c.payload, c.p.timeout)
	if err != nil {
		return fmt.Errorf("raw request: %w", err)
	}
	if len(m.Data) != len(c.payload) {
		return fmt.Errorf("raw request: reply of %d bytes to a request of %d", len(m.Data), len(c.payload))
	}
	return nil
}

func (c *rawClient) Close() { c.nc.Close() }
