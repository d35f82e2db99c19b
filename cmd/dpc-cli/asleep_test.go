package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go"
)

// sleepyService may sleep (scaling.min 0); its greet says hello.
func sleepyService() servicehost.Service {
	zero := 0
	m := &manifests.Manifest{Name: "sleepy", Version: "1.0.0", Scaling: &manifests.Scaling{Min: &zero},
		Functions: []manifests.Function{{Name: "greet", ReturnType: "string", Description: "Greets someone.",
			Args: []manifests.Arg{{Name: "who", Type: "string", Description: "whom to greet"}}, Apps: []string{"sleepy"}}}}
	greet := omq.HandlerFunc(func(_ context.Context, r *omq.Request) (any, error) {
		var who string
		if err := r.Decode(&who); err != nil {
			return nil, err
		}
		return "hello " + who, nil
	})
	return servicehost.Service{Manifest: m, Handlers: omq.Handlers{"greet": greet}}
}

// waitAsleep polls funcs until the catalog lists fn asleep.
func waitAsleep(t *testing.T, url, fn string) {
	t.Helper()
	brokertest.Eventually(t, waitLong, func() bool {
		var fs []catalog.FunctionInfo
		r := cli(t, url, "funcs", "--json")
		if r.code != 0 {
			return false
		}
		decodeJSON(t, r, &fs)
		for _, f := range fs {
			if f.Name == fn {
				return f.Asleep
			}
		}
		return false
	}, fn+" listed asleep")
}

// wakeOnce plays the provisioner: the first wake for service it hears
// starts an instance (in the test goroutine, through started).
func wakeOnce(t *testing.T, url, service string) <-chan struct{} {
	t.Helper()
	nc := connectOwner(t, url)
	t.Cleanup(nc.Close)
	woken := make(chan struct{}, 1)
	if _, err := nc.Subscribe(omq.DefaultPrefix+".wake."+service, func(*nats.Msg) {
		select {
		case woken <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return woken
}

// A service scaled to zero stays in the catalog, asleep: funcs, status
// and describe say so, call sends the call that wakes it and gets the
// answer, and the menu offers it without saying it is not available.
func TestCommands_AsleepServiceIsCalled(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	u := h.url
	s := startService(t, u, sleepyService())
	waitCatalog(t, u, "sleepy.greet", true)
	s.stop()
	waitAsleep(t, u, "sleepy.greet")

	if r := check(t, u, 0, nil, nil, "funcs"); !strings.Contains(r.stdout, "sleepy.greet") || !strings.Contains(r.stdout, "asleep") {
		t.Fatalf("funcs does not show sleepy.greet asleep:\n%s", r)
	}
	check(t, u, 0, []string{"sleepy 1.0.0", "asleep since"}, nil, "status")
	check(t, u, 0, []string{"sleepy (asleep: the first call starts an instance)"}, nil, "describe", "sleepy.greet")

	// call: the wake it sends starts an instance, and it is answered.
	woken := wakeOnce(t, u, "sleepy")
	done := make(chan result, 1)
	go func() { done <- cli(t, u, "call", "greet", "world") }()
	select {
	case <-woken:
	case r := <-done:
		t.Fatalf("call ended before waking the service:\n%s", r)
	case <-time.After(waitLong):
		t.Fatal("no wake for sleepy")
	}
	s = startService(t, u, sleepyService())
	if r := <-done; r.code != 0 || r.stdout != "hello world\n" {
		t.Fatalf("call greet world:\n%s", r)
	}
	s.stop()
	waitAsleep(t, u, "sleepy.greet")

	// The menu: chosen, it is "starting on demand", and its argument is
	// asked for.
	woken = wakeOnce(t, u, "sleepy")
	sh := startShell(t, u, "--app", "sleepy")
	fns := sh.Expect("Select functionality: ")
	sh.choose(fns, "greet")
	out := sh.Expect("Please input who (whom to greet): ")
	if strings.Contains(out, "not available") || !strings.Contains(out, "sleepy is asleep, starting on demand") {
		t.Fatalf("choosing greet of the sleeping service:\n%s", out)
	}
	sh.Send("menu")
	select {
	case <-woken:
	case <-time.After(waitLong):
		t.Fatal("no wake for sleepy from the menu's call")
	}
	startService(t, u, sleepyService())
	sh.Expect("hello menu")
}
