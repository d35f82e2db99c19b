package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/suggest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// client is a connection to the hub: the catalog's queries and calls of
// the functions it lists.
type client struct {
	nc      *nats.Conn
	node    *omq.Node
	closing atomic.Bool // Close was called: a disconnection now is ours
	// denied is the permission violation the hub reported during the
	// current call: a call this identity's role may not make is dropped by
	// the server, which would otherwise look like silence until the
	// timeout. guards cancel the calls in progress when one arrives.
	denied atomic.Pointer[string]
	// refused closes when the hub no longer takes this device's
	// credentials (revoked while connected): the interactive mode ends.
	refused     chan struct{}
	refusedOnce sync.Once
	guardMu     sync.Mutex
	guards      map[int]context.CancelFunc
	nextGuard   int
	url         string
	creds       bool          // connected with credentials (not as a guest, not to a plain server)
	timeout     time.Duration // --timeout: catalog queries and functions without their own
	// timeoutSet: --timeout was given, and wins over a function's own
	// timeout (its manifest's is the default, not a floor).
	timeoutSet bool
}

// connectOptions says how to connect.
type connectOptions struct {
	// persistent keeps reconnecting for as long as the process runs (the
	// interactive mode); otherwise a lost hub fails what is in progress.
	persistent bool
	// notices receives one line per connection event (lost, back) when
	// persistent; nil discards them.
	notices io.Writer
}

// connect opens the connection. The first connection fails fast, also in
// the interactive mode: there is nothing to do without the hub.
func (g *Globals) connect(opts connectOptions) (*client, error) {
	c := &client{url: g.NATS, timeout: g.Timeout, timeoutSet: g.timeoutSet, refused: make(chan struct{})}
	nopts := []nats.Option{
		nats.Name("dpc-cli"),
		nats.Timeout(min(g.Timeout, 5*time.Second)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if hubconn.Refused(err) {
				// A reconnection the hub refused: revoked while connected.
				c.refusedOnce.Do(func() { close(c.refused) })
			}
			if errors.Is(err, nats.ErrPermissionViolation) {
				msg := err.Error()
				c.denied.Store(&msg)
				c.guardMu.Lock()
				for _, cancel := range c.guards {
					cancel()
				}
				c.guardMu.Unlock()
			}
		}),
	}
	if opts.persistent {
		var mu sync.Mutex
		notice := func(format string, args ...any) {
			if opts.notices == nil || c.closing.Load() {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(opts.notices, format, args...)
		}
		nopts = append(nopts,
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					notice("dpc-cli: lost the hub at %s (%v); reconnecting…\n", c.url, err)
				} else {
					notice("dpc-cli: lost the hub at %s; reconnecting…\n", c.url)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				notice("dpc-cli: connected to the hub again at %s\n", nc.ConnectedUrlRedacted())
			}),
		)
	} else {
		nopts = append(nopts, nats.NoReconnect())
	}
	hc, err := hubconn.ResolveConnection(g.NATS, g.Creds, g.TLSCA)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	auth, err := hc.Options()
	if err != nil {
		return nil, usageErrorf("hub credentials: %v", err)
	}
	url := hc.URL()
	c.url, c.creds = url, hc.CredsFile != ""
	nopts = append(nopts, auth...)
	nc, err := nats.Connect(url, nopts...)
	if err != nil && !hubconn.Refused(err) && g.NATS == "" {
		// The profile's addresses do not answer: the hub may have moved
		// (a new DHCP lease). The one on the LAN with the profile's CA is
		// the same hub; TLS checks that.
		if urls := hubconn.Moved(context.Background(), hc); urls != nil {
			url = strings.Join(urls, ",")
			c.url = url
			nc, err = nats.Connect(url, nopts...)
		}
	}
	if err != nil {
		if hubconn.Refused(err) {
			if !c.creds {
				return nil, &cliError{code: exitDenied, msg: fmt.Sprintf("the hub at %s admits no client without credentials, and this machine has no DPC identity: pair it (dpc-cli pair CODE --hub URL, with a code from the owner's dpc-cli devices add), or give --creds", url), err: err}
			}
			return nil, &cliError{code: exitDenied, msg: fmt.Sprintf("the hub at %s refused this device's credentials (revoked, or from another hub?): %v", url, err), err: err}
		}
		return nil, unavailableErrorf(err, "cannot reach the hub at %s: %v", url, err)
	}
	node, err := hubconn.NewNode(nc, omq.WithTimeout(g.Timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.nc, c.node = nc, node
	return c, nil
}

func (c *client) Close() {
	c.closing.Store(true)
	c.nc.Close()
}

// query calls one of the catalog's functions.
func (c *client) query(ctx context.Context, fn string, args, reply any) error {
	ctx, done := c.guard(ctx)
	defer done()
	err := c.node.Lookup(catalog.ServiceName).Call(ctx, fn, args, reply, omq.Timeout(c.timeout), omq.Idempotent())
	switch {
	case err == nil:
		return nil
	case c.denied.Load() != nil:
		return c.failure("catalog."+fn, err, c.timeout)
	case errors.Is(err, omq.ErrNoResponders):
		return unavailableErrorf(err, "the hub at %s does not answer: nothing serves its catalog (is dpc-hub running there?)", c.url)
	case errors.Is(err, omq.ErrTimeout):
		return &cliError{code: exitTimeout, msg: fmt.Sprintf("the hub's catalog at %s did not answer within %s", c.url, c.timeout), err: err}
	}
	return c.failure("catalog."+fn, err, c.timeout)
}

func (c *client) apps(ctx context.Context) ([]string, error) {
	var apps []string
	err := c.query(ctx, "apps", nil, &apps)
	return apps, err
}

func (c *client) funcs(ctx context.Context, app string) ([]catalog.FunctionInfo, error) {
	var fs []catalog.FunctionInfo
	err := c.query(ctx, "funcs", omq.Args(app), &fs)
	return fs, err
}

func (c *client) services(ctx context.Context) ([]catalog.ServiceInfo, error) {
	var ss []catalog.ServiceInfo
	err := c.query(ctx, "services", nil, &ss)
	return ss, err
}

// lookup connects and finds one function in the catalog; the caller
// closes the client.
func (g *Globals) lookup(ctx context.Context, name string) (*client, catalog.FunctionInfo, error) {
	cl, err := g.connect(connectOptions{})
	if err != nil {
		return nil, catalog.FunctionInfo{}, err
	}
	fi, err := cl.describe(ctx, name)
	if err != nil {
		cl.Close()
		return nil, catalog.FunctionInfo{}, err
	}
	return cl, fi, nil
}

// describe resolves a function name, plain or service.function. A name
// the catalog does not know is not found (exit 7), with the closest names
// it does know; an ambiguous one is bad usage (exit 2), since the user
// has to say which service they mean. A function the catalog lists but
// no instance answers is found here: the call says it is unavailable.
func (c *client) describe(ctx context.Context, name string) (catalog.FunctionInfo, error) {
	var fi catalog.FunctionInfo
	err := c.query(ctx, "describe", omq.Args(name), &fi)
	var re *omq.Error
	if errors.As(err, &re) {
		switch re.Code {
		case omq.CodeUnknownFunction:
			return fi, c.unknownFunction(ctx, name, err)
		case catalog.CodeAmbiguous:
			return fi, &cliError{code: exitUsage, msg: re.Description, err: err}
		case omq.CodeBadArguments:
			return fi, usageErrorf("%s", re.Description)
		}
	}
	return fi, err
}

// unknownFunction is the error for a function name the catalog does not
// know, suggesting the closest one it does.
func (c *client) unknownFunction(ctx context.Context, name string, cause error) error {
	msg := fmt.Sprintf("no live service has a function %q", name)
	if fs, err := c.funcs(ctx, ""); err == nil {
		if s := closestFunction(name, fs); s != "" {
			msg += "; did you mean " + s + "?"
		}
	}
	return notFoundErrorf(cause, "%s (dpc-cli funcs lists them)", msg)
}

// closestFunction is the function in fs a person probably meant by name:
// its plain name, or its qualified names when several services have it;
// "" if none is close.
func closestFunction(name string, fs []catalog.FunctionInfo) string {
	var names []string
	for _, f := range fs {
		names = append(names, f.Name, f.Function.Name)
	}
	best := suggest.Closest(name, names)
	if best == "" {
		return ""
	}
	var qualified []string
	for _, f := range fs {
		if f.Function.Name == best && f.Name != best {
			qualified = append(qualified, f.Name)
		}
	}
	if len(qualified) > 1 {
		return strings.Join(qualified, " or ")
	}
	return best
}

// checkApp fails unless some live service names app in its app_list,
// suggesting the closest application that one does.
func (c *client) checkApp(ctx context.Context, app string) error {
	apps, err := c.apps(ctx)
	if err != nil || slices.Contains(apps, app) {
		return err
	}
	msg := fmt.Sprintf("no live service names the application %q", app)
	if s := suggest.Closest(app, apps); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return notFoundErrorf(nil, "%s (dpc-cli apps lists them)", msg)
}

// timeoutFor is the timeout of a call of f: --timeout when given, else
// the function's own from its manifest, else --timeout's default.
func (c *client) timeoutFor(f manifests.Function) time.Duration {
	if d := f.Timeout.D(); d > 0 && !c.timeoutSet {
		return d
	}
	return c.timeout
}

// coldStart is how long a call of a service the catalog lists asleep
// waits for an instance: the provisioner starts one when the call asks
// (omq publishes the wake while it waits), and gives up on a process
// that has not bound after its start_timeout, 30 s by default.
const coldStart = 30 * time.Second

// callTimeout is the timeout of a call of fi. A call of a service asleep
// gets coldStart more than timeoutFor, for the wait for its instance —
// unless --timeout was given, which then bounds the whole call, wait
// included.
func (c *client) callTimeout(fi catalog.FunctionInfo) time.Duration {
	d := c.timeoutFor(fi.Function)
	if fi.Asleep && !c.timeoutSet {
		d += coldStart
	}
	return d
}

func (c *client) callOptions(fi catalog.FunctionInfo) []omq.CallOption {
	f := fi.Function
	timeout := c.callTimeout(fi)
	opts := []omq.CallOption{omq.Timeout(timeout)}
	if fi.Asleep {
		// Wait for the instance the wake starts, rather than omq's
		// default 2 s: within the timeout, and leaving the function its
		// own time when --timeout was not given.
		opts = append(opts, omq.WaitForInstance(min(coldStart, timeout)))
	}
	if f.Idempotent {
		opts = append(opts, omq.Idempotent())
	}
	return opts
}

// call calls the function fi describes with args (a JSON array or object,
// or nil) and returns its result as sent (nil when the function returns
// nothing). Errors are omq's.
func (c *client) call(ctx context.Context, fi catalog.FunctionInfo, args json.RawMessage) (json.RawMessage, error) {
	var res json.RawMessage
	ctx, done := c.guard(ctx)
	defer done()
	start := time.Now()
	err := c.node.Lookup(fi.Service).Call(ctx, fi.Function.Name, args, &res, c.callOptions(fi)...)
	return res, noInstance(err, start)
}

// noInstanceError is a call that no instance answered: omq waits for one
// for a while (omq.WithInstanceWait; an idempotent call tries again
// after that), and the message says how long, so that the wait does not
// read as a hang.
type noInstanceError struct {
	err    error
	waited time.Duration
}

func (e *noInstanceError) Error() string { return e.err.Error() }
func (e *noInstanceError) Unwrap() error { return e.err }

// noInstance is err, with how long the call waited if no instance
// answered it.
func noInstance(err error, start time.Time) error {
	if errors.Is(err, omq.ErrNoResponders) {
		return &noInstanceError{err: err, waited: time.Since(start)}
	}
	return err
}

// multiCall calls the function on every instance of its service.
func (c *client) multiCall(ctx context.Context, fi catalog.FunctionInfo, args json.RawMessage) ([]omq.Reply, error) {
	ctx, done := c.guard(ctx)
	defer done()
	start := time.Now()
	replies, err := c.node.Lookup(fi.Service).MultiCall(ctx, fi.Function.Name, args, omq.Timeout(c.timeoutFor(fi.Function)))
	return replies, noInstance(err, start)
}

// guard is ctx for one call, ended at once if the hub refuses the call
// (rather than at its timeout); done releases it.
func (c *client) guard(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	c.denied.Store(nil)
	c.guardMu.Lock()
	if c.guards == nil {
		c.guards = map[int]context.CancelFunc{}
	}
	id := c.nextGuard
	c.nextGuard++
	c.guards[id] = cancel
	c.guardMu.Unlock()
	return ctx, func() {
		c.guardMu.Lock()
		delete(c.guards, id)
		c.guardMu.Unlock()
		cancel()
	}
}

// failure is callFailure, unless the hub refused the call outright.
func (c *client) failure(name string, err error, timeout time.Duration) error {
	if msg := c.denied.Load(); msg != nil && (errors.Is(err, omq.ErrTimeout) || errors.Is(err, omq.ErrNoResponders) || errors.Is(err, context.Canceled)) {
		if !c.creds {
			// Let in without credentials: only to pair.
			return &cliError{code: exitDenied, msg: fmt.Sprintf("%s: the hub at %s admits this machine only to pair: it has no DPC identity (dpc-cli pair CODE --hub URL, with a code from the owner's dpc-cli devices add), or give --creds", name, c.url), err: err}
		}
		return &cliError{code: exitDenied, msg: fmt.Sprintf("%s: the hub refused it: this identity's role may not call it (%s)", name, *msg), err: err}
	}
	return callFailure(name, err, timeout)
}
