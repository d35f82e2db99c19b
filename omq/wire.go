package omq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Request headers. Times are Unix nanoseconds in decimal, durations
// nanoseconds in decimal.
const (
	// HeaderSent is when the caller sent the request; the instance measures
	// queue wait from it.
	HeaderSent = "Dpc-Sent"
	// HeaderTimeout is how long the caller will still wait, as it sends
	// the request (each attempt and each resend carries the time left
	// then). An instance's deadline for the call is its arrival there
	// plus this, on the instance's own monotonic clock: relative, like
	// gRPC's grpc-timeout, because the caller's and the instance's wall
	// clocks need not agree. Durable calls ignore it (see callDeadline).
	HeaderTimeout = "Dpc-Timeout"
	// HeaderDeadline is when the caller stops waiting, on the caller's
	// wall clock. Deprecated: omq no longer sends it on calls, since an
	// instance whose clock is ahead would drop calls its caller still
	// waits for; instances still read it from requests without
	// Dpc-Timeout (older clients, durable calls).
	HeaderDeadline = "Dpc-Deadline"
	// HeaderInstance names the instance that produced a multi-call or
	// direct-call reply.
	HeaderInstance = "Dpc-Instance"
	// ADR-32 error headers.
	HeaderError     = "Nats-Service-Error"
	HeaderErrorCode = "Nats-Service-Error-Code"
)

// DefaultPrefix is the first token of every call subject.
const DefaultPrefix = "dpc"

// DefaultStream is the JetStream stream of the durable async lane.
const DefaultStream = "DPC_ASYNC"

// ValidName says whether s can name a service, a function or an instance:
// one NATS subject token and an ADR-32 service name. The rule is
// ^[A-Za-z0-9_-]+$, checked without a regexp since it runs on every call.
// Manifests, agents and the provisioner check their names with it, so that
// a name is refused where it is written, not when it is first used.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// semverRE is the SemVer 2.0 pattern ADR-32 validates versions with.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// MetadataPrefix is the $SRV metadata key under which an instance reports
// its subject prefix, so that nodes with different prefixes on one server
// do not count each other's instances.
const MetadataPrefix = "omq.prefix"

func checkName(kind, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("omq: %s name %q: use letters, digits, '-' and '_' only", kind, name)
	}
	return nil
}

// subjects builds the call subjects under one prefix.
type subjects struct{ prefix string }

func (s subjects) unicast(svc, fn string) string { return s.prefix + ".svc." + svc + "." + fn }
func (s subjects) multi(svc, fn string) string   { return s.prefix + ".all." + svc + "." + fn }
func (s subjects) direct(svc, id, fn string) string {
	return s.prefix + ".one." + svc + "." + id + "." + fn
}
func (s subjects) durable(svc, fn string) string { return s.prefix + ".async." + svc + "." + fn }
func (s subjects) durableAll() string            { return s.prefix + ".async.>" }

// encodeArgs turns the caller's args into the request body: a JSON array
// (positional), a JSON object (by name), or empty (no arguments).
func encodeArgs(args any) ([]byte, error) { return encodeArgsInto(nil, args) }

// encodeArgsInto is encodeArgs writing into buf, when not nil, for a
// caller that is done with the body before it reuses buf.
func encodeArgsInto(buf *bytes.Buffer, args any) ([]byte, error) {
	if args == nil {
		return nil, nil
	}
	var b []byte
	switch a := args.(type) {
	case json.RawMessage:
		b = a
	case []byte:
		b = a
	default:
		var err error
		if b, err = marshalInto(buf, args); err != nil {
			return nil, fmt.Errorf("omq: encoding arguments: %w", err)
		}
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	if t[0] != '[' && t[0] != '{' {
		return nil, fmt.Errorf("omq: arguments must encode as a JSON array (by position) or object (by name), not %.20s", t)
	}
	return b, nil
}

// marshalInto is json.Marshal, into buf when it is not nil.
func marshalInto(buf *bytes.Buffer, v any) ([]byte, error) {
	if buf == nil {
		return json.Marshal(v)
	}
	buf.Reset()
	// The same encoding as json.Marshal (HTML escaped), and a newline.
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// buffers hold the bodies a call encodes and is done with once it is
// sent: nats.go copies what it sends.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps a rare large body from being held by the pool.
const maxPooledBuffer = 64 << 10

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b != nil && b.Cap() <= maxPooledBuffer {
		buffers.Put(b)
	}
}

// unmarshal is json.Unmarshal with the decoder's state reused: a pooled
// json.Decoder, fed one whole value that json.Valid has already accepted,
// decodes it as Unmarshal would (the same decoder code) without
// allocating its state anew. Anything else, and large bodies (whose copy
// the decoder would keep), go to json.Unmarshal, which also words the
// errors.
func unmarshal(data []byte, v any) error {
	if len(data) > maxPooledDecode || !json.Valid(data) {
		return json.Unmarshal(data, v)
	}
	d, _ := decoders.Get().(*pooledDecoder)
	if d == nil {
		d = &pooledDecoder{}
		d.dec = json.NewDecoder(&d.r)
	}
	d.r.Reset(data)
	if err := d.dec.Decode(v); err != nil {
		return err // and the decoder, which may keep the error, is dropped
	}
	d.r.Reset(nil)
	decoders.Put(d)
	return nil
}

// maxPooledDecode is the largest body unmarshal decodes with a pooled
// decoder.
const maxPooledDecode = 4 << 10

type pooledDecoder struct {
	r   bytes.Reader
	dec *json.Decoder
}

var decoders sync.Pool // of *pooledDecoder

// Args is shorthand for positional arguments: Args(1, 2) sends [1,2].
func Args(values ...any) []any { return values }

func formatTime(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// parseTime reads a header's first value; headers are read from the map
// directly, since omq's own names are already canonical.
func parseTime(v []string) (time.Time, bool) {
	if len(v) == 0 || v[0] == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// formatDuration is a Dpc-Timeout value.
func formatDuration(d time.Duration) string { return strconv.FormatInt(int64(d), 10) }

// parseDuration reads a Dpc-Timeout value: a positive count of
// nanoseconds; anything else is as if absent.
func parseDuration(v []string) (time.Duration, bool) {
	if len(v) == 0 || v[0] == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n), true
}

// callDeadline is when the caller of a request that reached the instance
// at arrival (a reading of this process's clock, so monotonic) stops
// waiting: arrival plus Dpc-Timeout, or else Dpc-Deadline as it stands.
// The first needs no agreement between clocks, the second does. A
// durable call reads only Dpc-Deadline: it may have waited in the stream
// for any time before it arrived, which a relative timeout cannot count.
func callDeadline(kind Kind, hdr nats.Header, arrival time.Time) (time.Time, bool) {
	if hdr == nil {
		return time.Time{}, false
	}
	if kind != KindDurable {
		if d, ok := parseDuration(hdr[HeaderTimeout]); ok {
			return arrival.Add(d), true
		}
	}
	return parseTime(hdr[HeaderDeadline])
}
