package main

import (
	"context"
	"fmt"
	"time"
)

// pingWithin bounds the check that a function's service answers before
// its arguments are asked for. Every instance answers $SRV.PING at once,
// whatever its load, and with no instance at all the hub says so at once;
// an instance silent this long would not take the call either.
const pingWithin = 2 * time.Second

// available reports whether an instance of service answers now — the
// menu may be older than a crash, and the catalog notices a killed
// instance only at its sweep — and, if not, why. It asks
// $SRV.PING.<service>, as the catalog's sweep does. A check this
// identity may not make counts as available: the call will say what is
// wrong. A service the catalog lists asleep that no instance answers is
// available too, "starting on demand": the call wakes it and waits for
// its instance. Ctrl-C meanwhile gives errInterrupted.
func (sh *shell) available(ctx context.Context, service string, asleep bool) (bool, string, error) {
	if !sh.cl.nc.IsConnected() {
		return false, "the hub is not reachable", nil
	}
	within := min(sh.cl.timeout, pingWithin)
	var answered bool
	var pingErr error
	interrupted := sh.interruptibly(ctx, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		ctx, done := sh.cl.guard(ctx)
		defer done()
		pings, err := sh.cl.node.Ping(ctx, service)
		answered, pingErr = len(pings) > 0, err
	})
	switch {
	case answered:
		sh.view.markAnswered(service)
		return true, "", nil
	case interrupted:
		return false, "", errInterrupted
	case ctx.Err() != nil:
		return false, "", ctx.Err()
	case sh.cl.denied.Load() != nil:
		return true, "", nil
	case asleep:
		return true, "starting on demand", nil
	}
	sh.view.markSilent(service)
	if pingErr != nil {
		return false, fmt.Sprintf("no instance of %s answered within %s", service, within), nil
	}
	return false, fmt.Sprintf("no instance of %s answers", service), nil
}

// interruptibly runs f with a context that Ctrl-C cancels, and reports
// whether Ctrl-C did.
func (sh *shell) interruptibly(ctx context.Context, f func(context.Context)) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	interrupted := make(chan bool, 1)
	go func() {
		select {
		case <-sh.interrupts:
			cancel()
			interrupted <- true
		case <-stop:
			interrupted <- false
		}
	}()
	f(ctx)
	close(stop)
	return <-interrupted
}
