package omq_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// Calc is the bound Go value most tests use.
type Calc struct {
	calls atomic.Int64
}

func (c *Calc) Add(a, b int) int { c.calls.Add(1); return a + b }
func (c *Calc) Nop()             { c.calls.Add(1) }
func (c *Calc) Fail() error      { return errors.New("it broke") }
func (c *Calc) Panic() int       { panic("boom") }
func (c *Calc) Sleep(ctx context.Context, ms int) error {
	c.calls.Add(1)
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// env is one embedded server and a way to open nodes on their own
// connections, as separate programs would.
type env struct {
	t   *testing.T
	srv *broker.Server
}

func newEnv(t *testing.T, changes ...func(*broker.Config)) *env {
	t.Helper()
	return &env{t: t, srv: brokertest.Start(t, changes...)}
}

// node opens a node on a fresh TCP connection, closed at cleanup.
func (e *env) node(opts ...omq.Option) (*omq.Node, *nats.Conn) {
	e.t.Helper()
	nc := brokertest.Connect(e.t, e.srv)
	n, err := omq.New(nc, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n, nc
}

func bind(t *testing.T, n *omq.Node, name string, v any, opts ...omq.BindOption) *omq.Instance {
	t.Helper()
	inst, err := n.Bind(ctxT(t, 10*time.Second), name, v, opts...)
	if err != nil {
		t.Fatalf("bind %s: %v", name, err)
	}
	return inst
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	brokertest.Eventually(t, 10*time.Second, cond, what)
}
