package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// worker is a durable service whose "record" rejects its calls with a 400
// while reject is set, and counts the runs per argument.
type worker struct {
	reject atomic.Bool
	mu     sync.Mutex
	runs   map[int]int
}

func (w *worker) handlers() omq.Handlers {
	return omq.Handlers{"record": omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
		var args []int
		if err := json.Unmarshal(r.Args, &args); err != nil || len(args) != 1 {
			return nil, omq.Errorf(omq.CodeBadArguments, "want [n]")
		}
		w.mu.Lock()
		if w.runs == nil {
			w.runs = map[int]int{}
		}
		w.runs[args[0]]++
		w.mu.Unlock()
		if w.reject.Load() {
			return nil, omq.Errorf(omq.CodeBadArguments, "not %d, not now", args[0])
		}
		return nil, nil
	})}
}

func (w *worker) ran(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs[n]
}

// deadList lists the dead letters through the hub's service, as the owner.
func deadList(t *testing.T, owner *omq.Node, req trust.DeadListRequest) trust.DeadListReply {
	t.Helper()
	var rep trust.DeadListReply
	if err := owner.Lookup(trust.DeadLettersService).Call(ctxT(t), trust.FnList, req, &rep); err != nil {
		t.Fatalf("deadletters.list: %v", err)
	}
	return rep
}

func deadDo(t *testing.T, owner *omq.Node, fn string, req trust.DeadRequest) trust.DeadReply {
	t.Helper()
	var rep trust.DeadReply
	if err := owner.Lookup(trust.DeadLettersService).Call(ctxT(t), fn, req, &rep); err != nil {
		t.Fatalf("deadletters.%s: %v", fn, err)
	}
	return rep
}

func backlog(t *testing.T, n *omq.Node, svc string) int64 {
	t.Helper()
	b, err := n.DurableBacklog(ctxT(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A service identity's instance writes the dead letters of the calls it
// rejects (its role allows exactly that); the owner lists them, replays
// one (handled once more, then gone), replays all in batches (which does
// not chase the letters the replay itself makes), and purges.
func TestDeadLetters_ListReplayPurge(t *testing.T) {
	h := startHub(t)
	svcNC, err := connect(t, h.pair(t, "worker-1", "service:worker"))
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{}
	w.reject.Store(true)
	inst, err := node(t, svcNC).Bind(ctxT(t), "worker", w.handlers(), omq.AckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = inst.Unbind(context.Background()) }()
	ownerNC, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	owner := node(t, ownerNC)
	for v := 1; v <= 3; v++ {
		if err := owner.Lookup("worker").Send(ctxT(t), "record", omq.Args(v), omq.Durable()); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		return deadList(t, owner, trust.DeadListRequest{}).Total == 3 && backlog(t, owner, "worker") == 0
	}, "three rejected calls buried by the service itself")

	all := deadList(t, owner, trust.DeadListRequest{})
	if all.More || len(all.Letters) != 3 {
		t.Fatalf("list: %+v", all)
	}
	// The three ran at once: their letters are in any order.
	first := all.Letters[0]
	var v int
	if _, err := fmt.Sscanf(first.Reason, "400: not %d, not now", &v); err != nil || first.Service != "worker" || first.Function != "record" ||
		first.Code != 400 || first.Deliveries != 1 || first.Size == 0 || first.Time.IsZero() {
		t.Fatalf("first dead letter: %+v", first)
	}
	if some := deadList(t, owner, trust.DeadListRequest{Limit: 2}); len(some.Letters) != 2 || !some.More || some.Total != 3 {
		t.Fatalf("list limit 2: %d letters, more %v, total %d; want 2, true, 3", len(some.Letters), some.More, some.Total)
	}
	if none := deadList(t, owner, trust.DeadListRequest{Service: "other"}); none.Total != 0 || len(none.Letters) != 0 {
		t.Fatalf("list of another service: %+v", none)
	}
	err = owner.Lookup(trust.DeadLettersService).Call(ctxT(t), trust.FnList, trust.DeadListRequest{Limit: trust.MaxDeadList + 1}, nil)
	if !errors.Is(err, omq.ErrBadArguments) {
		t.Fatalf("list over the bound: %v, want a 400", err)
	}

	// Replay one: it runs once more, succeeds, and its dead letter goes.
	w.reject.Store(false)
	rep := deadDo(t, owner, trust.FnReplay, trust.DeadRequest{IDs: []uint64{first.ID, 999}})
	if rep.Done != 1 || len(rep.Skipped) != 1 || rep.Skipped[0].ID != 999 {
		t.Fatalf("replay: %+v", rep)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return w.ran(v) == 2 && backlog(t, owner, "worker") == 0 }, "the replayed call handled")
	if l := deadList(t, owner, trust.DeadListRequest{}); l.Total != 2 || slices.ContainsFunc(l.Letters, func(d trust.DeadLetter) bool { return d.ID == first.ID }) {
		t.Fatalf("after the replay: %+v", l)
	}

	// Replay all, in batches of one, while the service still rejects them:
	// each is replayed once, and the new dead letters are not replayed.
	w.reject.Store(true)
	dl := deadLetters{h: h.Hub, batch: 1}
	req, done := trust.DeadRequest{All: true, Service: "worker"}, 0
	for calls := 0; ; calls++ {
		if calls > 5 {
			t.Fatal("replay of all does not end")
		}
		r, err := dl.Replay(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		done += r.Done
		if r.Next == 0 {
			break
		}
		req.From, req.To = r.Next, r.To
	}
	if done != 2 {
		t.Fatalf("replayed %d, want 2", done)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		return deadList(t, owner, trust.DeadListRequest{}).Total == 2 && backlog(t, owner, "worker") == 0
	}, "the replayed calls buried again")
	for v, want := range map[int]int{1: 2, 2: 2, 3: 2} {
		if got := w.ran(v); got != want {
			t.Errorf("call %d ran %d times, want %d", v, got, want)
		}
	}

	// Purge one by id, then all.
	l := deadList(t, owner, trust.DeadListRequest{})
	if r := deadDo(t, owner, trust.FnPurge, trust.DeadRequest{IDs: []uint64{l.Letters[0].ID}}); r.Done != 1 {
		t.Fatalf("purge one: %+v", r)
	}
	if r := deadDo(t, owner, trust.FnPurge, trust.DeadRequest{All: true, Service: "worker"}); r.Done != 1 {
		t.Fatalf("purge all: %+v", r)
	}
	if l := deadList(t, owner, trust.DeadListRequest{}); l.Total != 0 {
		t.Fatalf("after purging: %+v", l)
	}
	err = owner.Lookup(trust.DeadLettersService).Call(ctxT(t), trust.FnPurge, trust.DeadRequest{}, nil)
	if !errors.Is(err, omq.ErrBadArguments) {
		t.Fatalf("purge of nothing: %v, want a 400", err)
	}
}

// An instance that dies on a call's last delivery writes nothing: the
// server gives up on the call, and the hub moves it to the dead letters
// from the advisory.
func TestDeadLetters_NoAnswerMovedByTheHub(t *testing.T) {
	h := startHub(t)
	dir := h.pair(t, "worker-1", "service:worker")
	svcNC, err := connect(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	_, err = node(t, svcNC).Bind(ctxT(t), "worker", omq.Handlers{"record": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})}, omq.AckWait(300*time.Millisecond), omq.MaxDeliver(1))
	if err != nil {
		t.Fatal(err)
	}
	ownerNC, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	owner := node(t, ownerNC)
	if err := owner.Lookup("worker").Send(ctxT(t), "record", omq.Args(7), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never arrived")
	}
	svcNC.Close() // the process dies with the call
	brokertest.Eventually(t, 10*time.Second, func() bool {
		return deadList(t, owner, trust.DeadListRequest{}).Total == 1 && backlog(t, owner, "worker") == 0
	}, "the hub to move the given-up call")
	d := deadList(t, owner, trust.DeadListRequest{}).Letters[0]
	if d.Reason != reasonNoAnswer || d.Code != 0 || d.Deliveries != 1 || d.Service != "worker" {
		t.Fatalf("dead letter: %+v", d)
	}
}

// Advisories can be missed (no hub up when the server gave up): the sweep
// finds the given-up calls from the consumer's state, leaves the calls
// still waiting for an answer, and writes a dead letter an instance wrote
// already only once (the same Nats-Msg-Id both ways).
func TestDeadLetters_SweepFindsMissedCalls(t *testing.T) {
	srv := brokertest.Start(t)
	nc := brokertest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	lane, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: omq.DefaultStream, Subjects: []string{"dpc.async.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, omq.DeadLetterStream(omq.DefaultPrefix)); err != nil {
		t.Fatal(err)
	}
	cons, err := lane.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "omq_worker", FilterSubject: "dpc.async.worker.*", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 200 * time.Millisecond, MaxDeliver: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"[1]", "[2]"} {
		if _, err := js.Publish(ctx, "dpc.async.worker.record", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// Both are delivered once and never answered.
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []jetstream.Msg
	for m := range batch.Messages() {
		got = append(got, m)
	}
	if len(got) != 2 {
		t.Fatalf("fetched %d, want 2", len(got))
	}
	// A third call that no instance has taken yet must stay.
	if _, err := js.Publish(ctx, "dpc.async.worker.record", []byte("[3]")); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0
	}, "the server to give up on both")
	// A call answered meanwhile leaves the lane a moment after its ack (a
	// cluster removes it through its log): the sweep moves only what it
	// found twice.
	// An instance had written the first one's dead letter before dying.
	md, err := got[0].Metadata()
	if err != nil {
		t.Fatal(err)
	}
	dl, err := omq.NewDeadLetter(omq.DefaultPrefix, got[0].Subject(), got[0].Headers(), got[0].Data(),
		omq.Death{Stream: md.Stream, Seq: md.Sequence.Stream, Stored: md.Timestamp, Deliveries: 1, Code: 500, Reason: "boom", Instance: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, dl); err != nil {
		t.Fatal(err)
	}

	hb := &Hub{js: js, log: slog.New(slog.DiscardHandler)}
	moved, seen, err := hb.sweepDead(ctx, nil)
	if err != nil || moved != 0 || len(seen) != 2 {
		t.Fatalf("first sweep: moved %d, found %v, %v; want 0 and both found", moved, seen, err)
	}
	if moved, seen, err = hb.sweepDead(ctx, seen); err != nil || moved != 2 {
		t.Fatalf("second sweep: moved %d, %v; want 2", moved, err)
	}
	if moved, _, err := hb.sweepDead(ctx, seen); err != nil || moved != 0 {
		t.Fatalf("third sweep: moved %d, %v; want 0", moved, err)
	}
	dead, err := js.Stream(ctx, omq.DefaultDeadStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := dead.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("%d dead letters, want 2 (the first written once)", n)
	}
	if first, err := dead.GetMsg(ctx, 1); err != nil || first.Header.Get(omq.HeaderDeadInstance) != "w1" {
		t.Fatalf("first dead letter: %v, %v; want the instance's", first, err)
	}
	lane, err = js.Stream(ctx, omq.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if st := lane.CachedInfo().State; st.Msgs != 1 || st.FirstSeq != 3 {
		t.Fatalf("lane holds %d from %d; want only the untaken call, 3", st.Msgs, st.FirstSeq)
	}
}

// The durable consumers an older omq made are brought to the current
// settings when the hub starts, keeping their ack wait.
func TestHub_UpgradesOldDurableConsumers(t *testing.T) {
	data := t.TempDir()
	old := brokertest.Start(t, func(c *broker.Config) { c.StoreDir = data })
	nc := brokertest.Connect(t, old)
	js, _ := jetstream.New(nc)
	lane, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{Name: omq.DefaultStream, Subjects: []string{"dpc.async.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lane.CreateConsumer(ctxT(t), jetstream.ConsumerConfig{
		Durable: "omq_old", FilterSubject: "dpc.async.old.*", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	old.Shutdown()

	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort, cfg.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
	cfg.DataDir, cfg.ProfileDir = data, filepath.Join(t.TempDir(), "owner")
	hb, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close(context.Background())
	owner, err := connect(t, cfg.ProfileDir)
	if err != nil {
		t.Fatal(err)
	}
	ojs, _ := jetstream.New(owner)
	c, err := ojs.Consumer(ctxT(t), omq.DefaultStream, "omq_old")
	if err != nil {
		t.Fatal(err)
	}
	got := c.CachedInfo().Config
	if got.MaxDeliver != omq.DefaultMaxDeliver || got.InactiveThreshold != omq.DefaultInactiveThreshold ||
		len(got.BackOff) == 0 || got.BackOff[0] != 2*time.Second+100*time.Millisecond || got.AckWait != got.BackOff[0] {
		t.Fatalf("after the hub's start: MaxDeliver %d InactiveThreshold %s BackOff %v AckWait %s", got.MaxDeliver, got.InactiveThreshold, got.BackOff, got.AckWait)
	}
}

// A dead letter whose arguments were a large body is replayed only while
// the large-body store still has the body; later it is kept, saying why.
func TestDeadLetters_ReplayNeedsTheLargeBody(t *testing.T) {
	h := startHub(t)
	svcNC, err := connect(t, h.pair(t, "worker-1", "service:worker"))
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{}
	w.reject.Store(true)
	if _, err := node(t, svcNC).Bind(ctxT(t), "worker", w.handlers(), omq.AckWait(time.Second)); err != nil {
		t.Fatal(err)
	}
	ownerNC, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	owner := node(t, ownerNC)
	big, err := omq.New(ownerNC, omq.WithBodyLimit(8)) // every body through the store
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Lookup("worker").Send(ctxT(t), "record", omq.Args(123456789), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return deadList(t, owner, trust.DeadListRequest{}).Total == 1 }, "the call buried")
	d := deadList(t, owner, trust.DeadListRequest{}).Letters[0]
	if !d.LargeBody || d.Reason != "400: not 123456789, not now" {
		t.Fatalf("dead letter: %+v", d)
	}
	// The store's age limit removes the body.
	js, _ := jetstream.New(ownerNC)
	dead, err := js.Stream(ctxT(t), omq.DefaultDeadStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dead.GetMsg(ctxT(t), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(ctxT(t), bodiesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctxT(t), raw.Header.Get(omq.HeaderBodyObject)); err != nil {
		t.Fatal(err)
	}
	rep := deadDo(t, owner, trust.FnReplay, trust.DeadRequest{IDs: []uint64{d.ID}})
	if rep.Done != 0 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Why, "large body") {
		t.Fatalf("replay: %+v", rep)
	}
	if l := deadList(t, owner, trust.DeadListRequest{}); l.Total != 1 {
		t.Fatalf("the dead letter was not kept: %+v", l)
	}
}
