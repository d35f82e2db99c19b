package omq_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
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
	big := strings.Repeat("x", 200_003) // several encryption segments, the last one short
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

type repeater struct{}

// Repeat returns n bytes.
func (repeater) Repeat(n int) string { return strings.Repeat("r", n) }

// bodyStore opens the DPC_BODIES bucket, creating it if create is set.
func bodyStore(t *testing.T, nc *nats.Conn, create bool) (jetstream.ObjectStore, error) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	if create {
		return js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "DPC_BODIES"})
	}
	return js.ObjectStore(ctx, "DPC_BODIES")
}

func objectNames(t *testing.T, store jetstream.ObjectStore) []string {
	t.Helper()
	infos, err := store.List(ctxT(t, 10*time.Second))
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	return names
}

// Body object names are 128 random bits (base32), not sequential NUIDs.
func TestBodies_ObjectNamesAreRandom(t *testing.T) {
	e := newEnv(t)
	raw := brokertest.Connect(t, e.srv)
	names := make(chan string, 8)
	sub, err := raw.Subscribe("dpc.svc.sink.*", func(m *nats.Msg) {
		names <- m.Header.Get(omq.HeaderBodyObject)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	cli, _ := e.node(omq.WithBodyLimit(1024))
	ctx := ctxT(t, 10*time.Second)
	big := strings.Repeat("x", 4096)
	seen := map[string]bool{}
	nameRE := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	for range 4 {
		if err := cli.Lookup("sink").Send(ctx, "keep", omq.Args(big)); err != nil {
			t.Fatal(err)
		}
		select {
		case name := <-names:
			if !nameRE.MatchString(name) {
				t.Fatalf("body object name %q: want 26 base32 characters (128 random bits)", name)
			}
			if seen[name] {
				t.Fatalf("body object name %q used twice", name)
			}
			seen[name] = true
		case <-ctx.Done():
			t.Fatal("the large send did not arrive")
		}
	}
}

// A request for a function the instance does not have is answered 404
// without its body object being read (so, for a unicast request, it is not
// deleted either); for a known function the object is read and deleted.
func TestBodies_UnknownFunctionIsNotFetched(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "echo", echoer{}, omq.NoDurable())
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, name := range []string{"for-nosuch", "for-echo"} {
		keys[name] = putSealed(t, store, name, []byte(`["hello"]`))
	}

	m, err := rawRequest(t, raw, "dpc.svc.echo.nosuch", "", headerOf(omq.HeaderBodyObject, "for-nosuch", omq.HeaderBodyKey, keys["for-nosuch"]))
	wantErrorReply(t, m, err, omq.CodeUnknownFunction, `service echo has no function "nosuch"`)
	m, err = rawRequest(t, raw, "dpc.svc.echo.echo", "", headerOf(omq.HeaderBodyObject, "for-echo", omq.HeaderBodyKey, keys["for-echo"]))
	wantResult(t, m, err, `"hello"`)

	if got := objectNames(t, store); !slices.Equal(got, []string{"for-nosuch"}) {
		t.Fatalf("objects left: %v, want only the unknown function's, unread", got)
	}
}

// A receiver reads a body object's size before its content and refuses one
// over its maximum with a 413 naming both sizes.
func TestBodies_InstanceRefusesOversizeArguments(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node(omq.WithMaxBody(4096))
	bind(t, srv, "echo", echoer{}, omq.NoDurable())
	ctx := ctxT(t, 30*time.Second)

	// A raw client's object.
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	body := `["` + strings.Repeat("x", 9996) + `"]` // 10000 bytes
	key := putSealed(t, store, "big", []byte(body))
	m, err := rawRequest(t, raw, "dpc.svc.echo.echo", "", headerOf(omq.HeaderBodyObject, "big", omq.HeaderBodyKey, key))
	wantErrorReply(t, m, err, omq.CodeTooLarge, "the arguments of echo.echo are 10000 bytes, more than the instance's 4096-byte maximum body")
	if got := objectNames(t, store); len(got) != 0 {
		t.Fatalf("the refused object was left behind: %v", got)
	}

	// An omq caller with a larger maximum.
	cli, _ := e.node(omq.WithBodyLimit(1024))
	err = cli.Lookup("echo").Call(ctx, "echo", omq.Args(strings.Repeat("x", 9996)), nil)
	var re *omq.Error
	if !errors.Is(err, omq.ErrTooLarge) || !errors.As(err, &re) || re.Code != omq.CodeTooLarge {
		t.Fatalf("call with oversize arguments: %v, want a remote 413", err)
	}
	// Inline bodies over the maximum too.
	m, err = rawRequest(t, raw, "dpc.svc.echo.echo", body, nil)
	wantErrorReply(t, m, err, omq.CodeTooLarge, "10000 bytes")
}

// A sender refuses a body over its maximum before storing anything, on
// every lane.
func TestBodies_SenderRefusesOversizeBody(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "echo", echoer{got: make(chan string, 8)})
	cli, nc := e.node(omq.WithMaxBody(4096), omq.WithBodyLimit(1024))
	ctx := ctxT(t, 30*time.Second)
	stub := cli.Lookup("echo")
	arg := omq.Args(strings.Repeat("x", 9996)) // 10000 bytes of JSON

	for what, err := range map[string]error{
		"call":      stub.Call(ctx, "echo", arg, nil),
		"send":      stub.Send(ctx, "keep", arg),
		"durable":   stub.Send(ctx, "keep", arg, omq.Durable()),
		"multisend": stub.MultiSend(ctx, "keep", arg),
		"multicall": errOf(stub.MultiCall(ctx, "echo", arg, omq.Expect(1))),
	} {
		var re *omq.Error
		if !errors.Is(err, omq.ErrTooLarge) || errors.As(err, &re) {
			t.Errorf("%s: %v, want a local ErrTooLarge", what, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "10000 bytes") || !strings.Contains(msg, "4096-byte maximum") {
			t.Errorf("%s: %q does not name both sizes", what, msg)
		}
	}
	if _, err := bodyStore(t, nc, false); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("body bucket: %v, want none created", err)
	}
	// Under the maximum, the same stub works.
	var got string
	if err := stub.Call(ctx, "echo", omq.Args(strings.Repeat("y", 3000)), &got); err != nil || len(got) != 3000 {
		t.Fatalf("call under the maximum: %d bytes, %v", len(got), err)
	}
}

// A caller refuses a reply object over its maximum (and deletes it); an
// instance refuses to send a result over its own with a 413.
func TestBodies_OversizeReplies(t *testing.T) {
	e := newEnv(t)
	srv, nc := e.node(omq.WithBodyLimit(1024))
	bind(t, srv, "rep", repeater{}, omq.NoDurable())
	small, _ := e.node(omq.WithMaxBody(4096))
	bind(t, small, "smallrep", repeater{}, omq.NoDurable())
	cli, _ := e.node(omq.WithMaxBody(4096))
	ctx := ctxT(t, 30*time.Second)

	err := cli.Lookup("rep").Call(ctx, "repeat", omq.Args(10000), nil)
	var re *omq.Error
	if !errors.Is(err, omq.ErrTooLarge) || errors.As(err, &re) ||
		!strings.Contains(err.Error(), "the reply of rep.repeat: 10002 bytes, more than the 4096-byte maximum body") {
		t.Fatalf("oversize reply: %v, want a local ErrTooLarge naming both sizes", err)
	}
	replies, err := cli.Lookup("rep").MultiCall(ctx, "repeat", omq.Args(10000), omq.Expect(1))
	if err != nil || len(replies) != 1 || !errors.Is(replies[0].Err, omq.ErrTooLarge) {
		t.Fatalf("multi call with an oversize reply: %+v, %v; want the reply's Err to be ErrTooLarge", replies, err)
	}
	store, err := bodyStore(t, nc, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := objectNames(t, store); len(got) != 0 {
		t.Fatalf("refused reply objects left behind: %v", got)
	}

	err = cli.Lookup("smallrep").Call(ctx, "repeat", omq.Args(10000), nil)
	if !errors.As(err, &re) || re.Code != omq.CodeTooLarge ||
		!strings.Contains(re.Description, "the result of smallrep.repeat is 10002 bytes, more than the instance's 4096-byte maximum body") {
		t.Fatalf("oversize result: %v, want a remote 413", err)
	}
	var s string
	if err := cli.Lookup("rep").Call(ctx, "repeat", omq.Args(3000), &s); err != nil || len(s) != 3000 {
		t.Fatalf("reply under the maximum: %d bytes, %v", len(s), err)
	}
}

func TestNew_MaxBodyMustBePositive(t *testing.T) {
	e := newEnv(t)
	nc := brokertest.Connect(t, e.srv)
	for _, n := range []int{0, -1} {
		if _, err := omq.New(nc, omq.WithMaxBody(n)); err == nil {
			t.Errorf("WithMaxBody(%d) accepted", n)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// A body object that is a link (to another object or bucket) is refused:
// following it would read data the sender had no business naming, with the
// receiver's rights and without the size check.
func TestBodies_LinksAreRefused(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "echo", echoer{}, omq.NoDurable())
	raw := brokertest.Connect(t, e.srv)
	store, err := bodyStore(t, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	other, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "OTHER"})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := other.PutBytes(ctx, "secret", []byte(`["the secret"]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddLink(ctx, "to-other", secret); err != nil {
		t.Fatal(err)
	}
	same, err := store.PutBytes(ctx, "same", []byte(`["in the bucket"]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddLink(ctx, "to-same", same); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"to-other", "to-same"} {
		m, err := rawRequest(t, raw, "dpc.svc.echo.echo", "", headerOf(omq.HeaderBodyObject, link, omq.HeaderBodyKey, newKey(t)))
		wantErrorReply(t, m, err, omq.CodeBadArguments, "body object "+link+" is a link")
	}
}
