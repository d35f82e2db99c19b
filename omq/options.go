package omq

import (
	"context"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultTimeout bounds a call whose context has no deadline.
	DefaultTimeout = 5 * time.Second
	// DefaultConcurrency is how many calls one instance handles at once.
	// NATS hands a subscription its messages one at a time; an instance
	// runs up to this many handlers in parallel, so a bound Go value must
	// be safe for concurrent use (as with net/rpc).
	DefaultConcurrency = 16
	// DefaultRetries is how many times a call marked Idempotent is repeated
	// after a timeout or a lost instance.
	DefaultRetries = 2
	// DefaultAckWait is how long a durable call's handler may run before
	// the lane offers the message to another instance (after a pause; see
	// AckWait).
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how many times the durable lane offers a call
	// that keeps failing (5xx), finds no function (404) or never gets an
	// answer (its instance crashed or hung) before giving up on it.
	DefaultMaxDeliver = 10
	// DefaultInactiveThreshold is how long the durable lane's consumer of
	// a name may go without any instance pulling from it before the server
	// deletes it (InactiveThreshold): the consumers of long-gone services
	// do not pile up. The calls stay in the stream.
	DefaultInactiveThreshold = 72 * time.Hour
	// DefaultMaxBody is the largest request or reply body a node sends or
	// accepts (WithMaxBody).
	DefaultMaxBody = 64 << 20
	// DefaultInstanceWait is how long a call answered "no responders"
	// keeps being sent again, within its timeout, before it fails with
	// ErrNoResponders: long enough for a service's instances to reconnect
	// after their hub went (a cluster's failover, a hub restart), short
	// enough that a person calling a service that is not running hears so
	// soon.
	DefaultInstanceWait = 2 * time.Second
	// WakeEvery is how often, at most, one node publishes a wake for one
	// service while its calls find no instance (see docs/PROTOCOL.md,
	// "Waking a service").
	WakeEvery = 250 * time.Millisecond
)

// Option configures a Node.
type Option func(*nodeConfig)

type nodeConfig struct {
	logger    *slog.Logger
	metrics   *Metrics
	prefix    string
	stream    string
	timeout   time.Duration
	bodyLimit int
	maxBody   int
	// instanceWait: see WithInstanceWait.
	instanceWait time.Duration
	// noBusyResend: see WithResendWhenBusy.
	noBusyResend bool
	// bodyDeleter, if set, deletes a body object this node has read, in
	// place of the object store's own delete.
	bodyDeleter func(ctx context.Context, name string) error
}

// WithInstanceWait sets how long the node's calls wait for an instance
// of their service to be bound when the server answers that there is none
// (default DefaultInstanceWait; 0 fails at once). WaitForInstance sets it
// for one call. While a unicast call waits, the node asks for an instance
// on <prefix>.wake.<service> (at most once per WakeEvery per service), so
// a provisioner can start one for a service scaled to zero.
func WithInstanceWait(d time.Duration) Option { return func(c *nodeConfig) { c.instanceWait = d } }

// WithLogger sends the node's logs to l (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *nodeConfig) { c.logger = l } }

// WithMetrics records calls in m, a collector registered on a registry of
// the caller's choosing (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(c *nodeConfig) { c.metrics = m } }

// WithPrefix changes the first token of call subjects (default "dpc"), to
// run separate systems on one NATS server. The durable lane's stream is then
// <PREFIX>_ASYNC unless WithStream names it, and Instances and MultiCall see
// only instances bound under the same prefix.
func WithPrefix(p string) Option { return func(c *nodeConfig) { c.prefix = p } }

// WithStream names the JetStream stream of the durable lane (default
// DPC_ASYNC, or <PREFIX>_ASYNC with WithPrefix).
func WithStream(name string) Option { return func(c *nodeConfig) { c.stream = name } }

// WithTimeout sets the timeout of calls whose context has no deadline
// (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(c *nodeConfig) { c.timeout = d } }

// WithBodyLimit sets the largest request or reply body sent inline; larger
// ones go through a JetStream object store (default: the server's max
// payload less 16 KiB). Mostly for tests.
func WithBodyLimit(n int) Option { return func(c *nodeConfig) { c.bodyLimit = n } }

// WithMaxBody sets the largest request or reply body, in bytes, the node
// sends or accepts (default DefaultMaxBody). A larger body is refused with
// an error matching ErrTooLarge that names both sizes: a caller's or an
// instance's own before anything is stored; a received one from the body
// object's size, before its content is read — an instance answers such a
// request with a 413, and a caller fails the call.
func WithMaxBody(n int) Option { return func(c *nodeConfig) { c.maxBody = n } }

// WithBodyDeleter replaces how the node deletes a body object it was the
// only reader of (section 10 of docs/PROTOCOL.md). A server may let a
// client read an object by its name but not delete from the store (a
// delete purges chunks, which cannot be limited to one object's); f then
// asks someone who may, e.g. the hub, to delete that one object.
func WithBodyDeleter(f func(ctx context.Context, name string) error) Option {
	return func(c *nodeConfig) { c.bodyDeleter = f }
}

// WithResendWhenBusy sets whether the node's unicast calls offer to be
// sent again when the instance they reach has no free handler slot (on by
// default; see "Dispatch to the idle" in busy.go). Off, its calls wait at
// whichever instance the server picked, as a plain NATS request does; a
// benchmark compares the two.
func WithResendWhenBusy(on bool) Option { return func(c *nodeConfig) { c.noBusyResend = !on } }

// BindOption configures one bound instance.
type BindOption func(*bindConfig)

type bindConfig struct {
	concurrency    int
	queue          int
	stallAfter     time.Duration
	id             string
	version        string
	description    string
	metadata       map[string]string
	argNames       map[string][]string
	skipUnsuitable bool
	noDurable      bool
	ackWait        time.Duration
	maxDeliver     int
	inactive       time.Duration
}

// Concurrency sets how many calls the instance handles at once (default
// DefaultConcurrency).
func Concurrency(n int) BindOption { return func(c *bindConfig) { c.concurrency = n } }

// Queue sets how many calls, beyond those running, the instance keeps
// waiting for a slot when their callers would send them elsewhere if
// refused (default: as many as Concurrency; see busy.go). 0 refuses every
// such call it cannot start at once.
func Queue(n int) BindOption { return func(c *bindConfig) { c.queue = n } }

// StallAfter sets how long every handler slot may stay taken, none
// freeing, before the instance counts as stalled: it then refuses every
// call it may and reports "stalled" in $SRV.STATS (default
// DefaultStallAfter, and at least four of its slowest function's service
// times).
func StallAfter(d time.Duration) BindOption { return func(c *bindConfig) { c.stallAfter = d } }

// InstanceID sets the instance's id (default: a unique random one). Ids
// must be unique among the instances of one name.
func InstanceID(id string) BindOption { return func(c *bindConfig) { c.id = id } }

// Version is reported in $SRV.INFO: a SemVer string (default 0.0.0), as
// ADR-32 requires and `nats micro` checks.
func Version(v string) BindOption { return func(c *bindConfig) { c.version = v } }

// Description is reported in $SRV.INFO.
func Description(d string) BindOption { return func(c *bindConfig) { c.description = d } }

// Metadata is reported in $SRV.INFO, PING and STATS.
func Metadata(m map[string]string) BindOption {
	return func(c *bindConfig) { c.metadata = m }
}

// ArgNames names the parameters of a bound method, so that it can be called
// with arguments by name as well as by position.
func ArgNames(function string, names ...string) BindOption {
	return func(c *bindConfig) {
		if c.argNames == nil {
			c.argNames = map[string][]string{}
		}
		c.argNames[function] = names
	}
}

// SkipUnsuitable leaves out exported methods that cannot be functions,
// instead of failing the bind.
func SkipUnsuitable() BindOption { return func(c *bindConfig) { c.skipUnsuitable = true } }

// NoDurable keeps the instance off the durable async lane.
func NoDurable() BindOption { return func(c *bindConfig) { c.noDurable = true } }

// AckWait sets how long a durable handler of this name may run before the
// lane offers its message to another instance (default DefaultAckWait).
// It shapes the name's consumer only if this instance creates it (the
// first to find none): the consumer's BackOff gives delivery n AckWait plus
// a pause of 100ms × 2^(n−1) (at most 30s) before the next. An instance
// that finds the consumer uses its settings as they are and logs at Warn
// what differs.
func AckWait(d time.Duration) BindOption { return func(c *bindConfig) { c.ackWait = d } }

// MaxDeliver sets how many deliveries a durable call gets before the lane
// gives up on it: the consumer's MaxDeliver on the server, so a call that
// crashes every instance it reaches ends too (default DefaultMaxDeliver).
// Like AckWait, it shapes the consumer only if this instance creates it.
func MaxDeliver(n int) BindOption { return func(c *bindConfig) { c.maxDeliver = n } }

// InactiveThreshold sets how long the name's durable consumer may go
// without a pull before the server deletes it (default
// DefaultInactiveThreshold; 0: never). A bound instance always has a pull
// waiting on the server, so only a name nobody has served for that long
// loses its consumer; its calls stay in the stream, and the next instance
// to bind creates the consumer again and takes them. Like AckWait, it
// shapes the consumer only if this instance creates it.
func InactiveThreshold(d time.Duration) BindOption { return func(c *bindConfig) { c.inactive = d } }

// CallOption configures one call.
type CallOption func(*callConfig)

type callConfig struct {
	timeout time.Duration
	// instanceWait is WaitForInstance's d; set says it was given.
	instanceWait    time.Duration
	instanceWaitSet bool
	idempotent      bool
	retries         int
	expect          int
	durable         bool
	msgID           string
}

// Timeout bounds the call when the context has no earlier deadline.
func Timeout(d time.Duration) CallOption { return func(c *callConfig) { c.timeout = d } }

// WaitForInstance makes the call wait up to d (within its timeout) for an
// instance of its service when the server answers that none is bound,
// sending it again as one comes; 0 fails at once with ErrNoResponders.
// Any call may be sent again then, idempotent or not: "no responders"
// means no instance received it.
func WaitForInstance(d time.Duration) CallOption {
	return func(c *callConfig) { c.instanceWait, c.instanceWaitSet = d, true }
}

// Idempotent marks the call safe to repeat: after a timeout of one attempt
// or a lost instance it is sent again (DefaultRetries times unless Retries
// says otherwise), each attempt getting an equal share of the timeout.
func Idempotent() CallOption { return func(c *callConfig) { c.idempotent = true } }

// Retries sets how many times an Idempotent call is repeated.
func Retries(n int) CallOption { return func(c *callConfig) { c.retries = n } }

// Expect makes MultiCall return as soon as n replies are in. Without it,
// MultiCall first counts the live instances with $SRV.PING.
func Expect(n int) CallOption { return func(c *callConfig) { c.expect = n } }

// Durable makes Send go through the JetStream lane: it returns once the
// message is stored, and exactly one instance handles it at least once, even
// if none is bound yet or the server restarts.
func Durable() CallOption { return func(c *callConfig) { c.durable = true } }

// MsgID sets a durable message's id, so that JetStream drops a repeat
// sent within its duplicate window.
func MsgID(id string) CallOption { return func(c *callConfig) { c.msgID = id } }
