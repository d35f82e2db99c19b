package omq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/jetstream"
)

type echoer struct{ got chan string }

func (echoer) Echo(s string) string { return s }
func (e echoer) Keep(s string)      { e.got <- s }

// Bodies larger than a NATS message go through the object store, both
// ways, and leave nothing behind.
func TestStub_CallsWithBodiesLargerThanAMessage(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "echo", echoer{})
	cli, nc := e.node()

	big := strings.Repeat("0123456789abcdef", 3<<20/16) // 3 MiB; the server takes 1 MiB
	if int64(len(big)) <= nc.MaxPayload() {
		t.Fatalf("test body %d is not larger than the max payload %d", len(big), nc.MaxPayload())
	}
	var got string
	if err := cli.Lookup("echo").Call(ctxT(t, 30*time.Second), "echo", omq.Args(big), &got); err != nil {
		t.Fatal(err)
	}
	if got != big {
		t.Fatalf("echo returned %d bytes, want the %d sent", len(got), len(big))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(ctxT(t, 5*time.Second), "DPC_BODIES")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.List(ctxT(t, 5*time.Second))
	if err != nil && err != jetstream.ErrNoObjectsFound {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("%d body objects left behind", len(objs))
	}
}

// Multi calls and durable sends carry large bodies too.
func TestStub_LargeBodiesOnEveryLane(t *testing.T) {
	e := newEnv(t)
	got := make(chan string, 4)
	for range 2 {
		n, _ := e.node(omq.WithBodyLimit(1024))
		bind(t, n, "echo", echoer{got: got})
	}
	cli, _ := e.node(omq.WithBodyLimit(1024))
	big := strings.Repeat("x", 10_000)
	ctx := ctxT(t, 30*time.Second)

	replies, err := cli.Lookup("echo").MultiCall(ctx, "echo", omq.Args(big), omq.Expect(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replies {
		var s string
		if err := r.Decode(&s); err != nil || s != big {
			t.Fatalf("multi reply from %s: %d bytes, %v", r.Instance, len(s), err)
		}
	}
	if err := cli.Lookup("echo").Send(ctx, "keep", omq.Args(big), omq.Durable()); err != nil {
		t.Fatal(err)
	}
	if err := cli.Lookup("echo").Send(ctx, "keep", omq.Args(big)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case s := <-got:
			if s != big {
				t.Fatalf("send delivered %d bytes, want %d", len(s), len(big))
			}
		case <-ctx.Done():
			t.Fatal("large send not delivered")
		}
	}
}
