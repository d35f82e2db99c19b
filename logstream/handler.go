package logstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is who publishes: a record's kind, name and instance (its
// subject's tokens) and host.
type Source struct {
	Kind, Name, Instance string
	Host                 string
}

// Validate checks that the source makes a valid subject.
func (s Source) Validate() error {
	var errs []error
	known := false
	for _, k := range Kinds {
		known = known || s.Kind == k
	}
	if !known {
		errs = append(errs, fmt.Errorf("logstream: kind %q: want hub, service, agent or provisioner", s.Kind))
	}
	if !ValidToken(s.Name) {
		errs = append(errs, fmt.Errorf("logstream: name %q: 1 to 64 letters, digits, '-' and '_'", s.Name))
	}
	if !ValidToken(s.Instance) {
		errs = append(errs, fmt.Errorf("logstream: instance %q: 1 to 64 letters, digits, '-' and '_'", s.Instance))
	}
	return errors.Join(errs...)
}

// NewInstanceID is a random id for a process that has none of its own (a
// hub, an agent, the provisioner): it tells one run from the next.
func NewInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Options tune a Handler; the zero value is fine.
type Options struct {
	// Buffer is how many records may wait for the publisher (default
	// 1024); more are dropped and counted.
	Buffer int
	// Summary is how often a count of dropped records that no later record
	// carried is published on its own (default 10s).
	Summary time.Duration
	// FlushTimeout bounds Close when its context has no deadline (default
	// 2s).
	FlushTimeout time.Duration
}

// Handler is a slog.Handler that writes every record to the handler it
// wraps (the process's stderr) and, once Attach has given it a
// connection, also publishes each one the wrapped handler takes on NATS,
// fire-and-forget: records go through a bounded channel to one publisher
// goroutine, so logging never waits for the network; when the channel is
// full a record is dropped and counted. The publisher logs nothing: its
// failures are counted (dpc_log_publish_errors_total), never logged, so
// publishing a record can never make another.
//
// Records logged with a context from Suppress, or through LocalOnly's
// logger, are written to stderr only.
type Handler struct {
	inner slog.Handler
	core  *core
	// attrs are WithAttrs's attributes, flattened under their groups.
	attrs map[string]any
	cut   bool
	// group is the dotted prefix of WithGroup's groups.
	group string
	local bool
}

// core is what every Handler derived from one New shares.
type core struct {
	records chan *Record
	opts    Options

	mu       sync.Mutex // guards nc and src while attaching
	nc       *nats.Conn
	src      Source
	attached atomic.Bool
	closed   atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// unreported is how many records were dropped since the last one
	// published (which carries the count).
	unreported   atomic.Uint64
	totalDropped atomic.Uint64
	dropped      prometheus.Counter
	errs         prometheus.Counter
	published    prometheus.Counter
}

// New wraps inner (the process's stderr handler): records are published at
// inner's level and above.
func New(inner slog.Handler, opts Options) *Handler {
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	if opts.Summary <= 0 {
		opts.Summary = 10 * time.Second
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 2 * time.Second
	}
	c := &core{
		records: make(chan *Record, opts.Buffer),
		opts:    opts,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "dpc_log_records_dropped_total",
			Help: "Log records not published on NATS because the publisher was behind (they were still written to stderr)."}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "dpc_log_publish_errors_total",
			Help: "Log records that could not be encoded or published on NATS."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "dpc_log_records_published_total",
			Help: "Log records published on NATS."}),
	}
	return &Handler{inner: inner, core: c, attrs: map[string]any{}}
}

// Register adds the handler's counters to reg.
func (h *Handler) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{h.core.dropped, h.core.errs, h.core.published} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("logstream: %w", err)
		}
	}
	return nil
}

// Dropped is how many records were dropped so far.
func (h *Handler) Dropped() uint64 { return h.core.totalDropped.Load() }

// Attach starts publishing on nc as src: records logged from now on go
// to dpc.log.<kind>.<name>.<instance> too. Only once; nc stays the
// caller's (Close flushes it but does not close it).
func (h *Handler) Attach(nc *nats.Conn, src Source) error {
	if err := h.attach(nc, src); err != nil {
		return err
	}
	go h.core.run()
	return nil
}

// attach is Attach without starting the publisher.
func (h *Handler) attach(nc *nats.Conn, src Source) error {
	if err := src.Validate(); err != nil {
		return err
	}
	c := h.core
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc != nil {
		return errors.New("logstream: already attached")
	}
	if c.closed.Load() {
		return errors.New("logstream: closed")
	}
	c.nc, c.src = nc, src
	c.attached.Store(true)
	return nil
}

// Close stops publishing: records still waiting are published and the
// connection flushed, within ctx (or Options.FlushTimeout if ctx has no
// deadline). Records logged afterwards go to stderr only. Safe to call
// twice, and without Attach.
func (h *Handler) Close(ctx context.Context) error {
	c := h.core
	c.mu.Lock()
	c.closed.Store(true)
	attached := c.nc != nil
	c.mu.Unlock()
	if !attached {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.FlushTimeout)
		defer cancel()
	}
	c.stopOnce.Do(func() { close(c.stop) })
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("logstream: closing: %w", ctx.Err())
	}
	if c.nc.IsClosed() {
		return nil
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("logstream: flushing: %w", err)
	}
	return nil
}

// run is the publisher: the only goroutine that publishes.
func (c *core) run() {
	defer close(c.done)
	t := time.NewTicker(c.opts.Summary)
	defer t.Stop()
	for {
		select {
		case r := <-c.records:
			c.publish(r)
		case <-t.C:
			if c.unreported.Load() > 0 {
				c.publish(&Record{Time: time.Now().UTC(), Level: slog.LevelWarn.String(),
					Msg: "log records dropped: the publisher was behind (they are in this process's stderr)"})
			}
		case <-c.stop:
			for {
				select {
				case r := <-c.records:
					c.publish(r)
				default:
					return
				}
			}
		}
	}
}

func (c *core) publish(r *Record) {
	r.Dropped = c.unreported.Swap(0)
	r.Kind, r.Name, r.Instance, r.Host = c.src.Kind, c.src.Name, c.src.Instance, c.src.Host
	data, err := Encode(r)
	if err == nil {
		err = c.nc.Publish(Subject(c.src.Kind, c.src.Name, c.src.Instance), data)
	}
	if err != nil {
		c.errs.Inc()
		return
	}
	c.published.Inc()
}

// Enabled is the wrapped handler's: records are published at the
// process's level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle writes r to the wrapped handler, then queues it for publishing
// unless it is local (Suppress, LocalOnly), the handler is not attached or
// is closed. It never blocks on the network.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	c := h.core
	if h.local || !c.attached.Load() || c.closed.Load() || Suppressed(ctx) {
		return err
	}
	rec := &Record{Time: r.Time.UTC(), Level: r.Level.String()}
	if r.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	rec.Msg, rec.Truncated = bound(r.Message, MaxValue)
	if len(h.attrs) > 0 || r.NumAttrs() > 0 {
		rec.Attrs = make(map[string]any, len(h.attrs)+r.NumAttrs())
		for k, v := range h.attrs {
			rec.Attrs[k] = v
		}
		rec.Truncated = rec.Truncated || h.cut
		r.Attrs(func(a slog.Attr) bool {
			rec.Truncated = attrsOf(rec.Attrs, h.group, a) || rec.Truncated
			return true
		})
	}
	select {
	case c.records <- rec:
	default:
		c.unreported.Add(1)
		c.totalDropped.Add(1)
		c.dropped.Inc()
	}
	return err
}

// WithAttrs is the handler with attrs added to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := h.clone()
	n.inner = h.inner.WithAttrs(attrs)
	for _, a := range attrs {
		n.cut = attrsOf(n.attrs, h.group, a) || n.cut
	}
	return n
}

// WithGroup is the handler with the attributes that follow in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := h.clone()
	n.inner = h.inner.WithGroup(name)
	if n.group != "" {
		n.group += "." + name
	} else {
		n.group = name
	}
	return n
}

func (h *Handler) clone() *Handler {
	n := *h
	n.attrs = make(map[string]any, len(h.attrs))
	for k, v := range h.attrs {
		n.attrs[k] = v
	}
	return &n
}

// suppressKey marks a context whose records are not published.
type suppressKey struct{}

// Suppress returns ctx marked so that records logged with it (slog's
// …Context functions) are written to stderr only: for work whose records
// must not be published, such as serving the logs themselves.
func Suppress(ctx context.Context) context.Context {
	return context.WithValue(ctx, suppressKey{}, true)
}

// Suppressed says whether ctx came from Suppress.
func Suppressed(ctx context.Context) bool {
	return ctx != nil && ctx.Value(suppressKey{}) != nil
}

// LocalOnly is log writing to stderr only, never publishing, if its
// handler is a Handler; otherwise log itself. For a component whose every
// record must stay local, such as the hub's logs function (a follower
// would otherwise read the records of its own reads).
func LocalOnly(log *slog.Logger) *slog.Logger {
	h, ok := log.Handler().(*Handler)
	if !ok {
		return log
	}
	n := h.clone()
	n.local = true
	return slog.New(n)
}

// Of is the Handler behind log, or nil.
func Of(log *slog.Logger) *Handler {
	h, _ := log.Handler().(*Handler)
	return h
}
