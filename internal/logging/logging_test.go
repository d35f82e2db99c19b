package logging

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/logstream"
)

// A command's logger publishes once PublishLogs has attached its hub
// connection, at the command's level, with this machine as the host; the
// stop function flushes what waits. A source that makes no subject leaves
// the records on stderr.
func TestLogFlags_PublishLogs(t *testing.T) {
	srv := brokertest.Start(t)
	subNC := brokertest.Connect(t, srv)
	sub, err := subNC.SubscribeSync("dpc.log.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := subNC.Flush(); err != nil {
		t.Fatal(err)
	}
	f := &LogFlags{LogLevel: "info", LogFormat: "json"}
	log := f.Logger()
	if f.Logger() != log {
		t.Fatal("a second logger: SetLevel would miss it")
	}
	if stop := f.PublishLogs(brokertest.Connect(t, srv), logstream.Source{Kind: "service", Name: "a.b", Instance: "i"}); stop == nil {
		t.Fatal("no stop function")
	}
	log.Info("not published: bad source")

	g := &LogFlags{LogLevel: "info", LogFormat: "text"}
	stop := g.PublishLogs(brokertest.Connect(t, srv), logstream.Source{Kind: "service", Name: "tst", Instance: "i1"})
	g.Logger().Debug("below the level")
	g.Logger().Info("published", "n", 1)
	stop()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r logstream.Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatal(err)
	}
	if m.Subject != "dpc.log.service.tst.i1" || r.Msg != "published" || r.Host == "" {
		t.Fatalf("%s: %+v", m.Subject, r)
	}
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("also published: %s", m.Data)
	}
}
