package omq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/jetstream"
)

// Two systems with different prefixes share one server without seeing each
// other: own durable streams, own instance counts.
func TestNode_PrefixesIsolateSystems(t *testing.T) {
	e := newEnv(t)
	home, _ := e.node()
	lab, _ := e.node(omq.WithPrefix("lab"))
	rHome, rLab := &recorder{}, &recorder{}
	bind(t, home, "worker", rHome)
	bind(t, lab, "worker", rLab)
	bind(t, lab, "worker", rLab)

	ctx := ctxT(t, 20*time.Second)
	if err := home.Lookup("worker").Send(ctx, "record", omq.Args(1), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	if err := lab.Lookup("worker").Send(ctx, "record", omq.Args(2), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	wantValues(t, rHome, 1, 2)
	wantValues(t, rLab, 2, 3)

	// MultiCall without Expect counts only its own prefix's instances, so it
	// does not wait for replies that cannot come.
	replies, err := home.Lookup("worker").MultiCall(ctx, "record", omq.Args(3), omq.Timeout(10*time.Second))
	if err != nil || len(replies) != 1 {
		t.Fatalf("home multi call: %d replies, %v; want 1", len(replies), err)
	}
	replies, err = lab.Lookup("worker").MultiCall(ctx, "record", omq.Args(4), omq.Timeout(10*time.Second))
	if err != nil || len(replies) != 2 {
		t.Fatalf("lab multi call: %d replies, %v; want 2", len(replies), err)
	}
}

// An existing stream is used as it is: an operator's settings stay, and a
// stream that cannot carry the lane is an error that says why.
func TestNode_DurableStreamIsNotRewritten(t *testing.T) {
	e := newEnv(t)
	_, nc := e.node()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "DPC_ASYNC", Subjects: []string{"dpc.async.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.MemoryStorage, MaxAge: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	n, _ := e.node()
	bind(t, n, "worker", &recorder{})
	if err := n.Lookup("worker").Send(ctx, "record", omq.Args(1), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "DPC_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; c.MaxAge != time.Hour || c.Storage != jetstream.MemoryStorage {
		t.Fatalf("stream rewritten: max age %s, storage %s", c.MaxAge, c.Storage)
	}

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	odd, _ := e.node(omq.WithStream("OTHER"))
	_, err = odd.Bind(ctx, "worker", &recorder{})
	if err == nil || !strings.Contains(err.Error(), "stream OTHER exists with subjects [other.>], not dpc.async.>") {
		t.Fatalf("bind on an unsuitable stream: %v", err)
	}
}

func TestNode_BindRejectsBadOptions(t *testing.T) {
	e := newEnv(t)
	n, _ := e.node()
	for _, tc := range []struct {
		opt  omq.BindOption
		want string
	}{
		{omq.Version("1.0"), `version "1.0" is not SemVer`},
		{omq.Concurrency(0), "concurrency 0 must be at least 1"},
		{omq.MaxDeliver(0), "MaxDeliver 0 must be at least 1"},
		{omq.AckWait(0), "AckWait 0s must be positive"},
		{omq.InstanceID("a.b"), `instance name "a.b"`},
	} {
		_, err := n.Bind(ctxT(t, 5*time.Second), "calc", &Calc{}, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}
