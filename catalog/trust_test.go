package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	"github.com/nats-io/nats.go/micro"
)

// slow is a catalog that sweeps once, when it starts, and forgets nothing
// within a test: what changes after that is the work of announce and
// withdraw alone.
var slow = catalog.Config{Interval: time.Minute, Expiry: time.Minute}

// nopService serves m with handlers that do nothing: for services whose
// functions the test never calls.
func nopService(m *manifests.Manifest) servicehost.Service {
	nop := omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil })
	hs := omq.Handlers{}
	for _, f := range m.Functions {
		hs[f.Name] = nop
	}
	return servicehost.Service{Manifest: m, Handlers: hs}
}

// runHosted runs svc with servicehost.Run (announce, withdraw) until stop.
func runHosted(t *testing.T, url string, svc servicehost.Service, cfg servicehost.Config) (stop func()) {
	t.Helper()
	n, _ := node(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servicehost.Run(ctx, n, svc, cfg) }()
	var once bool
	stop = func() {
		if !once {
			once = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", svc.Manifest.Name, err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// bindOnly binds svc without announcing it: only a sweep can find it.
func bindOnly(t *testing.T, url string, svc servicehost.Service, cfg servicehost.Config) (*omq.Instance, *nats.Conn) {
	t.Helper()
	n, nc := node(t, url)
	inst, err := servicehost.Bind(context.Background(), n, svc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inst, nc
}

func builtin(t *testing.T, name string) *manifests.Manifest {
	t.Helper()
	m, err := manifests.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// forgePings answers every bare $SRV.PING with ping, as a service
// identity may; it counts the sweeps it answered.
func forgePings(t *testing.T, url string, ping micro.Ping) *atomic.Int64 {
	t.Helper()
	_, nc := node(t, url)
	ping.Type = micro.PingResponseType
	b, err := json.Marshal(ping)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	if _, err := nc.Subscribe("$SRV.PING", func(m *nats.Msg) {
		if m.Respond(b) == nil {
			n.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// sweeps counts the catalog's sweeps by their bare $SRV.PING.
func sweeps(t *testing.T, url string) *atomic.Int64 {
	t.Helper()
	_, nc := node(t, url)
	var n atomic.Int64
	if _, err := nc.Subscribe("$SRV.PING", func(*nats.Msg) { n.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &n
}

// waitSweeps waits until n sweeps have begun and ended since it was
// called (a sweep begins only after the previous one has ended).
func waitSweeps(t *testing.T, counter *atomic.Int64, n int64) {
	t.Helper()
	from := counter.Load()
	brokertest.Eventually(t, 20*time.Second, func() bool { return counter.Load() >= from+n+1 }, fmt.Sprintf("%d sweeps", n))
}

func service(c *catalog.Catalog, name string) (catalog.ServiceInfo, bool) {
	for _, s := range c.Services(context.Background()) {
		if s.Name == name {
			return s, true
		}
	}
	return catalog.ServiceInfo{}, false
}

func serviceNames(c *catalog.Catalog) string {
	var out []string
	for _, s := range c.Services(context.Background()) {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func hasPrefix(fs []catalog.FunctionInfo, prefix string) bool {
	for _, f := range fs {
		if strings.HasPrefix(f.Name, prefix) {
			return true
		}
	}
	return false
}

// An announcement is only a hint: the catalog lists what the instance
// itself says in $SRV.INFO.<name>.<id>, or nothing.
func TestCatalog_ForgedAnnounceChangesNothing(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	textutil, err := services.Get("textutil", nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bindOnly(t, url, textutil, servicehost.Config{Host: "h-text"})
	c := startCatalogWith(t, url, slow)
	// Found by the one sweep, after its PINGs: no sweep runs from now on.
	brokertest.Eventually(t, 10*time.Second, func() bool { _, ok := service(c, "textutil"); return ok }, "the first sweep to find textutil")

	// A real tst instance the catalog does not know yet.
	tst, err := services.Get("tst", nil, services.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := bindOnly(t, url, tst, servicehost.Config{Host: "h-tst"})
	if _, ok := service(c, "tst"); ok {
		t.Fatal("tst listed before anyone said anything")
	}

	cli, _ := node(t, url)
	cat := cli.Lookup(catalog.ServiceName)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hub := builtin(t, "hub")

	// hub's manifest for an instance that does not exist, and for tst's
	// instance: nobody answers $SRV.INFO.hub.<id>.
	for _, id := range []string{"X", inst.ID()} {
		err := cat.Call(ctx, "announce", catalog.Announcement{Instance: id, Host: "evil", Manifest: hub}, nil)
		if !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), "did not confirm") {
			t.Errorf("announce of hub as %s: %v, want a 400 saying the instance did not confirm", id, err)
		}
	}
	if got := serviceNames(c); got != "textutil" {
		t.Fatalf("after forged announcements of hub: services %q, want textutil alone", got)
	}

	// tst's real instance announced with another manifest: listed with
	// its own.
	forged := *tst.Manifest
	forged.Version = "9.9.9"
	forged.Functions = append(slices.Clone(forged.Functions), manifests.Function{Name: "evil", Description: "not tst's"})
	for range 2 { // unknown, then known
		if err := cat.Call(ctx, "announce", catalog.Announcement{Instance: inst.ID(), Host: "evil", Manifest: &forged}, nil); err != nil {
			t.Fatalf("announce of tst's instance: %v", err)
		}
		s, ok := service(c, "tst")
		if !ok || s.Version != tst.Manifest.Version || len(s.Instances) != 1 || s.Instances[0].ID != inst.ID() ||
			s.Instances[0].Host != "h-tst" || s.Instances[0].Version != tst.Manifest.Version || slices.Contains(s.Functions, "evil") {
			t.Fatalf("tst after a forged announcement: %+v, want its own manifest and host", s)
		}
	}
	if _, err := c.Describe("tst.evil"); !errors.Is(err, omq.ErrUnknownFunction) {
		t.Fatalf("describe tst.evil: %v, want unknown", err)
	}
	if hasPrefix(c.Functions(""), "hub.") {
		t.Fatal("hub functions listed")
	}
}

// A reply to the bare $SRV.PING (which any service may answer) names an
// instance to ask about; it never puts a service in the catalog.
func TestCatalog_ForgedBarePingAddsNothing(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	hub := builtin(t, "hub")
	mj, err := json.Marshal(hub)
	if err != nil {
		t.Fatal(err)
	}
	answered := forgePings(t, url, micro.Ping{ServiceIdentity: micro.ServiceIdentity{
		Name: "hub", ID: "forged", Version: hub.Version,
		Metadata: map[string]string{catalog.MetaManifest: string(mj), catalog.MetaHost: "evil", omq.MetadataPrefix: omq.DefaultPrefix},
	}})
	c := startCatalog(t, url)
	runService(t, url, "textutil")
	brokertest.Eventually(t, 10*time.Second, func() bool { _, ok := service(c, "textutil"); return ok }, "textutil to arrive")
	waitSweeps(t, answered, 3)
	if got := serviceNames(c); got != "textutil" {
		t.Fatalf("services %q, want textutil alone", got)
	}
	if hasPrefix(c.Functions(""), "hub.") {
		t.Fatal("forged hub functions listed")
	}
}

// Liveness comes only from $SRV.PING.<name>: bare PING replies claiming
// a dead instance's id do not keep it listed.
func TestCatalog_ForgedPingDoesNotKeepADeadInstanceAlive(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	hub := builtin(t, "hub")
	c := startCatalog(t, url)
	inst, nc := bindOnly(t, url, nopService(hub), servicehost.Config{Host: "hub-host"})
	brokertest.Eventually(t, 10*time.Second, func() bool { _, err := c.Describe("hub.save"); return err == nil }, "the sweep to find hub")

	mj, err := json.Marshal(hub)
	if err != nil {
		t.Fatal(err)
	}
	answered := forgePings(t, url, micro.Ping{ServiceIdentity: micro.ServiceIdentity{
		Name: "hub", ID: inst.ID(), Version: hub.Version,
		Metadata: map[string]string{catalog.MetaManifest: string(mj), catalog.MetaHost: "hub-host", omq.MetadataPrefix: omq.DefaultPrefix},
	}})
	waitSweeps(t, answered, 1)
	nc.Close() // killed: no withdraw
	brokertest.Eventually(t, 10*time.Second, func() bool { _, ok := service(c, "hub"); return !ok }, "the dead hub instance to expire")
}

// calc is a service whose versions differ in their functions.
func calc(version string, fns ...string) servicehost.Service {
	m := &manifests.Manifest{Name: "calc", Version: version, Description: "calc " + version}
	hs := omq.Handlers{}
	ops := map[string]func(a, b int) int{
		"add": func(a, b int) int { return a + b },
		"sub": func(a, b int) int { return a - b },
		"mul": func(a, b int) int { return a * b },
	}
	for _, fn := range fns {
		m.Functions = append(m.Functions, manifests.Function{
			Name: fn, Description: fn + " in " + version, ReturnType: "int",
			Args: []manifests.Arg{{Name: "a", Type: "int"}, {Name: "b", Type: "int"}},
		})
		op := ops[fn]
		hs[fn] = omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
			var a, b int
			if err := r.Decode(&a, &b); err != nil {
				return nil, err
			}
			return op(a, b), nil
		})
	}
	return servicehost.Service{Manifest: m, Handlers: hs}
}

// A rolling upgrade: two versions side by side, each instance with its
// own manifest; the one that goes takes its functions with it.
func TestCatalog_TwoVersionsSideBySide(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	stopOld := runHosted(t, url, calc("0.1.0", "add", "sub"), servicehost.Config{Host: "h", InstanceID: "calc-old"})
	runHosted(t, url, calc("0.2.0", "add", "mul"), servicehost.Config{Host: "h", InstanceID: "calc-new"})
	brokertest.Eventually(t, 10*time.Second, func() bool { s, _ := service(c, "calc"); return len(s.Instances) == 2 }, "both calc instances")

	s, _ := service(c, "calc")
	versions := map[string]string{}
	for _, in := range s.Instances {
		versions[in.ID] = in.Version
	}
	if s.Version != "0.2.0" || strings.Join(s.Versions, " ") != "0.2.0 0.1.0" || s.Description != "calc 0.2.0" ||
		strings.Join(s.Functions, " ") != "add mul sub" || versions["calc-old"] != "0.1.0" || versions["calc-new"] != "0.2.0" {
		t.Fatalf("services: %+v", s)
	}
	add, err := c.Describe("calc.add")
	if err != nil || add.Version != "0.2.0" || add.Function.Description != "add in 0.2.0" || add.Instances != 2 || strings.Join(add.Versions, " ") != "0.2.0 0.1.0" {
		t.Fatalf("describe calc.add: %+v, %v; want 0.2.0's entry on 2 instances", add, err)
	}
	sub, err := c.Describe("sub")
	if err != nil || sub.Version != "0.1.0" || sub.Instances != 1 || strings.Join(sub.Versions, " ") != "0.1.0" {
		t.Fatalf("describe sub: %+v, %v", sub, err)
	}
	if got := names(c.Functions("")); got != "calc.add calc.mul calc.sub" {
		t.Fatalf("funcs: %s", got)
	}
	// Over the wire, each instance says its version.
	cli, _ := node(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wire []struct {
		Name      string `json:"name"`
		Instances []struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"instances"`
	}
	if err := cli.Lookup(catalog.ServiceName).Call(ctx, "services", nil, &wire); err != nil || len(wire) != 1 || len(wire[0].Instances) != 2 ||
		wire[0].Instances[0].ID != "calc-new" || wire[0].Instances[0].Version != "0.2.0" || wire[0].Instances[1].Version != "0.1.0" {
		t.Fatalf("services over omq: %+v, %v", wire, err)
	}

	stopOld() // a graceful stop: withdrawn by the time it returns
	if _, err := c.Describe("calc.sub"); !errors.Is(err, omq.ErrUnknownFunction) {
		t.Fatalf("calc.sub after 0.1.0 left: %v, want unknown", err)
	}
	add, err = c.Describe("calc.add")
	if err != nil || add.Instances != 1 || strings.Join(add.Versions, " ") != "0.2.0" {
		t.Fatalf("calc.add after 0.1.0 left: %+v, %v", add, err)
	}
	if s, _ := service(c, "calc"); strings.Join(s.Versions, " ") != "0.2.0" || strings.Join(s.Functions, " ") != "add mul" || len(s.Instances) != 1 {
		t.Fatalf("calc after 0.1.0 left: %+v", s)
	}
}

// A withdrawal is only a hint: an instance that still answers stays.
func TestCatalog_ForgedWithdrawIsIgnored(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalogWith(t, url, slow)
	runService(t, url, "tst")
	brokertest.Eventually(t, 10*time.Second, func() bool { _, ok := service(c, "tst"); return ok }, "tst to be announced")
	s, _ := service(c, "tst")
	id := s.Instances[0].ID

	cli, _ := node(t, url)
	cat := cli.Lookup(catalog.ServiceName)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, args := range [][]string{{"tst", id}, {"hub", id}, {"tst", "nosuch"}} {
		if err := cat.Call(ctx, "withdraw", omq.Args(args[0], args[1]), nil); err != nil {
			t.Fatalf("withdraw %v: %v", args, err)
		}
	}
	if s, ok := service(c, "tst"); !ok || len(s.Instances) != 1 || s.Instances[0].ID != id {
		t.Fatalf("after forged withdrawals: %+v", s)
	}
}

// servicehost stops answering before it withdraws, so the catalog
// removes the instance at once, not after Expiry.
func TestCatalog_GracefulStopWithdrawsAtOnce(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalogWith(t, url, slow)
	stop := runService(t, url, "tst")
	brokertest.Eventually(t, 10*time.Second, func() bool { _, ok := service(c, "tst"); return ok }, "tst to be announced")
	stop()
	if s, ok := service(c, "tst"); ok {
		t.Fatalf("tst still listed after a graceful stop: %+v", s)
	}
}

// Announcements that cannot be checked at once are refused with a 503
// rather than queued, and the catalog keeps answering queries.
func TestCatalog_AnnounceChecksAreBounded(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	cfg := slow
	cfg.MaxVerifying = 2
	cfg.VerifyTimeout = time.Second
	c := startCatalogWith(t, url, cfg)
	// Something allowed to serve tst that takes INFO requests and never
	// answers.
	_, hang := node(t, url)
	var asked atomic.Int64
	if _, err := hang.Subscribe("$SRV.INFO.tst.>", func(*nats.Msg) { asked.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := hang.Flush(); err != nil {
		t.Fatal(err)
	}
	cli, _ := node(t, url)
	cat := cli.Lookup(catalog.ServiceName)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tst := builtin(t, "tst")
	announce := func(id string) error {
		return cat.Call(ctx, "announce", catalog.Announcement{Instance: id, Manifest: tst}, nil)
	}
	errs := make(chan error, 2)
	for i := range 2 {
		go func() { errs <- announce(fmt.Sprintf("ghost%d", i)) }()
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return asked.Load() == 2 }, "two checks in flight")
	var re *omq.Error
	if err := announce("ghost2"); !errors.As(err, &re) || re.Code != catalog.CodeBusy {
		t.Fatalf("third announce: %v, want a 503", err)
	}
	var apps []string
	if err := cat.Call(ctx, "apps", nil, &apps); err != nil {
		t.Fatalf("apps while checks run: %v", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, omq.ErrBadArguments) {
			t.Errorf("announce of a ghost: %v, want a 400", err)
		}
	}
	if got := serviceNames(c); got != "" {
		t.Fatalf("services %q, want none", got)
	}
}

// The catalog holds at most MaxServices services and MaxInstances
// instances; the rest are ignored.
func TestCatalog_BoundedSize(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	cfg := fast
	cfg.MaxServices, cfg.MaxInstances = 1, 2
	c := startCatalogWith(t, url, cfg)
	count := sweeps(t, url)
	for range 3 {
		runService(t, url, "tst")
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { s, _ := service(c, "tst"); return len(s.Instances) == 2 }, "two tst instances")
	runService(t, url, "textutil")
	waitSweeps(t, count, 3)
	if s, _ := service(c, "tst"); serviceNames(c) != "tst" || len(s.Instances) != 2 {
		t.Fatalf("services %q, tst %+v; want tst alone, with 2 instances", serviceNames(c), s)
	}
}
