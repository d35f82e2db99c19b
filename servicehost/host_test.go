package servicehost_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
	"github.com/nats-io/nats.go"
)

func TestBind_ChecksArgumentsAgainstTheManifest(t *testing.T) {
	srv := brokertest.Start(t)
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := services.Get("tst", nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := servicehost.Bind(ctx, n, svc, servicehost.Config{}); err != nil {
		t.Fatal(err)
	}
	tst := n.Lookup("tst")

	var sum int
	if err := tst.Call(ctx, "add", omq.Args(45, 38), &sum); err != nil || sum != 83 {
		t.Fatalf("add(45, 38) = %d, %v", sum, err)
	}
	if err := tst.Call(ctx, "add", map[string]int{"b": 38, "a": 45}, &sum); err != nil || sum != 83 {
		t.Fatalf("add by name = %d, %v", sum, err)
	}
	var parts []string
	if err := tst.Call(ctx, "split", omq.Args("a,b,c", ","), &parts); err != nil || strings.Join(parts, "|") != "a|b|c" {
		t.Fatalf("split = %v, %v", parts, err)
	}
	for _, tc := range []struct {
		fn   string
		args any
		want string
	}{
		{"add", omq.Args("x", 1), `"a"`},
		{"add", omq.Args(1), "2"},
		{"split", omq.Args("a,b", ",,"), `"separator"`},
		{"test_int_list", omq.Args([]any{1, "two"}), `"xs"`},
	} {
		err := tst.Call(ctx, tc.fn, tc.args, nil)
		if !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s(%v): %v, want a 400 mentioning %s", tc.fn, tc.args, err, tc.want)
		}
	}
}

func TestBind_RefusesAResultTheManifestDoesNotPromise(t *testing.T) {
	srv := brokertest.Start(t)
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests.Manifest{Name: "liar", Version: "1.0.0", Functions: []manifests.Function{{Name: "count", ReturnType: "int"}}}
	svc := servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"count": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return "many", nil }),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := servicehost.Bind(ctx, n, svc, servicehost.Config{}); err != nil {
		t.Fatal(err)
	}
	err = n.Lookup("liar").Call(ctx, "count", nil, nil)
	if !errors.Is(err, omq.ErrHandlerFailure) || !strings.Contains(err.Error(), "does not promise") {
		t.Fatalf("got %v, want a 500 saying the result breaks the manifest", err)
	}
}

func TestService_CheckMatchesHandlersAndManifest(t *testing.T) {
	m := &manifests.Manifest{Name: "s", Version: "1.0.0", Functions: []manifests.Function{{Name: "a"}, {Name: "b"}}}
	nop := omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil })
	err := servicehost.Service{Manifest: m, Handlers: omq.Handlers{"a": nop, "c": nop}}.Check()
	if err == nil || !strings.Contains(err.Error(), `"b" has no handler`) || !strings.Contains(err.Error(), `"c" is not in the manifest`) {
		t.Fatalf("got %v", err)
	}
	if err := (servicehost.Service{}).Check(); err == nil {
		t.Fatal("no manifest accepted")
	}
}

// workOnServer is a node on a server of its own and the work service
// (1 ms a call) to bind on it.
func workOnServer(t *testing.T) (*omq.Node, servicehost.Service) {
	t.Helper()
	srv := brokertest.Start(t)
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := services.Get("work", nil, services.Options{ServiceTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n, svc
}

// An instance id from the config is the one omq binds with, so that a
// supervisor that chose it finds its process among the instances; one
// that is not a subject token is refused.
func TestBind_InstanceIDFromConfig(t *testing.T) {
	n, svc := workOnServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inst, err := servicehost.Bind(ctx, n, svc, servicehost.Config{InstanceID: "work-replay-1"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.ID() != "work-replay-1" {
		t.Errorf("ID() = %q, want work-replay-1", inst.ID())
	}
	var served string
	if err := n.Lookup("work").Call(ctx, "work", nil, &served); err != nil || served != "work-replay-1" {
		t.Errorf("work.work served by %q, %v; want work-replay-1", served, err)
	}
	if _, err := servicehost.Bind(ctx, n, svc, servicehost.Config{InstanceID: "a.b"}); err == nil || !strings.Contains(err.Error(), `"a.b"`) {
		t.Errorf("instance id a.b: %v, want refused", err)
	}
}

// The URL of the instance's /metrics, when it serves one, is in its $SRV
// metadata, where the agent that started it finds it; without one the
// key is absent.
func TestBind_MetricsURLInMetadata(t *testing.T) {
	n, svc := workOnServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const url = "http://127.0.0.1:40125/metrics"
	with, err := servicehost.Bind(ctx, n, svc, servicehost.Config{InstanceID: "work-m-1", Metrics: url})
	if err != nil {
		t.Fatal(err)
	}
	without, err := servicehost.Bind(ctx, n, svc, servicehost.Config{InstanceID: "work-m-2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := with.Info().Metadata[catalog.MetaMetrics]; got != url {
		t.Errorf("metadata %s = %q, want %q", catalog.MetaMetrics, got, url)
	}
	if got, ok := without.Info().Metadata[catalog.MetaMetrics]; ok {
		t.Errorf("metadata %s = %q without metrics, want none", catalog.MetaMetrics, got)
	}
}

// On a graceful stop the instance finishes the calls it has, stops
// answering $SRV, and only then withdraws: the catalog, which honours a
// withdraw only from an instance that no longer answers
// $SRV.PING.<name>.<id>, removes it at once.
func TestServe_StopsAnsweringBeforeWithdrawing(t *testing.T) {
	srv := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A stand-in for the catalog that records what it sees on withdraw.
	type withdrawal struct {
		args     string
		silent   bool // nobody answered $SRV.PING.slow.slow-1
		finished bool // the call in flight had finished
	}
	var finished atomic.Bool
	announced := make(chan struct{}, 1)
	withdrawn := make(chan withdrawal, 1)
	cat, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cat.Bind(ctx, "catalog", omq.Handlers{
		"announce": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			select {
			case announced <- struct{}{}:
			default:
			}
			return nil, nil
		}),
		"withdraw": omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
			_, err := cat.Conn().RequestWithContext(ctx, "$SRV.PING.slow.slow-1", nil)
			withdrawn <- withdrawal{args: string(r.Args), silent: errors.Is(err, nats.ErrNoResponders), finished: finished.Load()}
			return nil, nil
		}),
	}, omq.NoDurable())
	if err != nil {
		t.Fatal(err)
	}

	started, release := make(chan struct{}), make(chan struct{})
	m := &manifests.Manifest{Name: "slow", Version: "1.0.0", Functions: []manifests.Function{{Name: "wait", ReturnType: "string"}}}
	svc := servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"wait": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			close(started)
			<-release
			finished.Store(true)
			return "done", nil
		}),
	}}
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- servicehost.Run(sctx, n, svc, servicehost.Config{InstanceID: "slow-1"}) }()
	<-announced

	cli, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan string, 1)
	go func() {
		var s string
		if err := cli.Lookup("slow").Call(ctx, "wait", nil, &s); err != nil {
			s = err.Error()
		}
		result <- s
	}()
	<-started
	stop()
	close(release)
	if got := <-result; got != "done" {
		t.Errorf("call in flight at the stop: %q, want done", got)
	}
	w := <-withdrawn
	if w.args != `["slow","slow-1"]` || !w.silent || !w.finished {
		t.Errorf("withdraw %+v: want the instance's name and id, sent after its call finished and once it no longer answers $SRV", w)
	}
	if err := <-served; err != nil {
		t.Errorf("Run: %v", err)
	}
}
