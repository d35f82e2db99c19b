package logstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testSource = Source{Kind: KindService, Name: "tst", Instance: "i1", Host: "box"}

// setup is a handler over a text stderr at info level, and a subscriber
// to every record on a real server.
func setup(t *testing.T, opts Options) (*Handler, *proctest.Buffer, *nats.Conn, *nats.Subscription) {
	t.Helper()
	srv := brokertest.Start(t)
	stderr := &proctest.Buffer{}
	h := New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), opts)
	nc := brokertest.Connect(t, srv)
	subNC := brokertest.Connect(t, srv)
	sub, err := subNC.SubscribeSync(SubjectPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := subNC.Flush(); err != nil { // subscribed before anything is published
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h, stderr, nc, sub
}

func next(t *testing.T, sub *nats.Subscription) (Record, string) {
	t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no record: %v", err)
	}
	var r Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("%s: %v", m.Data, err)
	}
	return r, m.Subject
}

// Records go to stderr always, and once attached to NATS too, as one JSON
// object with the source, the level, the message and the attributes
// (groups flattened); below the process's level, nowhere.
func TestHandler_Publishes(t *testing.T) {
	h, stderr, nc, sub := setup(t, Options{})
	log := slog.New(h)
	log.Info("before the hub")
	if err := h.Attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	log.Debug("below the level")
	log.With("component", "x").WithGroup("call").Warn("slow call", "ms", 1500, slog.Group("who", "fn", "add"), "err", errors.New("boom"))

	r, subject := next(t, sub)
	if subject != "dpc.log.service.tst.i1" {
		t.Fatalf("subject %q", subject)
	}
	if r.Msg != "slow call" || r.Level != "WARN" || r.Kind != "service" || r.Name != "tst" || r.Instance != "i1" || r.Host != "box" || r.Time.IsZero() {
		t.Fatalf("record %+v", r)
	}
	want := map[string]any{"component": "x", "call.ms": float64(1500), "call.who.fn": "add", "call.err": "boom"}
	for k, v := range want {
		if r.Attrs[k] != v {
			t.Errorf("attribute %s = %v, want %v (all: %v)", k, r.Attrs[k], v, r.Attrs)
		}
	}
	for _, line := range []string{"before the hub", "slow call"} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "below the level") {
		t.Errorf("a debug record at info level reached stderr")
	}
	if err := h.Attach(nc, testSource); err == nil {
		t.Error("a second Attach succeeded")
	}
}

// A record logged with Suppress's context, or through LocalOnly's logger,
// goes to stderr only: the way to log while serving the logs.
func TestHandler_Suppressed(t *testing.T) {
	h, stderr, nc, sub := setup(t, Options{})
	if err := h.Attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	log.InfoContext(Suppress(context.Background()), "suppressed")
	LocalOnly(log.With("a", 1)).Info("local only")
	log.Info("published")
	if r, _ := next(t, sub); r.Msg != "published" {
		t.Fatalf("first record published: %q", r.Msg)
	}
	if !strings.Contains(stderr.String(), "suppressed") || !strings.Contains(stderr.String(), "local only") {
		t.Errorf("stderr lacks the local records:\n%s", stderr.String())
	}
}

// When the publisher is behind, records are dropped, never waited for:
// the counter says how many, and the next record published carries the
// count.
func TestHandler_DropsCounted(t *testing.T) {
	h, _, nc, sub := setup(t, Options{Buffer: 4})
	// Attached, but the publisher not started yet: it is as far behind as
	// can be.
	if err := h.attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := h.Register(reg); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	for range 10 {
		log.Info("burst")
	}
	if h.Dropped() != 6 {
		t.Fatalf("dropped %d, want 6", h.Dropped())
	}
	if got := testutil.ToFloat64(h.core.dropped); got != 6 {
		t.Fatalf("dpc_log_records_dropped_total %v, want 6", got)
	}
	if n, err := testutil.GatherAndCount(reg, "dpc_log_records_dropped_total"); err != nil || n != 1 {
		t.Fatalf("registered: %d %v", n, err)
	}
	go h.core.run()
	var total uint64
	for range 4 {
		r, _ := next(t, sub)
		total += r.Dropped
	}
	if total != 6 {
		t.Fatalf("the published records carry %d dropped, want 6", total)
	}
}

// A count of drops no later record carries is published on its own.
func TestHandler_DropSummary(t *testing.T) {
	h, _, nc, sub := setup(t, Options{Buffer: 1, Summary: 50 * time.Millisecond})
	if err := h.attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	log.Info("kept")
	log.Info("dropped")
	go h.core.run()
	r, _ := next(t, sub)
	if r.Msg != "kept" {
		t.Fatalf("first: %+v", r)
	}
	if r.Dropped == 1 {
		return // carried by the record itself
	}
	r, _ = next(t, sub)
	if r.Dropped != 1 || r.Level != "WARN" {
		t.Fatalf("summary: %+v", r)
	}
}

// A record larger than MaxRecord is cut to fit and says so; so is a long
// value.
func TestHandler_Truncates(t *testing.T) {
	h, _, nc, sub := setup(t, Options{})
	if err := h.Attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	big := strings.Repeat("x", 5000)
	args := []any{"long", big}
	for i := range 20 {
		args = append(args, string(rune('a'+i)), strings.Repeat("y", 1000))
	}
	log.Info(strings.Repeat("m", 3000), args...)
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Data) > MaxRecord {
		t.Fatalf("record of %d bytes, over %d", len(m.Data), MaxRecord)
	}
	var r Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Fatal("not marked truncated")
	}
	if v, ok := r.Attrs["long"].(string); ok && (len(v) > MaxValue || !strings.HasSuffix(v, TruncatedMark)) {
		t.Fatalf("long value kept as %d bytes", len(v))
	}
	if !strings.HasPrefix(r.Msg, "mmm") {
		t.Fatalf("message: %q", r.Msg)
	}
}

// Close publishes what waits and flushes, within its bound; afterwards
// records go to stderr only.
func TestHandler_CloseFlushes(t *testing.T) {
	h, stderr, nc, sub := setup(t, Options{})
	if err := h.Attach(nc, testSource); err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	for range 100 {
		log.Info("before close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	log.Info("after close")
	for range 100 {
		if r, _ := next(t, sub); r.Msg != "before close" {
			t.Fatalf("got %q", r.Msg)
		}
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("published after Close: %s", m.Data)
	}
	if !strings.Contains(stderr.String(), "after close") {
		t.Error("stderr lacks the record after Close")
	}
	if err := h.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A source that makes no valid subject is refused, saying which part.
func TestSource_Validate(t *testing.T) {
	for _, s := range []Source{
		{Kind: "printer", Name: "a", Instance: "b"},
		{Kind: KindService, Name: "a.b", Instance: "c"},
		{Kind: KindService, Name: "a", Instance: ""},
		{Kind: KindService, Name: strings.Repeat("a", 65), Instance: "c"},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if got := Token("dpc-hub-nas.local-6222"); got != "dpc-hub-nas_local-6222" {
		t.Errorf("Token: %q", got)
	}
}
