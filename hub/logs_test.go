package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startLogsHub is startHub with the hub's logger publishing its records
// (at debug level, the chattiest), as dpc-hub runs it.
func startLogsHub(t *testing.T, maxLogs int64) *testHub {
	t.Helper()
	return startHubWith(t, func(cfg *Config, lb *proctest.Buffer) {
		if maxLogs > 0 {
			cfg.MaxLogs = maxLogs
		}
		cfg.LogStream = logstream.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}), logstream.Options{})
		cfg.Logger = slog.New(cfg.LogStream)
	})
}

// publishRecord publishes a record as a process of kind, name and
// instance would.
func publishRecord(t *testing.T, nc *nats.Conn, kind, name, instance string, r logstream.Record) {
	t.Helper()
	r.Kind, r.Name, r.Instance = kind, name, instance
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	if r.Level == "" {
		r.Level = "INFO"
	}
	data, err := logstream.Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(logstream.Subject(kind, name, instance), data); err != nil {
		t.Fatal(err)
	}
}

func queryLogs(t *testing.T, n *omq.Node, q logstream.Query) (logstream.Page, error) {
	t.Helper()
	var p logstream.Page
	err := n.Lookup(logstream.Service).Call(ctxT(t), logstream.FnQuery, q, &p, omq.Timeout(15*time.Second))
	return p, err
}

func msgs(p logstream.Page) []string {
	out := make([]string, len(p.Records))
	for i, r := range p.Records {
		out[i] = r.Msg
	}
	return out
}

// The window is a bounded stream: size, age, record size, and a cap per
// publisher so that one chatty instance evicts its own records only.
func TestLogs_WindowLimits(t *testing.T) {
	h := startLogsHub(t, 8<<20)
	st, err := h.js.Stream(ctxT(t), logstream.Stream)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	if c.MaxBytes != 8<<20 || c.MaxAge != 7*24*time.Hour || c.MaxMsgSize != logsMaxMsg || c.Discard != jetstream.DiscardOld ||
		c.MaxMsgsPerSubject != logsPerSubject(8<<20) || c.MaxMsgsPerSubject <= 0 || c.Subjects[0] != "dpc.log.>" {
		t.Fatalf("DPC_LOGS config: %+v", c)
	}
	// One chatty publisher over its cap keeps its own latest records, and
	// a quiet one's record stays.
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	publishRecord(t, nc, "service", "quiet", "q1", logstream.Record{Msg: "quiet one"})
	per := int(c.MaxMsgsPerSubject)
	for i := range per + 50 {
		publishRecord(t, nc, "service", "chatty", "c1", logstream.Record{Msg: fmt.Sprint("chatty ", i)})
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	n := node(t, nc)
	brokertest.Eventually(t, 10*time.Second, func() bool {
		p, err := queryLogs(t, n, logstream.Query{Name: "chatty", Limit: 1})
		return err == nil && len(p.Records) == 1 && p.Records[0].Msg == fmt.Sprint("chatty ", per+49)
	}, "the chatty publisher's last record stored")
	info, err := st.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.NumSubjects; got < 2 {
		t.Fatalf("subjects kept: %d", got)
	}
	p, err := queryLogs(t, n, logstream.Query{Name: "quiet"})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("the quiet publisher's record: %v %v", msgs(p), err)
	}
	p, err = queryLogs(t, n, logstream.Query{Name: "chatty", Since: time.Now().Add(-time.Hour), Limit: logstream.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if p.Records[0].Msg != "chatty 50" {
		t.Fatalf("the chatty publisher's oldest kept record: %q, want chatty 50 (cap %d)", p.Records[0].Msg, per)
	}
}

// Queries filter by kind, name, instance, level and trace, answer in time
// order with a cursor a follower goes on from, and refuse what is out of
// bounds.
func TestLogs_Query(t *testing.T) {
	h := startLogsHub(t, 0)
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	n := node(t, nc)
	t0 := time.Now().UTC().Add(-time.Minute)
	// Published out of time order: the answer is in time order.
	publishRecord(t, nc, "service", "tst", "a", logstream.Record{Time: t0.Add(2 * time.Second), Msg: "tst second"})
	publishRecord(t, nc, "service", "tst", "b", logstream.Record{Time: t0.Add(time.Second), Msg: "tst first", Level: "WARN",
		Attrs: map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}})
	publishRecord(t, nc, "service", "other", "c", logstream.Record{Time: t0.Add(3 * time.Second), Msg: "other", Level: "ERROR"})
	publishRecord(t, nc, "agent", "agent-nas", "d", logstream.Record{Time: t0.Add(4 * time.Second), Msg: "agent", Level: "DEBUG"})
	_ = nc.Publish("dpc.log.service.tst.a", []byte("not a record"))
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		p, err := queryLogs(t, n, logstream.Query{Kind: "agent"})
		return err == nil && len(p.Records) == 1
	}, "records stored")

	for _, c := range []struct {
		name string
		q    logstream.Query
		want []string
	}{
		{"service", logstream.Query{Kind: "service", Name: "tst"}, []string{"tst first", "tst second"}},
		{"instance", logstream.Query{Kind: "service", Instance: "b"}, []string{"tst first"}},
		{"level", logstream.Query{Kind: "service", Level: "warn"}, []string{"tst first", "other"}},
		{"trace", logstream.Query{Trace: "4bf92f3577b34da6a3ce929d0e0e4736"}, []string{"tst first"}},
		// The latest stored (tst second was stored first), in time order.
		{"latest", logstream.Query{Kind: "service", Limit: 2}, []string{"tst first", "other"}},
		{"since", logstream.Query{Kind: "service", Since: time.Now().Add(-time.Hour), Limit: 2}, []string{"tst first", "tst second"}},
	} {
		p, err := queryLogs(t, n, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := msgs(p); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}

	// Paging: the first record, then the rest from its cursor.
	p, err := queryLogs(t, n, logstream.Query{Kind: "service", Since: time.Now().Add(-time.Hour), Limit: 1})
	if err != nil || !p.More || len(p.Records) != 1 {
		t.Fatalf("first page: %v more=%v %v", msgs(p), p.More, err)
	}
	p2, err := queryLogs(t, n, logstream.Query{Kind: "service", After: p.Cursor, Limit: 10})
	if err != nil || p2.More || strings.Join(msgs(p2), "|") != "tst first|other" {
		t.Fatalf("next page from %d: %v more=%v %v", p.Cursor, msgs(p2), p2.More, err)
	}

	// Follow: a query from the end waits for the next matching record.
	end, err := queryLogs(t, n, logstream.Query{Kind: "service", Name: "tst"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan logstream.Page, 1)
	go func() {
		p, err := queryLogs(t, n, logstream.Query{Kind: "service", Name: "tst", After: end.Cursor, WaitMS: 10000})
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	// Records of others do not end the wait; the next of tst does.
	publishRecord(t, nc, "service", "other", "c", logstream.Record{Msg: "other again"})
	publishRecord(t, nc, "service", "tst", "a", logstream.Record{Msg: "tst later"})
	select {
	case p := <-got:
		if strings.Join(msgs(p), "|") != "tst later" || p.Cursor <= end.Cursor {
			t.Fatalf("follow: %v cursor %d (from %d)", msgs(p), p.Cursor, end.Cursor)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the follower got no answer")
	}

	// Bounds and bad input, with what was wrong.
	for _, q := range []logstream.Query{
		{Limit: logstream.MaxLimit + 1},
		{Limit: -1},
		{WaitMS: logstream.MaxWait.Milliseconds() + 1},
		{Kind: "printer"},
		{Name: "a.b"},
		{Level: "loud"},
	} {
		_, err := queryLogs(t, n, q)
		var oe *omq.Error
		if !errors.As(err, &oe) || oe.Code != omq.CodeBadArguments {
			t.Errorf("%+v: %v, want a 400", q, err)
		}
	}
}

// The hub's own records are in the window, and what is logged while
// serving the logs is not (a follower would read it, which would log
// again): a failing query is logged on stderr only.
func TestLogs_HubRecordsNoLoop(t *testing.T) {
	h := startLogsHub(t, 0)
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	n := node(t, nc)
	brokertest.Eventually(t, 10*time.Second, func() bool {
		p, err := queryLogs(t, n, logstream.Query{Kind: "hub"})
		return err == nil && len(p.Records) > 0
	}, "the hub's own records in the window")

	live, err := nc.SubscribeSync("dpc.log.hub.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Without its stream the logs service fails (a 500), which omq logs
	// as a warning.
	if err := h.js.DeleteStream(ctxT(t), logstream.Stream); err != nil {
		t.Fatal(err)
	}
	if _, err := queryLogs(t, n, logstream.Query{}); err == nil {
		t.Fatal("a query without the window succeeded")
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(h.log.String(), "handler failed") },
		"the failure logged on stderr")
	h.Hub.log.Info("marker")
	for {
		m, err := live.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("the marker was not published: %v", err)
		}
		var r logstream.Record
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Msg == "marker" {
			break
		}
		if r.Attrs["service"] == logstream.Service || strings.Contains(r.Msg, "handler failed") {
			t.Fatalf("a record of serving the logs was published: %s", m.Data)
		}
	}
}
