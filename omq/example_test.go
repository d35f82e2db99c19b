package omq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// Tst is a service: its exported methods become the functions add,
// countChars and split.
type Tst struct{}

func (Tst) Add(a, b int) int        { return a + b }
func (Tst) CountChars(s string) int { return len([]rune(s)) }
func (Tst) Split(s string) []string { return strings.Fields(s) }

// exampleServer starts an embedded NATS server with JetStream in a
// temporary directory and returns an in-process connection to it.
func exampleServer() (nc *nats.Conn, stop func()) {
	dir, err := os.MkdirTemp("", "omq-example")
	if err != nil {
		panic(err)
	}
	cfg := broker.DefaultConfig()
	cfg.Host, cfg.Port, cfg.HTTPPort, cfg.StoreDir = "127.0.0.1", broker.RandomPort, 0, dir
	srv, err := broker.Start(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	nc, err = srv.Connect()
	if err != nil {
		panic(err)
	}
	return nc, func() { nc.Close(); srv.Shutdown(); os.RemoveAll(dir) }
}

// exampleNode is exampleServer plus a Node on its connection.
func exampleNode() (*omq.Node, func()) {
	nc, stop := exampleServer()
	node, err := omq.New(nc)
	if err != nil {
		panic(err)
	}
	return node, func() { node.Close(context.Background()); stop() }
}

// Bind a Go value under a name, look the name up, call a function.
func Example() {
	nc, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	node, _ := omq.New(nc)
	defer node.Close(ctx)
	if _, err := node.Bind(ctx, "tst", Tst{}); err != nil {
		panic(err)
	}

	tst := node.Lookup("tst")
	var sum int
	if err := tst.Call(ctx, "add", omq.Args(2, 3), &sum); err != nil {
		panic(err)
	}
	var words []string
	_ = tst.Call(ctx, "split", omq.Args("the quick fox"), &words)
	fmt.Println(sum, words)
	// Output: 5 [the quick fox]
}

// Functions defined at run time, e.g. from a manifest, bind as Handlers.
func ExampleHandlers() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()

	greet := omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
		args, err := req.Named()
		if err != nil {
			return nil, err
		}
		name, ok := args["name"]
		if !ok {
			return nil, omq.Errorf(omq.CodeBadArguments, "greet: missing argument name")
		}
		return "hello " + strings.Trim(string(name), `"`), nil
	})
	_, _ = node.Bind(ctx, "greeter", omq.Handlers{"greet": greet})

	var s string
	_ = node.Lookup("greeter").Call(ctx, "greet", map[string]string{"name": "ada"}, &s)
	fmt.Println(s)
	err := node.Lookup("greeter").Call(ctx, "greet", map[string]string{}, &s)
	fmt.Println(errors.Is(err, omq.ErrBadArguments), err)
	// Output:
	// hello ada
	// true omq: remote error 400: greet: missing argument name
}

// Errors are typed: no responders, timeouts and remote errors with codes.
func ExampleStub_Call_errors() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	_, _ = node.Bind(ctx, "tst", Tst{})

	err := node.Lookup("nobody").Call(ctx, "add", omq.Args(1, 2), nil)
	fmt.Println(errors.Is(err, omq.ErrNoResponders))

	err = node.Lookup("tst").Call(ctx, "add", omq.Args("one", 2), nil)
	var re *omq.Error
	fmt.Println(errors.As(err, &re), re.Code)

	err = node.Lookup("tst").Call(ctx, "mul", omq.Args(1, 2), nil)
	fmt.Println(errors.Is(err, omq.ErrUnknownFunction))
	// Output:
	// true
	// true 400
	// true
}

// Go starts a call and returns; Done delivers it when complete.
func ExampleStub_Go() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	_, _ = node.Bind(ctx, "tst", Tst{})

	var n int
	call := node.Lookup("tst").Go(ctx, "countChars", omq.Args("héllo"), &n, nil)
	// … other work …
	<-call.Done
	fmt.Println(n, call.Error)
	// Output: 5 <nil>
}

// A multi call reaches every instance and returns once all have answered.
func ExampleStub_MultiCall() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		_, _ = node.Bind(ctx, "tst", Tst{}, omq.InstanceID(id))
	}

	replies, err := node.Lookup("tst").MultiCall(ctx, "add", omq.Args(1, 1), omq.Expect(3), omq.Timeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	var from []string
	for _, r := range replies {
		var sum int
		_ = r.Decode(&sum)
		from = append(from, fmt.Sprintf("%s=%d", r.Instance, sum))
	}
	sort.Strings(from)
	fmt.Println(from)

	// At addresses one instance.
	var sum int
	_ = node.Lookup("tst").At("b").Call(ctx, "add", omq.Args(2, 2), &sum)
	fmt.Println(sum)
	// Output:
	// [a=2 b=2 c=2]
	// 4
}

// Recorder is a worker for the durable lane.
type Recorder struct{ got chan string }

func (r Recorder) Record(s string) { r.got <- s }

// A durable Send is stored in JetStream before it returns: it waits for an
// instance, and survives a restart of the server.
func ExampleStub_Send_durable() {
	node, stop := exampleNode()
	defer stop()
	ctx := context.Background()

	// Nobody is bound yet; the message is kept.
	if err := node.Lookup("worker").Send(ctx, "record", omq.Args("job 1"), omq.Durable()); err != nil {
		panic(err)
	}
	r := Recorder{got: make(chan string, 1)}
	_, _ = node.Bind(ctx, "worker", r)
	fmt.Println(<-r.got)
	// Output: job 1
}
