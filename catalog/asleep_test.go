package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go/jetstream"
)

// sleepyManifest is a service that may sleep (scaling.min 0), or, with
// min 1, one that may not.
func sleepyManifest(name, version string, minimum int) *manifests.Manifest {
	return &manifests.Manifest{Name: name, Version: version, Scaling: &manifests.Scaling{Min: &minimum},
		Functions: []manifests.Function{{Name: "hello", ReturnType: "string", Description: "Says hello."}}}
}

// funcInfo is the catalog's entry of one function, if it lists it.
func funcInfo(c *catalog.Catalog, name string) (catalog.FunctionInfo, bool) {
	f, err := c.Describe(name)
	return f, err == nil
}

func asleep(c *catalog.Catalog, name string) bool {
	f, ok := funcInfo(c, name)
	return ok && f.Asleep && f.Instances == 0
}

func awake(c *catalog.Catalog, name string) bool {
	f, ok := funcInfo(c, name)
	return ok && !f.Asleep && f.Instances > 0
}

// A min-0 service whose last instance leaves stays listed, asleep, until
// an instance comes again; a service that may not sleep leaves.
func TestCatalog_MinZeroServiceSleeps(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	c := startCatalog(t, url)
	stopSleepy := runHosted(t, url, nopService(sleepyManifest("sleepy", "1.0.0", 0)), servicehost.Config{Host: "h1"})
	stopTst := runService(t, url, "tst")
	brokertest.Eventually(t, 10*time.Second, func() bool { return awake(c, "sleepy.hello") && awake(c, "tst.add") }, "sleepy and tst to arrive")

	stopSleepy()
	stopTst()
	brokertest.Eventually(t, 10*time.Second, func() bool {
		_, tst := funcInfo(c, "tst.add")
		return !tst && asleep(c, "sleepy.hello")
	}, "tst to leave and sleepy to be listed asleep")
	var ss []catalog.ServiceInfo
	for _, s := range c.Services(context.Background()) {
		if s.Name == "sleepy" {
			ss = append(ss, s)
		}
	}
	if len(ss) != 1 || !ss[0].Asleep || ss[0].AsleepSince == nil || len(ss[0].Instances) != 0 || ss[0].Version != "1.0.0" {
		t.Fatalf("services: %+v, want sleepy asleep with no instance", ss)
	}
	// Over omq, as dpc-cli reads it.
	cli, _ := node(t, url)
	var fs []catalog.FunctionInfo
	if err := cli.Lookup(catalog.ServiceName).Call(context.Background(), "funcs", omq.Args(""), &fs); err != nil ||
		len(fs) != 1 || fs[0].Name != "sleepy.hello" || !fs[0].Asleep {
		t.Fatalf("funcs: %+v, %v", fs, err)
	}

	// An instance wakes it.
	runHosted(t, url, nopService(sleepyManifest("sleepy", "1.0.0", 0)), servicehost.Config{Host: "h2"})
	brokertest.Eventually(t, 10*time.Second, func() bool { return awake(c, "sleepy.hello") }, "sleepy to be awake")
}

// A newer version that may not sleep ends the service's sleep: when it
// leaves, the service leaves.
func TestCatalog_NewerVersionDecidesSleep(t *testing.T) {
	srv := brokertest.Start(t)
	c := startCatalogWith(t, srv.ClientURL(), slow)
	c.Add(sleepyManifest("s", "1.0.0", 0), "a", "h")
	c.Add(sleepyManifest("s", "2.0.0", 1), "b", "h")
	c.Remove("s", "a", "test")
	c.Remove("s", "b", "test")
	if _, ok := funcInfo(c, "s.hello"); ok {
		t.Fatal("s listed after its last instance left; its newest version may not sleep")
	}
	c.Add(sleepyManifest("s", "2.0.0", 1), "b", "h")
	c.Add(sleepyManifest("s", "1.0.0", 0), "a", "h")
	c.Remove("s", "b", "test")
	c.Remove("s", "a", "test")
	if _, ok := funcInfo(c, "s.hello"); ok {
		t.Fatal("s listed after its last instance left; a newer version than the min-0 one may not sleep")
	}
}

// At most MaxAsleep services are kept asleep, the one asleep longest
// forgotten first; none longer than AsleepFor.
func TestCatalog_AsleepBounds(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	cfg := slow
	cfg.MaxAsleep = 2
	c := startCatalogWith(t, url, cfg)
	for _, s := range []string{"s1", "s2", "s3"} {
		c.Add(sleepyManifest(s, "1.0.0", 0), "i", "h")
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		c.Remove(s, "i", "test")
	}
	if got := names(c.Functions("")); got != "s2.hello s3.hello" {
		t.Fatalf("functions %q, want the two asleep most recently: s2.hello s3.hello", got)
	}

	cfg = fast
	cfg.AsleepFor = time.Nanosecond
	n, _ := node(t, url)
	short, err := catalog.New(n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	short.Add(sleepyManifest("s1", "1.0.0", 0), "i", "h")
	short.Remove("s1", "i", "test")
	short.Sweep(context.Background())
	if got := names(short.Functions("")); got != "" {
		t.Fatalf("functions %q after a sweep, want none: asleep longer than AsleepFor", got)
	}
}

// With a Store the services asleep survive a restart of the catalog (a
// hub restart runs a new one): listed asleep before any instance comes.
func TestCatalog_AsleepSurvivesRestart(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.ClientURL()
	_, nc := node(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: catalog.DefaultBucket, MaxValueSize: catalog.BucketMaxValue, MaxBytes: catalog.BucketMaxBytes})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fast
	cfg.Store = catalog.KVStore(kv)
	run := func() (*catalog.Catalog, func()) {
		n, _ := node(t, url)
		c, err := catalog.New(n, cfg)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		return c, func() { stop(); <-done }
	}

	c1, stop1 := run()
	stopSleepy := runHosted(t, url, nopService(sleepyManifest("sleepy", "1.2.0", 0)), servicehost.Config{Host: "h1"})
	stopTst := runService(t, url, "tst")
	brokertest.Eventually(t, 10*time.Second, func() bool { return awake(c1, "sleepy.hello") && awake(c1, "tst.add") }, "sleepy and tst to arrive")
	stopSleepy()
	stopTst()
	brokertest.Eventually(t, 10*time.Second, func() bool { return asleep(c1, "sleepy.hello") }, "sleepy asleep")
	stop1()
	e, err := kv.Get(ctx, "sleepy")
	if err != nil {
		t.Fatalf("the store has no record of sleepy: %v", err)
	}
	var rec struct {
		Manifest manifests.Manifest `json:"manifest"`
		Asleep   time.Time          `json:"asleep"`
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.Manifest.Version != "1.2.0" || rec.Asleep.IsZero() {
		t.Fatalf("record %s: %v", e.Value(), err)
	}
	if _, err := kv.Get(ctx, "tst"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the store has tst (%v); it may not sleep", err)
	}

	c2, stop2 := run()
	defer stop2()
	// Asleep from the start: the first answer the catalog gives has it.
	cli, _ := node(t, url)
	var fs []catalog.FunctionInfo
	if err := cli.Lookup(catalog.ServiceName).Call(ctx, "funcs", omq.Args(""), &fs); err != nil ||
		len(fs) != 1 || fs[0].Name != "sleepy.hello" || !fs[0].Asleep || fs[0].Version != "1.2.0" {
		t.Fatalf("funcs after the restart: %+v, %v", fs, err)
	}
	// Awake again, and asleep again when its instance leaves.
	stopSleepy = runHosted(t, url, nopService(sleepyManifest("sleepy", "1.2.0", 0)), servicehost.Config{Host: "h2"})
	brokertest.Eventually(t, 10*time.Second, func() bool { return awake(c2, "sleepy.hello") }, "sleepy awake")
	stopSleepy()
	brokertest.Eventually(t, 10*time.Second, func() bool { return asleep(c2, "sleepy.hello") }, "sleepy asleep again")
}
