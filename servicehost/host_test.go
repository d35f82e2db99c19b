package servicehost_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
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

// An instance id from the config is the one omq binds with, so that a
// supervisor that chose it finds its process among the instances; one
// that is not a subject token is refused.
func TestBind_InstanceIDFromConfig(t *testing.T) {
	srv := brokertest.Start(t)
	n, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := services.Get("work", nil, services.Options{ServiceTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
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
