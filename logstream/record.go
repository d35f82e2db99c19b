package logstream

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dpc-project/dpc/omq"
)

// SubjectPrefix starts every log record's subject:
// dpc.log.<kind>.<name>.<instance>.
const SubjectPrefix = "dpc.log"

// The kinds of process that publish records: the second token of the
// subject.
const (
	KindHub         = "hub"
	KindService     = "service"
	KindAgent       = "agent"
	KindProvisioner = "provisioner"
)

// Kinds are the kinds a subject may name.
var Kinds = []string{KindHub, KindService, KindAgent, KindProvisioner}

// Bounds of one record: what one log call can put on the wire.
const (
	// MaxRecord is the largest encoded record; a larger one loses attributes
	// (from the last), then the end of its message, and says so
	// (Truncated).
	MaxRecord = 8 << 10
	// MaxValue is the longest string value (or message) kept whole.
	MaxValue = 2 << 10
	// MaxAttrs is the most attributes a record keeps.
	MaxAttrs = 64
)

// TruncatedMark ends a string value that was cut.
const TruncatedMark = "…[truncated]"

// Record is one log record as published on NATS and kept by the hub (one
// JSON object per message).
type Record struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	// Kind, Name and Instance say who logged it (its subject's tokens);
	// Host is the machine it runs on.
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Instance string `json:"instance"`
	Host     string `json:"host,omitempty"`
	// Attrs are the record's attributes, groups flattened into dotted
	// keys (http.status), each value a JSON string, number or bool.
	Attrs map[string]any `json:"attrs,omitempty"`
	// Dropped is how many records of this process were dropped (the
	// publisher was behind) since the last one published.
	Dropped uint64 `json:"dropped,omitempty"`
	// Truncated: values, attributes or the message were cut to fit
	// MaxRecord.
	Truncated bool `json:"truncated,omitempty"`

	// Seq is the record's sequence in the hub's window (set by the hub's
	// logs function; not published).
	Seq uint64 `json:"seq,omitempty"`
}

// Subject is where a record of kind, name and instance is published.
func Subject(kind, name, instance string) string {
	return SubjectPrefix + "." + kind + "." + name + "." + instance
}

// ParseLevel reads a level as slog writes it (DEBUG, INFO, WARN, ERROR,
// INFO+2, …), in any case.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// ValidToken says whether s can be one token of a record's subject:
// letters, digits, '-' and '_' (the rule of service names), at most 64
// bytes.
func ValidToken(s string) bool {
	return len(s) <= 64 && omq.ValidName(s)
}

// Token makes s a valid subject token: other characters become '_', and it
// is cut to 64 bytes ("_" if nothing is left). For names DPC picks itself
// (a host name with dots in a hub's name); names a role's permissions are
// made from are checked with ValidToken instead.
func Token(s string) string {
	b := []byte(s)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// attrsOf flattens a's attributes into out under prefix, bounding count
// and string sizes; it says whether anything was cut.
func attrsOf(out map[string]any, prefix string, a slog.Attr) (cut bool) {
	v := a.Value.Resolve()
	key := a.Key
	if prefix != "" && key != "" {
		key = prefix + "." + key
	} else if key == "" {
		key = prefix
	}
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			cut = attrsOf(out, key, g) || cut
		}
		return cut
	}
	if key == "" {
		return cut // slog drops empty attributes
	}
	if len(out) >= MaxAttrs {
		return true
	}
	val, c := valueOf(v)
	out[key] = val
	return cut || c
}

// valueOf is v as a JSON value: numbers and bools as they are, durations
// and times as text, anything else as its text, bounded.
func valueOf(v slog.Value) (any, bool) {
	switch v.Kind() {
	case slog.KindBool:
		return v.Bool(), false
	case slog.KindInt64:
		return v.Int64(), false
	case slog.KindUint64:
		return v.Uint64(), false
	case slog.KindFloat64:
		return v.Float64(), false
	case slog.KindDuration:
		return v.Duration().String(), false
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano), false
	case slog.KindString:
		return bound(v.String(), MaxValue)
	}
	if err, ok := v.Any().(error); ok {
		return bound(err.Error(), MaxValue)
	}
	return bound(v.String(), MaxValue)
}

// bound cuts s to at most n bytes on a rune boundary, with the mark.
func bound(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	cut := n - len(TruncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMark, true
}

// Encode is r as published: JSON of at most MaxRecord bytes. Attributes go
// from the last (in key order) and then the message shrinks until it fits.
func Encode(r *Record) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil || len(data) <= MaxRecord {
		return data, err
	}
	r.Truncated = true
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for len(data) > MaxRecord && len(keys) > 0 {
		delete(r.Attrs, keys[len(keys)-1])
		keys = keys[:len(keys)-1]
		if data, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	for len(data) > MaxRecord && len(r.Msg) > len(TruncatedMark) {
		r.Msg, _ = bound(r.Msg, max(len(TruncatedMark), len(r.Msg)-(len(data)-MaxRecord)-len(TruncatedMark)))
		if data, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// Line is r as one line of text for a person: time, source, level,
// message, then the attributes as key=value in key order.
func (r Record) Line() string {
	var b strings.Builder
	b.WriteString(r.Time.Local().Format("2006-01-02 15:04:05.000"))
	b.WriteString(" ")
	b.WriteString(r.Kind + "/" + r.Name + "/" + r.Instance)
	b.WriteString(" ")
	b.WriteString(r.Level)
	b.WriteString(" ")
	b.WriteString(r.Msg)
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, text(r.Attrs[k]))
	}
	if r.Dropped > 0 {
		fmt.Fprintf(&b, " (%d records dropped before this one)", r.Dropped)
	}
	return b.String()
}

// text quotes a string value that a reader could not tell apart otherwise.
func text(v any) string {
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
