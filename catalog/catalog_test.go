package catalog_test

import (
	"context"
	"errors"
	"strings"
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

// fast is a catalog configuration for tests: sweeps every 100ms, forgets
// after 400ms.
var fast = catalog.Config{Interval: 100 * time.Millisecond, Expiry: 400 * time.Millisecond}

func node(t *testing.T, url string) (*omq.Node, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	n, err := omq.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return n, nc
}

// startCatalog runs a catalog on its own connection until the test ends.
func startCatalog(t *testing.T, url string) *catalog.Catalog {
	t.Helper()
	return startCatalogWith(t, url, fast)
}

// startCatalogWith is startCatalog with a configuration.
func startCatalogWith(t *testing.T, url string, cfg catalog.Config) *catalog.Catalog {
	t.Helper()
	n, _ := node(t, url)
	c, err := catalog.New(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// runService hosts a named example service until stop is called.
func runService(t *testing.T, url, name string) (stop func()) {
	t.Helper()
	n, _ := node(t, url)
	svc, err := services.Get(name, nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servicehost.Run(ctx, n, svc, servicehost.Config{Host: "test-host"}) }()
	var once bool
	stop = func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func names(fs []catalog.FunctionInfo) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return strings.Join(out, " ")
}

func TestCatalog_ServicesArriveAndWithdraw(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	stopTst := runService(t, url, "tst")
	runService(t, url, "textutil")
	brokertest.Eventually(t, 10*time.Second, func() bool { return len(c.Functions("")) == 16 }, "tst and textutil in the catalog")

	if got := strings.Join(c.Apps(), " "); got != "notes test" {
		t.Fatalf("apps %q, want \"notes test\"", got)
	}
	// app_list limits textutil to notes.
	if got := names(c.Functions("test")); strings.Contains(got, "textutil") || !strings.Contains(got, "tst.add") {
		t.Fatalf("test app functions: %s", got)
	}
	if got := names(c.Functions("notes")); !strings.Contains(got, "textutil.upper") || strings.Contains(got, "tst.") {
		t.Fatalf("notes app functions: %s", got)
	}
	f, err := c.Describe("add")
	if err != nil || f.Name != "tst.add" || f.Instances != 1 || len(f.Function.Args) != 2 {
		t.Fatalf("describe add: %+v, %v", f, err)
	}

	// A graceful stop withdraws at once, well before expiry would.
	stopTst()
	if _, err := c.Describe("tst.add"); !errors.Is(err, omq.ErrUnknownFunction) {
		t.Fatalf("after withdraw: %v, want unknown function", err)
	}
}

// An instance that stops answering leaves the catalog after Expiry; the
// catalog also finds instances it was never told of.
func TestCatalog_SweepsFindAndForgetInstances(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	// The service starts first: its announcement finds no catalog.
	n, nc := node(t, url)
	svc, err := services.Get("tst", nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servicehost.Bind(context.Background(), n, svc, servicehost.Config{Host: "h1"}); err != nil {
		t.Fatal(err)
	}
	c := startCatalog(t, url)
	brokertest.Eventually(t, 10*time.Second, func() bool { _, err := c.Describe("tst.add"); return err == nil }, "the sweep to find tst")
	si := c.Services(context.Background())
	if len(si) != 1 || len(si[0].Instances) != 1 || si[0].Instances[0].Host != "h1" {
		t.Fatalf("services: %+v", si)
	}
	// Gone without a word, as when killed: its connection drops.
	nc.Close()
	brokertest.Eventually(t, 10*time.Second, func() bool { return len(c.Functions("")) == 0 }, "tst to leave after expiry")
}

// The same function name in two services: both stay callable qualified,
// and the plain name is ambiguous.
func TestCatalog_SameFunctionInTwoServices(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	runService(t, url, "tst")
	other := &manifests.Manifest{Name: "calc", Version: "1.0.0", Functions: []manifests.Function{{
		Name: "add", ReturnType: "int",
		Args: []manifests.Arg{{Name: "a", Type: "int"}, {Name: "b", Type: "int"}},
	}}}
	n, _ := node(t, url)
	add := omq.HandlerFunc(func(ctx context.Context, r *omq.Request) (any, error) {
		var a, b int
		if err := r.Decode(&a, &b); err != nil {
			return nil, err
		}
		return a*1000 + b, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go servicehost.Run(ctx, n, servicehost.Service{Manifest: other, Handlers: omq.Handlers{"add": add}}, servicehost.Config{})
	brokertest.Eventually(t, 10*time.Second, func() bool {
		_, e1 := c.Describe("calc.add")
		_, e2 := c.Describe("tst.add")
		return e1 == nil && e2 == nil
	}, "calc and tst to arrive")

	_, err := c.Describe("add")
	var re *omq.Error
	if !errors.As(err, &re) || re.Code != catalog.CodeAmbiguous || !strings.Contains(re.Description, "calc.add, tst.add") {
		t.Fatalf("describe add: %v, want a 409 listing calc.add, tst.add", err)
	}
	// Both stay callable through their services.
	cli, _ := node(t, url)
	var sum int
	if err := cli.Lookup("tst").Call(ctx, "add", omq.Args(1, 2), &sum); err != nil || sum != 3 {
		t.Fatalf("tst.add = %d, %v", sum, err)
	}
	if err := cli.Lookup("calc").Call(ctx, "add", omq.Args(1, 2), &sum); err != nil || sum != 1002 {
		t.Fatalf("calc.add = %d, %v", sum, err)
	}
}

// The catalog's queries answer over omq, as dpc-cli asks them.
func TestCatalog_QueriesOverOMQ(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	runService(t, url, "tst")
	brokertest.Eventually(t, 10*time.Second, func() bool { return len(c.Functions("")) > 0 }, "tst to arrive")
	cli, _ := node(t, url)
	cat := cli.Lookup(catalog.ServiceName)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var apps []string
	if err := cat.Call(ctx, "apps", nil, &apps); err != nil || strings.Join(apps, ",") != "test" {
		t.Fatalf("apps: %v %v", apps, err)
	}
	var fs []catalog.FunctionInfo
	if err := cat.Call(ctx, "funcs", map[string]string{"app": "test"}, &fs); err != nil || len(fs) != 12 {
		t.Fatalf("funcs(test): %d, %v", len(fs), err)
	}
	var f catalog.FunctionInfo
	if err := cat.Call(ctx, "describe", omq.Args("split"), &f); err != nil || f.Function.Args[1].Type != "char" {
		t.Fatalf("describe split: %+v, %v", f, err)
	}
	if err := cat.Call(ctx, "describe", omq.Args("nosuch"), &f); !errors.Is(err, omq.ErrUnknownFunction) {
		t.Fatalf("describe nosuch: %v", err)
	}
	var ss []catalog.ServiceInfo
	if err := cat.Call(ctx, "services", nil, &ss); err != nil || len(ss) != 1 || ss[0].Name != "tst" {
		t.Fatalf("services: %+v, %v", ss, err)
	}
	// A bad announcement is refused with the manifest's problem.
	bad := catalog.Announcement{Instance: "x", Manifest: &manifests.Manifest{Name: "bad", Version: "1"}}
	err := cat.Call(ctx, "announce", bad, nil)
	if !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("bad announcement: %v", err)
	}
}

// An instance with every handler slot taken shows as saturated in the
// catalog's services (what dpc-cli status prints), and as ok again once
// its call is done.
func TestCatalog_ServicesShowSaturatedInstances(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	n, _ := node(t, url)
	svc, err := services.Get("work", nil, services.Options{ServiceTime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servicehost.Bind(context.Background(), n, svc, servicehost.Config{Host: "h1", Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		for _, s := range c.Services(context.Background()) {
			if s.Name == "work" && len(s.Instances) == 1 {
				return s.Instances[0].State
			}
		}
		return "-"
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return state() == omq.StateOK }, "work listed as ok")
	caller, _ := node(t, url)
	done := make(chan error, 1)
	go func() {
		done <- caller.Lookup("work").Call(context.Background(), "work", nil, nil, omq.Timeout(10*time.Second))
	}()
	brokertest.Eventually(t, 5*time.Second, func() bool { return state() == omq.StateSaturated }, "work listed as saturated while its only slot is taken")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 5*time.Second, func() bool { return state() == omq.StateOK }, "work listed as ok again")
}
