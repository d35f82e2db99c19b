package omq_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// logLines collects a logger's lines, for tests that check what omq logs.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// with returns the lines that contain every one of subs.
func (l *logLines) with(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(line, s) }) {
			out = append(out, line)
		}
	}
	return out
}

func newLogged() (*logLines, *slog.Logger) {
	l := &logLines{}
	return l, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// counter counts the runs of "record" per argument.
type counter struct {
	mu   sync.Mutex
	runs map[int]int
	busy time.Duration // each run takes this long
}

func (c *counter) handlers() omq.Handlers {
	return omq.Handlers{"record": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		var args []int
		if err := json.Unmarshal(r.Args, &args); err != nil || len(args) != 1 {
			return nil, omq.Errorf(omq.CodeBadArguments, "want [n]")
		}
		c.mu.Lock()
		if c.runs == nil {
			c.runs = map[int]int{}
		}
		c.runs[args[0]]++
		c.mu.Unlock()
		if c.busy > 0 {
			t := time.NewTimer(c.busy)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	})}
}

func (c *counter) snapshot() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]int, len(c.runs))
	for k, v := range c.runs {
		out[k] = v
	}
	return out
}

// settled: every durable call to worker was acknowledged (a work queue
// then drops it, so none can be delivered again) and no instance runs or
// holds one.
func settled(t *testing.T, cli *omq.Node, insts ...*omq.Instance) bool {
	b, err := cli.DurableBacklog(ctxT(t, 5*time.Second), "worker")
	if err != nil || b != 0 {
		return false
	}
	for _, i := range insts {
		if d := i.Stats().Data; d.InFlight != 0 || d.Backlog != 0 {
			return false
		}
	}
	return true
}

func consumerInfo(t *testing.T, nc *nats.Conn, name string) *jetstream.ConsumerInfo {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctxT(t, 5*time.Second), omq.DefaultStream, name)
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	return c.CachedInfo()
}

// Issue 9.1: with one handler slot, messages the lane had already taken
// aged against AckWait while they waited, and were handed to the lane again
// while (or before) they ran. A message waiting for a slot must not run
// twice.
func TestDurable_WaitingForASlotDoesNotRunTwice(t *testing.T) {
	e := newEnv(t)
	cli, _ := e.node()
	sendDurable(t, cli, 0, 4)
	n, _ := e.node()
	c := &counter{busy: 700 * time.Millisecond}
	inst := bind(t, n, "worker", c.handlers(), omq.Concurrency(1), omq.AckWait(time.Second))
	waitFor(t, func() bool { return len(c.snapshot()) == 4 && settled(t, cli, inst) }, "4 durable calls handled and acknowledged")
	for v, runs := range c.snapshot() {
		if runs != 1 {
			t.Errorf("call %d ran %d times, want once (all runs: %v)", v, runs, c.snapshot())
		}
	}
}

// A durable message that reaches a busy instance (a core call took the
// slot between the pull and the delivery) is kept from the other instances
// while it waits, and runs once.
func TestDurable_MessageWaitingForASlotIsNotRedelivered(t *testing.T) {
	e := newEnv(t)
	const ackWait = 300 * time.Millisecond
	hold := make(chan struct{})
	c := &counter{}
	handlers := c.handlers()
	handlers["hold"] = omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
		<-hold
		return nil, nil
	})
	a, anc := e.node()
	instA := bind(t, a, "worker", handlers, omq.Concurrency(1), omq.AckWait(ackWait))
	// A's lane waits on the server for one message (its one free slot).
	waitFor(t, func() bool { return consumerInfo(t, anc, "omq_worker").NumWaiting == 1 }, "A's pull to wait on the server")
	cli, _ := e.node()
	held := cli.Lookup("worker").At(instA.ID()).Go(context.Background(), "hold", nil, nil, nil, omq.Timeout(time.Minute))
	waitFor(t, func() bool { return instA.Stats().Data.InFlight == 1 }, "the core call to take A's slot")
	sendDurable(t, cli, 1, 2)
	waitFor(t, func() bool { return instA.Backlog() == 1 }, "the durable call to wait in A")
	// B is idle: the server would hand it the call if A's hold on it
	// lapsed.
	b, _ := e.node()
	instB := bind(t, b, "worker", handlers, omq.AckWait(ackWait))
	// Keep A busy for several times the server's ack timeout (AckWait plus
	// the first 100ms pause). This is the scenario, not a guess at how long
	// something takes: without InProgress the server redelivers within it.
	time.Sleep(5 * (ackWait + 100*time.Millisecond))
	close(hold)
	<-held.Done
	if held.Error != nil {
		t.Fatal(held.Error)
	}
	waitFor(t, func() bool { return c.snapshot()[1] >= 1 && settled(t, cli, instA, instB) }, "the durable call handled and acknowledged")
	if runs := c.snapshot()[1]; runs != 1 {
		t.Fatalf("the durable call ran %d times, want once", runs)
	}
}

// Issue 9.2: the consumer has one owner, the instance that created it;
// others use it as it is and say once what differs.
func TestDurable_ConsumerIsNotRewrittenByLaterBinds(t *testing.T) {
	e := newEnv(t)
	a, nc := e.node()
	bind(t, a, "worker", &recorder{}, omq.AckWait(5*time.Second), omq.MaxDeliver(4))
	want := consumerInfo(t, nc, "omq_worker").Config

	logs, logger := newLogged()
	b, _ := e.node(omq.WithLogger(logger))
	bind(t, b, "worker", &recorder{}, omq.AckWait(time.Second), omq.MaxDeliver(2))
	got := consumerInfo(t, nc, "omq_worker").Config
	if got.AckWait != want.AckWait || got.MaxDeliver != 4 || !slices.Equal(got.BackOff, want.BackOff) {
		t.Fatalf("after a second bind: AckWait %s MaxDeliver %d BackOff %v; want the first's %s, 4, %v",
			got.AckWait, got.MaxDeliver, got.BackOff, want.AckWait, want.BackOff)
	}
	warns := logs.with("level=WARN")
	if len(warns) != 1 {
		t.Fatalf("got %d warnings, want 1: %q", len(warns), warns)
	}
	for _, d := range []string{"AckWait 5s (this instance: 1s)", "MaxDeliver 4 (this instance: 2)", "BackOff [5.1s 5.2s 5.4s] (this instance: [1.1s])"} {
		if !strings.Contains(warns[0], d) {
			t.Errorf("warning %q does not say %q", warns[0], d)
		}
	}

	// An instance with the creator's options has nothing to say.
	quiet, logger := newLogged()
	c, _ := e.node(omq.WithLogger(logger))
	bind(t, c, "worker", &recorder{}, omq.AckWait(5*time.Second), omq.MaxDeliver(4))
	if w := quiet.with("level=WARN"); len(w) != 0 {
		t.Fatalf("same options, yet: %q", w)
	}
}

// Issue 9.3: the consumer omq creates carries MaxDeliver and a BackOff
// whose entry n-1 is AckWait plus the pause after delivery n (100ms ×
// 2^(n−1), capped at 30s), one entry per possible redelivery.
func TestDurable_ConsumerHasMaxDeliverAndBackOff(t *testing.T) {
	e := newEnv(t)
	n, nc := e.node()
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		opts    []omq.BindOption
		max     int
		backoff []time.Duration
		ackWait time.Duration
	}{
		{"defaults", nil, omq.DefaultMaxDeliver, []time.Duration{
			30*time.Second + 100*ms, 30*time.Second + 200*ms, 30*time.Second + 400*ms, 30*time.Second + 800*ms,
			30*time.Second + 1600*ms, 30*time.Second + 3200*ms, 30*time.Second + 6400*ms, 30*time.Second + 12800*ms,
			30*time.Second + 25600*ms,
		}, 30*time.Second + 100*ms},
		{"once", []omq.BindOption{omq.MaxDeliver(1), omq.AckWait(2 * time.Second)}, 1, nil, 2 * time.Second},
		{"capped", []omq.BindOption{omq.MaxDeliver(100), omq.AckWait(time.Second)}, 100, []time.Duration{
			1100 * ms, 1200 * ms, 1400 * ms, 1800 * ms, 2600 * ms, 4200 * ms, 7400 * ms, 13800 * ms, 26600 * ms, 31 * time.Second,
		}, 1100 * ms},
	} {
		bind(t, n, tc.name, &recorder{}, tc.opts...)
		cc := consumerInfo(t, nc, "omq_"+tc.name).Config
		if cc.MaxDeliver != tc.max || !slices.Equal(cc.BackOff, tc.backoff) || cc.AckWait != tc.ackWait {
			t.Errorf("%s: MaxDeliver %d BackOff %v AckWait %s; want %d %v %s", tc.name, cc.MaxDeliver, cc.BackOff, cc.AckWait, tc.max, tc.backoff, tc.ackWait)
		}
	}
}

// Issue 9.3: a call that kills every instance it reaches is offered
// MaxDeliver times, then the server gives up on it.
func TestDurable_CrashLoopEnds(t *testing.T) {
	e := newEnv(t)
	cli, cnc := e.node()
	gaveUp, err := cnc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + omq.DefaultStream + ".omq_worker")
	if err != nil {
		t.Fatal(err)
	}
	sendDurable(t, cli, 7, 8)
	for k := 1; k <= 3; k++ {
		started := make(chan struct{}, 1)
		n, nc := e.node()
		bind(t, n, "worker", omq.Handlers{"record": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})}, omq.AckWait(300*time.Millisecond), omq.MaxDeliver(3))
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("delivery %d never came", k)
		}
		nc.Close() // the process dies with the call
	}
	if _, err := gaveUp.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no max-deliveries advisory after 3 crashed deliveries: %v", err)
	}
	waitFor(t, func() bool {
		ci := consumerInfo(t, cnc, "omq_worker")
		return ci.NumAckPending == 0 && ci.NumPending == 0
	}, "the consumer to hold nothing for delivery")
}

// Issue 9.3: an instance follows the consumer it uses, not its own
// options: with the consumer's MaxDeliver of 2, a failing call is dropped
// at its second delivery even though this instance would allow 10.
func TestDurable_FailuresFollowTheConsumersMaxDeliver(t *testing.T) {
	e := newEnv(t)
	owner, _ := e.node()
	ownerInst := bind(t, owner, "worker", omq.Handlers{"other": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil })},
		omq.MaxDeliver(2))
	if err := ownerInst.Unbind(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	n, _ := e.node()
	inst := bind(t, n, "worker", omq.Handlers{"record": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
		runs.Add(1)
		return nil, errors.New("always")
	})}, omq.MaxDeliver(10))
	cli, _ := e.node()
	sendDurable(t, cli, 1, 2)
	waitFor(t, func() bool { return settled(t, cli, inst) && runs.Load() >= 2 }, "the failing call dropped")
	if got := runs.Load(); got != 2 {
		t.Fatalf("the failing call ran %d times, want the consumer's MaxDeliver, 2", got)
	}
}

// Issue 9.4: a consumer deleted under a bound instance is made again, and
// calls sent meanwhile are handled.
func TestDurable_DeletedConsumerIsRecreated(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	r := &recorder{}
	bind(t, n, "worker", r)
	cli, nc := e.node()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(ctxT(t, 5*time.Second), omq.DefaultStream, "omq_worker"); err != nil {
		t.Fatal(err)
	}
	sendDurable(t, cli, 0, 3)
	// A pull that reaches the server while it deletes the consumer can be
	// queued after the server released the consumer's waiting pulls: no
	// 409 comes back, and the lane learns of the loss only when two idle
	// heartbeats are missing (2 × pullHeartbeat = 10 s). That is the
	// bound on recovery, so wait past it.
	brokertest.Eventually(t, 30*time.Second, func() bool { return len(r.values()) >= 3 }, "3 durable calls to arrive")
	wantValues(t, r, 0, 3)
}

// restartEmpty stops srv and starts cfg on the same port with an empty
// JetStream store: a hub that came back without its data.
func restartEmpty(t *testing.T, srv *broker.Server, cfg broker.Config) *broker.Server {
	t.Helper()
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port, err = strconv.Atoi(u.Port()); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	cfg.StoreDir = t.TempDir()
	return brokertest.StartConfig(t, cfg)
}

// connectBack connects with fast, endless reconnects, as a long-running
// program would.
func connectBack(t *testing.T, srv *broker.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return brokertest.Connect(t, srv, append([]nats.Option{nats.ReconnectWait(25 * time.Millisecond), nats.MaxReconnects(-1), nats.ReconnectJitter(0, 0)}, opts...)...)
}

func newNode(t *testing.T, nc *nats.Conn, opts ...omq.Option) *omq.Node {
	t.Helper()
	n, err := omq.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n
}

// Issue 9.4: after the server comes back without its JetStream data, a
// node that had sent durable calls sends again (its memory of the stream
// dropped, the stream made again), and a bound instance handles them (its
// consumer made again).
func TestDurable_LaneSurvivesAServerThatLostItsData(t *testing.T) {
	cfg := brokertest.Config(t.TempDir())
	srv := brokertest.StartConfig(t, cfg)
	wnc, cnc := connectBack(t, srv), connectBack(t, srv)
	r := &recorder{}
	worker := newNode(t, wnc)
	bind(t, worker, "worker", r)
	cli := newNode(t, cnc)
	sendDurable(t, cli, 0, 1)
	wantValues(t, r, 0, 1)

	restartEmpty(t, srv, cfg)
	waitFor(t, func() bool { return wnc.IsConnected() && cnc.IsConnected() }, "both connections back")
	sendDurable(t, cli, 1, 3)
	wantValues(t, r, 0, 3)
	closeNodes(t, worker, cli)
}

// closeNodes closes nodes while the server that restarted in the test
// still runs (its cleanup comes first).
func closeNodes(t *testing.T, nodes ...*omq.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.Close(ctxT(t, 10*time.Second)); err != nil {
			t.Error(err)
		}
	}
}

// The permissions of a service:NAME identity in docs/SECURITY.md, for the
// durable lane and calls.
func servicePermissions(name string) *broker.Permissions {
	c := omq.DefaultStream + ".omq_" + name
	return &broker.Permissions{
		PublishAllow: []string{
			"dpc.svc.>", "dpc.all.>", "dpc.one.>", "dpc.async.>", "$SRV.>",
			"$JS.API.STREAM.INFO." + omq.DefaultStream,
			"$JS.API.CONSUMER.CREATE." + c + ".>", "$JS.API.CONSUMER.INFO." + c,
			"$JS.API.CONSUMER.MSG.NEXT." + c, "$JS.ACK." + c + ".>",
		},
		SubscribeAllow: []string{
			"dpc.svc." + name + ".*", "dpc.all." + name + ".*", "dpc.one." + name + ".>",
			"$SRV.PING", "$SRV.INFO", "$SRV.STATS", "$SRV.*." + name, "$SRV.*." + name + ".>",
			"_INBOX.>",
		},
		AllowResponses: true,
	}
}

// createLaneStream makes the durable lane's stream as a DPC hub does at
// start.
func createLaneStream(t *testing.T, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctxT(t, 10*time.Second), jetstream.StreamConfig{
		Name: omq.DefaultStream, Subjects: []string{"dpc.async.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("the hub creates the stream: %v", err)
	}
}

// Issue 9.4, as a service identity: it may not create the stream, so after
// the server lost its data it waits for the hub to make the stream again,
// then makes its consumer again, using nothing its role does not grant
// beyond one refused attempt to create the stream.
func TestDurable_ServiceIdentityRecreatesItsConsumerOnceTheStreamIsBack(t *testing.T) {
	var evMu sync.Mutex
	var denied []string
	cfg := brokertest.Config(t.TempDir())
	cfg.Users = []broker.User{
		{Name: "hub", Password: "hub-secret"},
		{Name: "worker", Password: "worker-secret", Permissions: servicePermissions("worker")},
	}
	cfg.OnSecurityEvent = func(ev broker.SecurityEvent) {
		evMu.Lock()
		denied = append(denied, ev.Kind+" "+ev.Op+" "+ev.Subject)
		evMu.Unlock()
	}
	srv := brokertest.StartConfig(t, cfg)
	hnc := connectBack(t, srv, nats.UserInfo("hub", "hub-secret"))
	wnc := connectBack(t, srv, nats.UserInfo("worker", "worker-secret"))
	createLaneStream(t, hnc)
	hub := newNode(t, hnc)

	logs, logger := newLogged()
	wn := newNode(t, wnc, omq.WithLogger(logger), omq.WithTimeout(time.Second))
	r := &recorder{}
	inst := bind(t, wn, "worker", r)
	if !inst.Stats().Data.Durable {
		t.Fatal("a service identity got no durable lane")
	}
	sendDurable(t, hub, 0, 1)
	wantValues(t, r, 0, 1)

	restartEmpty(t, srv, cfg)
	waitFor(t, func() bool { return len(logs.with("durable lane lost")) > 0 }, "the worker to notice its lane is gone")
	waitFor(t, func() bool { return len(logs.with("may not create it")) > 0 }, "the worker to wait for the stream")
	waitFor(t, hnc.IsConnected, "the hub's connection back")
	createLaneStream(t, hnc)
	sendDurable(t, hub, 1, 3)
	wantValues(t, r, 0, 3)
	closeNodes(t, wn, hub)

	evMu.Lock()
	defer evMu.Unlock()
	for _, d := range denied {
		if d != "permission publish $JS.API.STREAM.CREATE."+omq.DefaultStream {
			t.Errorf("refused: %s", d)
		}
	}
	if len(denied) > 1 {
		t.Errorf("the stream's creation was refused %d times; once is enough to know", len(denied))
	}
}
