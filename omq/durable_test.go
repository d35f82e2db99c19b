package omq_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/jetstream"
)

// recorder collects the values its "record" function receives.
type recorder struct {
	mu   sync.Mutex
	seen []int
}

func (r *recorder) Record(v int) {
	r.mu.Lock()
	r.seen = append(r.seen, v)
	r.mu.Unlock()
}

func (r *recorder) values() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]int(nil), r.seen...)
	sort.Ints(out)
	return out
}

func sendDurable(t *testing.T, n *omq.Node, from, to int) {
	t.Helper()
	for v := from; v < to; v++ {
		if err := n.Lookup("worker").Send(ctxT(t, 10*time.Second), "record", omq.Args(v), omq.Durable()); err != nil {
			t.Fatalf("durable send %d: %v", v, err)
		}
	}
}

func wantValues(t *testing.T, r *recorder, from, to int) {
	t.Helper()
	waitFor(t, func() bool { return len(r.values()) >= to-from }, fmt.Sprintf("%d durable calls to arrive", to-from))
	got := r.values()
	if len(got) != to-from {
		t.Fatalf("got %v, want %d values", got, to-from)
	}
	for i, v := range got {
		if v != from+i {
			t.Fatalf("got %v, want %d..%d once each", got, from, to-1)
		}
	}
}

// Durable sends made while nobody is bound are kept and delivered when an
// instance binds.
func TestDurable_KeptUntilAnInstanceBinds(t *testing.T) {
	e := newEnv(t)
	cli, _ := e.node()
	if b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker"); err != nil || b != 0 {
		t.Fatalf("backlog before any send = %d, %v; want 0, nil", b, err)
	}
	sendDurable(t, cli, 0, 10)
	// A supervisor reads the lane's backlog to keep a scaled-to-zero
	// service from staying at zero while calls wait.
	if b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker"); err != nil || b != 10 {
		t.Fatalf("backlog with nobody bound = %d, %v; want 10, nil", b, err)
	}
	if b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "other"); err != nil || b != 0 {
		t.Fatalf("backlog of another service = %d, %v; want 0, nil", b, err)
	}
	n, _ := e.node()
	r := &recorder{}
	bind(t, n, "worker", r)
	wantValues(t, r, 0, 10)
	waitFor(t, func() bool {
		b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker")
		return err == nil && b == 0
	}, "the backlog to drain once acknowledged")
}

// Durable sends survive a restart of the server.
func TestDurable_SurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := brokertest.Config(dir)
	srv1 := startServer(t, cfg)
	nc1 := brokertest.Connect(t, srv1)
	cli, err := omq.New(nc1)
	if err != nil {
		t.Fatal(err)
	}
	sendDurable(t, cli, 0, 5)
	nc1.Close()
	srv1.Shutdown()

	srv2 := startServer(t, cfg)
	n, err := omq.New(brokertest.Connect(t, srv2))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	bind(t, n, "worker", r)
	wantValues(t, r, 0, 5)
}

func startServer(t *testing.T, cfg broker.Config) *broker.Server {
	t.Helper()
	return brokertest.StartConfig(t, cfg)
}

// Each durable call goes to one instance of several.
func TestDurable_EachMessageToOneInstance(t *testing.T) {
	e := newEnv(t)
	r := &recorder{}
	for range 3 {
		n, _ := e.node()
		bind(t, n, "worker", r)
	}
	cli, _ := e.node()
	sendDurable(t, cli, 0, 30)
	wantValues(t, r, 0, 30)
}

// A message is acknowledged only after its handler returns: if the instance
// dies mid-call, another instance gets the message.
func TestDurable_RedeliveredWhenInstanceDiesMidCall(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	stuck, stuckConn := e.node()
	bind(t, stuck, "worker", omq.Handlers{
		"record": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			started <- struct{}{}
			<-ctx.Done() // never finishes on its own
			return nil, ctx.Err()
		}),
	}, omq.AckWait(time.Second))
	cli, _ := e.node()
	sendDurable(t, cli, 7, 8)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("first instance never got the message")
	}
	stuckConn.Close() // dies without acknowledging

	n, _ := e.node()
	r := &recorder{}
	bind(t, n, "worker", r, omq.AckWait(time.Second))
	wantValues(t, r, 7, 8)
}

func TestDurable_NoJetStream(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) { c.JetStream = false })
	n, _ := e.node()
	// Binding still works: the instance serves the core lanes.
	inst := bind(t, n, "worker", &recorder{})
	if inst.Stats().Data.Durable {
		t.Fatal("instance claims a durable lane without JetStream")
	}
	err := n.Lookup("worker").Send(ctxT(t, 5*time.Second), "record", omq.Args(1), omq.Durable())
	if !errors.Is(err, omq.ErrNoJetStream) {
		t.Fatalf("got %v, want ErrNoJetStream", err)
	}
}

// A durable send repeated with the same MsgID within the duplicate window
// is stored, and handled, once.
func TestDurable_MsgIDDropsRepeats(t *testing.T) {
	e := newEnv(t)
	cli, _ := e.node()
	for range 3 {
		if err := cli.Lookup("worker").Send(ctxT(t, 10*time.Second), "record", omq.Args(7), omq.Durable(), omq.MsgID("order-7")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cli.Lookup("worker").Send(ctxT(t, 10*time.Second), "record", omq.Args(8), omq.Durable(), omq.MsgID("order-8")); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(cli.Conn())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctxT(t, 5*time.Second), omq.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 2 {
		t.Fatalf("stream holds %d messages, want 2 (the repeats of order-7 dropped)", got)
	}
	n, _ := e.node()
	r := &recorder{}
	bind(t, n, "worker", r)
	wantValues(t, r, 7, 9)
}
