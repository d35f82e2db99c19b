package omq_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// A unicast call that finds no instance and waits for one asks for it on
// dpc.wake.<service>: at most once per omq.WakeEvery per service from one
// node, however many calls wait. A call that does not wait, or one to a
// single instance, asks nothing.
func TestStub_NoRespondersPublishesAWake(t *testing.T) {
	e := newEnv(t)
	caller, _ := e.node()
	_, watch := e.node()
	wakes := make(chan *nats.Msg, 1000)
	sub, err := watch.ChanSubscribe("dpc.wake.>", wakes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}

	const wait = time.Second
	start := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := caller.Lookup("sleepy").Call(context.Background(), "f", nil, nil, omq.Timeout(10*time.Second), omq.WaitForInstance(wait))
			if !errors.Is(err, omq.ErrNoResponders) {
				t.Errorf("call: %v, want ErrNoResponders", err)
			}
		})
	}
	wg.Wait()
	if err := caller.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// The sends end within one round trip of each other; give the
	// subscriber a moment for the last one.
	waitFor(t, func() bool { return len(wakes) > 0 }, "a wake")
	time.Sleep(100 * time.Millisecond)
	n := len(wakes)
	bound := int(took/omq.WakeEvery) + 1
	if n < 1 || n > bound {
		t.Fatalf("%d wakes from 20 calls waiting %v (over %v), want 1..%d", n, wait, took, bound)
	}
	for range n {
		if m := <-wakes; m.Subject != "dpc.wake.sleepy" || len(m.Data) != 0 {
			t.Fatalf("wake %q %q, want dpc.wake.sleepy with no body", m.Subject, m.Data)
		}
	}

	// No wait, or a call to one instance: nothing to wake.
	if err := caller.Lookup("other").Call(context.Background(), "f", nil, nil, omq.WaitForInstance(0)); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("WaitForInstance(0): %v", err)
	}
	if err := caller.Lookup("other").At("x1").Call(context.Background(), "f", nil, nil, omq.Timeout(5*time.Second), omq.WaitForInstance(300*time.Millisecond)); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("call to one instance: %v", err)
	}
	if err := caller.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if len(wakes) != 0 {
		t.Fatalf("%d wakes from calls that do not wait for the service, want 0", len(wakes))
	}
}

// What a wake is for: whoever hears it binds an instance, and the waiting
// call is answered.
func TestStub_WakeAnsweredByABind(t *testing.T) {
	e := newEnv(t)
	caller, _ := e.node()
	server, nc := e.node()
	bound := make(chan error, 1)
	var once sync.Once
	sub, err := nc.Subscribe("dpc.wake.cold", func(*nats.Msg) {
		once.Do(func() {
			go func() {
				inst, err := server.Bind(context.Background(), "cold", omq.Handlers{
					"hello": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return "warm", nil }),
				})
				if err == nil {
					t.Cleanup(func() { _ = inst.Unbind(context.Background()) })
				}
				bound <- err
			}()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := caller.Lookup("cold").Call(ctxT(t, 10*time.Second), "hello", nil, &got, omq.WaitForInstance(5*time.Second)); err != nil || got != "warm" {
		t.Fatalf("call: %q %v, want warm", got, err)
	}
	if err := <-bound; err != nil {
		t.Fatal(err)
	}
}
