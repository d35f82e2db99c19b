package omq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Node is one program's handle on omq: it binds instances and looks up
// stubs over a NATS connection the caller owns. A Node is safe for
// concurrent use.
type Node struct {
	nc   *nats.Conn
	cfg  nodeConfig
	subj subjects
	log  *slog.Logger

	// replies takes the replies of the node's synchronous calls.
	replies *replies

	mu        sync.Mutex
	instances map[*Instance]struct{}
	closed    bool
	// woken is when this node last published a wake for each service
	// (see wake); made on first use.
	woken map[string]time.Time

	jsOnce sync.Once
	js     jetstream.JetStream
	jsErr  error

	streamMu    sync.Mutex
	streamReady bool
	// createRefused: the server refused this connection the stream's
	// creation once; it is not asked again (the identity does not change),
	// a missing stream is then errStreamCreateDenied at once.
	createRefused atomic.Bool
	// deadRefused is the same for the dead-letter stream.
	deadRefused atomic.Bool

	bodiesMu  sync.Mutex
	bodyStore jetstream.ObjectStore
}

// New creates a Node on nc. The caller keeps ownership of nc: Close does not
// close it.
func New(nc *nats.Conn, opts ...Option) (*Node, error) {
	if nc == nil {
		return nil, errors.New("omq: nil NATS connection")
	}
	cfg := nodeConfig{prefix: DefaultPrefix, timeout: DefaultTimeout, maxBody: DefaultMaxBody, instanceWait: DefaultInstanceWait}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.stream == "" {
		cfg.stream = DefaultStream
		if cfg.prefix != DefaultPrefix {
			cfg.stream = strings.ToUpper(cfg.prefix) + "_ASYNC"
		}
	}
	if err := checkName("prefix", cfg.prefix); err != nil {
		return nil, err
	}
	if err := checkName("stream", cfg.stream); err != nil {
		return nil, err
	}
	if cfg.instanceWait < 0 {
		return nil, fmt.Errorf("omq: instance wait %s must not be negative", cfg.instanceWait)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("omq: timeout %s must be positive", cfg.timeout)
	}
	if cfg.maxBody <= 0 {
		return nil, fmt.Errorf("omq: max body %d must be positive", cfg.maxBody)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return &Node{
		nc:        nc,
		cfg:       cfg,
		subj:      subjects{prefix: cfg.prefix},
		log:       cfg.logger,
		instances: map[*Instance]struct{}{},
		replies:   newReplies(nc),
	}, nil
}

// Conn is the NATS connection the node uses.
func (n *Node) Conn() *nats.Conn { return n.nc }

// Bind serves v under name and returns the bound instance. v is either
// Handlers (functions defined at run time) or a Go value whose exported
// methods become functions (see FunctionName for how they are named). A
// method may take a context.Context first, then any JSON-encodable
// parameters, and return (), (T), (error) or (T, error).
//
// Every instance bound to a name shares the name's queue group (unicast
// calls are load-balanced over them), receives every multi call, answers
// calls addressed to its own id, and takes work from the durable lane when
// the server has JetStream.
func (n *Node) Bind(ctx context.Context, name string, v any, opts ...BindOption) (*Instance, error) {
	if err := checkName("service", name); err != nil {
		return nil, err
	}
	cfg := bindConfig{concurrency: DefaultConcurrency, queue: -1, stallAfter: DefaultStallAfter, version: "0.0.0", ackWait: DefaultAckWait, maxDeliver: DefaultMaxDeliver, inactive: DefaultInactiveThreshold}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.queue < 0 {
		cfg.queue = cfg.concurrency
	}
	if cfg.stallAfter <= 0 {
		return nil, fmt.Errorf("omq: bind %s: StallAfter %s must be positive", name, cfg.stallAfter)
	}
	if cfg.concurrency < 1 {
		return nil, fmt.Errorf("omq: bind %s: concurrency %d must be at least 1", name, cfg.concurrency)
	}
	if cfg.maxDeliver < 1 {
		return nil, fmt.Errorf("omq: bind %s: MaxDeliver %d must be at least 1", name, cfg.maxDeliver)
	}
	if cfg.ackWait <= 0 {
		return nil, fmt.Errorf("omq: bind %s: AckWait %s must be positive", name, cfg.ackWait)
	}
	if cfg.inactive < 0 {
		return nil, fmt.Errorf("omq: bind %s: InactiveThreshold %s must not be negative", name, cfg.inactive)
	}
	if !semverRE.MatchString(cfg.version) {
		return nil, fmt.Errorf("omq: bind %s: version %q is not SemVer (like 1.2.3), which ADR-32 requires", name, cfg.version)
	}
	var handlers Handlers
	switch h := v.(type) {
	case Handlers:
		if len(h) == 0 {
			return nil, fmt.Errorf("omq: bind %s: no handlers", name)
		}
		if cfg.argNames != nil {
			return nil, fmt.Errorf("omq: bind %s: ArgNames applies to Go values, not Handlers", name)
		}
		for fn, hh := range h {
			if err := checkName("function", fn); err != nil {
				return nil, fmt.Errorf("omq: bind %s: %w", name, err)
			}
			if hh == nil {
				return nil, fmt.Errorf("omq: bind %s: nil handler for %q", name, fn)
			}
		}
		handlers = h
	case nil:
		return nil, fmt.Errorf("omq: bind %s: nil value", name)
	default:
		var err error
		if handlers, err = reflectHandlers(v, cfg.argNames, cfg.skipUnsuitable); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	n.mu.Unlock()

	inst, err := newInstance(ctx, n, name, handlers, cfg)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		go inst.Unbind(context.Background())
		return nil, ErrClosed
	}
	n.instances[inst] = struct{}{}
	return inst, nil
}

func (n *Node) forget(inst *Instance) {
	n.mu.Lock()
	delete(n.instances, inst)
	n.mu.Unlock()
}

// Lookup returns a stub for calling the service bound under name. It does
// no I/O: a name with no instances fails on the first call with
// ErrNoResponders.
func (n *Node) Lookup(name string) *Stub {
	return &Stub{node: n, service: name}
}

// Close unbinds every instance, draining in-flight calls, and makes further
// Bind calls fail. If ctx ends first, running handlers see their contexts
// cancelled. It does not close the NATS connection. Safe to call twice.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	insts := make([]*Instance, 0, len(n.instances))
	for i := range n.instances {
		insts = append(insts, i)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(insts))
	for k, i := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = i.Unbind(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// jetStream returns the JetStream context, or ErrNoJetStream.
func (n *Node) jetStream() (jetstream.JetStream, error) {
	n.jsOnce.Do(func() {
		n.js, n.jsErr = jetstream.New(n.nc)
	})
	return n.js, n.jsErr
}

// errStreamCreateDenied: the stream does not exist and the server refused
// this connection its creation (a DPC service or device: the hub creates
// it).
var errStreamCreateDenied = errors.New("does not exist, and this connection may not create it (on a DPC hub, the hub does)")

// ensureStream makes sure the durable lane's work-queue stream exists. It
// creates a missing stream but never rewrites an existing one, so an
// operator's changes (replicas, limits) stay; it only checks that the stream
// takes this node's durable subjects. A failure is not remembered, so a
// later call retries; success is, until forgetStream. A connection the
// server refuses the creation (a DPC service or device) tries it once: then
// a missing stream is errStreamCreateDenied at once.
func (n *Node) ensureStream(ctx context.Context) (jetstream.JetStream, error) {
	js, err := n.jetStream()
	if err != nil {
		return nil, err
	}
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	if n.streamReady {
		return js, nil
	}
	want := n.subj.durableAll()
	st, err := js.Stream(ctx, n.cfg.stream)
	switch {
	case err == nil:
		info := st.CachedInfo()
		if !slices.Contains(info.Config.Subjects, want) {
			return nil, fmt.Errorf("omq: durable lane: stream %s exists with subjects %v, not %s", n.cfg.stream, info.Config.Subjects, want)
		}
		if info.Config.Retention != jetstream.WorkQueuePolicy {
			return nil, fmt.Errorf("omq: durable lane: stream %s has retention %s, want a work queue", n.cfg.stream, info.Config.Retention)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound) && n.createRefused.Load():
		return nil, fmt.Errorf("omq: durable lane: stream %s %w", n.cfg.stream, errStreamCreateDenied)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        n.cfg.stream,
			Description: "omq durable async calls",
			Subjects:    []string{want},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			if n.createDenied(n.cfg.stream) {
				n.createRefused.Store(true)
				return nil, fmt.Errorf("omq: durable lane: stream %s %w", n.cfg.stream, errStreamCreateDenied)
			}
			return nil, n.streamError(err)
		}
	default:
		return nil, n.streamError(err)
	}
	n.streamReady = true
	return js, nil
}

// forgetStream drops the memory that the stream exists, after a sign that
// it does not any more.
func (n *Node) forgetStream() {
	n.streamMu.Lock()
	n.streamReady = false
	n.streamMu.Unlock()
}

// createDenied says whether the server refused this connection the
// creation of stream: it drops a denied request without an answer (the
// request times out) and reports the violation asynchronously.
func (n *Node) createDenied(stream string) bool {
	last := n.nc.LastError()
	return errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), "STREAM.CREATE."+stream)
}

func (n *Node) streamError(err error) error {
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w: %w", ErrNoJetStream, err)
	}
	return fmt.Errorf("omq: durable lane stream %s: %w", n.cfg.stream, err)
}
