// Package servicehost runs a Go service under its manifest: it binds the
// service's functions through omq, checks every call's arguments against
// the manifest before a handler sees them (a wrong type is a 400 that
// names the argument), announces the instance to the hub's catalog,
// announces it again after every reconnect, and on a graceful stop
// unbinds it (calls in flight finish) and then withdraws it. The catalog
// takes announce and withdraw as hints and checks them with the
// instance's own $SRV replies, so the manifest it lists is the one in the
// instance's $SRV metadata.
//
//	svc := servicehost.Service{Manifest: m, Handlers: omq.Handlers{"add": add}}
//	err := servicehost.Run(ctx, node, svc, servicehost.Config{})
//
// Handlers receive their arguments as a JSON array in the manifest's
// order, whether the caller sent them by position or by name, so
// Request.Decode fills them in. They are parsed once, by the check, and
// handed on split (Request.SetPositional): Decode and Positional do not
// parse them again.
//
// An argument of type stream reaches the handler as a reader,
// servicehost.Stream(ctx, name), opened (and checked against
// Config.MaxStream) before the handler runs; a function whose result is a
// stream returns an io.Reader, which the host stores. See stream.go.
package servicehost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/catalog"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
)

// Service is a manifest and the handlers of its functions.
type Service struct {
	Manifest *manifests.Manifest
	// Handlers are keyed by funct_name.
	Handlers omq.Handlers
}

// Config tunes how a service is hosted. The zero value is usable.
type Config struct {
	// Concurrency is how many calls the instance handles at once (default
	// omq.DefaultConcurrency).
	Concurrency int
	// Host names this machine in the catalog (default os.Hostname).
	Host string
	// InstanceID is the instance's id (default: a random one from omq). A
	// process supervisor sets it to match the processes it started to the
	// instances answering $SRV.PING and STATS; it must be unique among the
	// service's instances.
	InstanceID string
	Logger     *slog.Logger
	// MaxStream bounds a stream argument or result, in bytes (default
	// DefaultMaxStream). A stream is never whole in memory, so this bounds
	// the store space one call may take, not the host's memory.
	MaxStream int64
	// Metrics is the URL of the instance's /metrics, put in its $SRV
	// metadata (catalog.MetaMetrics) so that the agent that started it
	// can tell Prometheus where to scrape; empty: none served.
	Metrics string
}

// DefaultMaxStream is the default Config.MaxStream: a hub's whole
// large-body store by default (dpc-hub --max-bodies).
const DefaultMaxStream = 1 << 30

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = omq.DefaultConcurrency
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxStream <= 0 {
		c.MaxStream = DefaultMaxStream
	}
	return c
}

// Check reports a manifest function without a handler, or a handler
// without a manifest function.
func (s Service) Check() error {
	if s.Manifest == nil {
		return errors.New("servicehost: no manifest")
	}
	var errs []error
	for _, f := range s.Manifest.Functions {
		if s.Handlers[f.Name] == nil {
			errs = append(errs, fmt.Errorf("servicehost: %s: manifest function %q has no handler", s.Manifest.Name, f.Name))
		}
	}
	for name := range s.Handlers {
		if s.Manifest.Function(name) == nil {
			errs = append(errs, fmt.Errorf("servicehost: %s: handler %q is not in the manifest", s.Manifest.Name, name))
		}
	}
	return errors.Join(errs...)
}

// Bind serves svc on node with argument checking, and with the manifest in
// the instance's $SRV metadata so that the catalog can find it by itself.
func Bind(ctx context.Context, node *omq.Node, svc Service, cfg Config) (*omq.Instance, error) {
	cfg = cfg.withDefaults()
	if err := svc.Check(); err != nil {
		return nil, err
	}
	m := svc.Manifest
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("servicehost: encoding the manifest of %s: %w", m.Name, err)
	}
	hs := omq.Handlers{}
	for i := range m.Functions {
		f := &m.Functions[i]
		hs[f.Name] = checked(node, m.Name, f, svc.Handlers[f.Name], omq.StreamMax(cfg.MaxStream))
	}
	md := map[string]string{catalog.MetaManifest: string(mj), catalog.MetaHost: cfg.Host}
	if cfg.Metrics != "" {
		md[catalog.MetaMetrics] = cfg.Metrics
	}
	return node.Bind(ctx, m.Name, hs,
		omq.Version(m.Version),
		omq.Description(m.Description),
		omq.Concurrency(cfg.Concurrency),
		omq.InstanceID(cfg.InstanceID), // "": a random one
		omq.Metadata(md))
}

// checked validates arguments and the result against the manifest around
// h, and opens and stores its streams (stream.go).
func checked(node *omq.Node, service string, f *manifests.Function, h omq.Handler, max omq.StreamOption) omq.Handler {
	streamIdx := streamArgs(f)
	return omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
		args, err := f.CheckArgs(req.Args)
		if err != nil {
			return nil, omq.Errorf(omq.CodeBadArguments, "%v", err)
		}
		// The arguments are parsed once, here: the handler gets them
		// split (Request.Decode and Positional use them as they are) and
		// as a JSON array in Args.
		req.Args = positionalArray(req.Args, args)
		req.SetPositional(args)
		if streamIdx != nil {
			s, err := openStreams(ctx, node, f, streamIdx, args, req.Kind, max)
			if err != nil {
				return nil, err
			}
			defer s.close()
			ctx = context.WithValue(ctx, streamsKey{}, s)
		}
		res, err := h.Handle(ctx, req)
		if err != nil {
			return nil, err
		}
		if f.ReturnType == "" {
			return nil, nil
		}
		if f.ReturnType == manifests.TypeStream {
			if res, err = storeResult(ctx, node, service, f, res, max); err != nil {
				return nil, err
			}
		}
		out, err := json.Marshal(res)
		if err != nil {
			return nil, omq.Errorf(omq.CodeHandlerFailure, "%s.%s: encoding the result: %v", service, f.Name, err)
		}
		if err := f.CheckResult(out); err != nil {
			return nil, omq.Errorf(omq.CodeHandlerFailure, "%s.%s returned what its manifest does not promise: %v", service, f.Name, err)
		}
		return json.RawMessage(out), nil
	})
}

// positionalArray is the JSON array of args, checked arguments in the
// manifest's order: body itself when the caller sent them by position,
// else built from args (a call by name), without encoding them again.
func positionalArray(body json.RawMessage, args []json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return nil
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		return t
	}
	n := 1
	for _, a := range args {
		n += len(a) + 1
	}
	out := append(make([]byte, 0, n), '[')
	for i, a := range args {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, a...)
	}
	return append(out, ']')
}

// Run binds svc, announces it to the catalog, and serves until ctx ends;
// then it unbinds, letting calls in flight finish (for up to 10 seconds),
// and withdraws once it no longer answers. It announces again whenever
// the connection comes back after a loss, so a restarted hub learns of it
// at once.
func Run(ctx context.Context, node *omq.Node, svc Service, cfg Config) error {
	// A service starting beside a busy hub (creating the durable lane's
	// stream, say) may wait longer than a call would: bind within
	// bindTimeout unless ctx says otherwise.
	bctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		bctx, cancel = context.WithTimeout(ctx, bindTimeout)
	}
	inst, err := Bind(bctx, node, svc, cfg)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while starting: nothing was served for long, and
			// a stop is not a failure.
			return nil
		}
		return err
	}
	return Serve(ctx, node, svc, inst, cfg)
}

// bindTimeout bounds Run's bind when its context has no deadline.
const bindTimeout = 30 * time.Second

// Serve is Run for an instance already bound with Bind: for a caller
// that binds in its own way (retrying until the hub is up, say).
func Serve(ctx context.Context, node *omq.Node, svc Service, inst *omq.Instance, cfg Config) error {
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("service", svc.Manifest.Name, "instance", inst.ID())
	a := catalog.Announcement{Instance: inst.ID(), Host: cfg.Host, Manifest: svc.Manifest}
	announce := func() {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := node.Lookup(catalog.ServiceName).Call(actx, "announce", a, nil, omq.Idempotent())
		var busy *omq.Error
		switch {
		case errors.As(err, &busy) && busy.Code == catalog.CodeBusy:
			// Many instances announcing at once, as after a hub
			// restart: the sweep finds this one within a second.
			log.Info("the catalog is busy; it will find this instance by itself", "err", err)
			return
		case err != nil:
			// The catalog also finds the instance by its $SRV metadata.
			log.Warn("announce to the catalog failed; it will find this instance by itself", "err", err)
			return
		}
		log.Info("announced", "functions", len(svc.Manifest.Functions))
	}
	announce()

	nc := node.Conn()
	reconnected := nc.StatusChanged(nats.CONNECTED)
	defer nc.RemoveStatusListener(reconnected)
	for {
		select {
		case <-reconnected:
			log.Info("connection back; announcing again")
			announce()
		case <-ctx.Done():
			// Stop answering first: Unbind leaves $SRV at once, then
			// the queue groups, and lets calls in flight finish. The
			// catalog honours a withdraw only from an
			// instance that no longer answers $SRV.PING.<name>.<id>,
			// and the withdraw goes out on the same connection after
			// the unsubscriptions, so it takes effect at once.
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := inst.Unbind(uctx)
			if !nc.IsConnected() {
				// Nobody to tell: the catalog drops the instance when it
				// stops answering, and waiting for the hub would only
				// delay the stop.
				log.Info("stopped; the hub is unreachable, so the catalog will notice by itself")
				return err
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
			if werr := node.Lookup(catalog.ServiceName).Call(wctx, "withdraw", omq.Args(svc.Manifest.Name, inst.ID()), nil, omq.WaitForInstance(0)); werr != nil {
				log.Warn("withdraw from the catalog failed; it will notice the instance is gone", "err", werr)
			}
			wcancel()
			log.Info("stopped")
			return err
		}
	}
}

// FunctionNames lists a manifest's functions, for messages.
func FunctionNames(m *manifests.Manifest) string {
	names := make([]string, len(m.Functions))
	for i, f := range m.Functions {
		names[i] = f.Name
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
