package omq_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// gather sends a request on subject and collects replies until quiet.
func gather(t *testing.T, nc *nats.Conn, subject string, want int) [][]byte {
	t.Helper()
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, 32)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	timeout := time.After(10 * time.Second)
	for len(out) < want {
		select {
		case m := <-ch:
			out = append(out, m.Data)
		case <-timeout:
			t.Fatalf("%s: %d replies, want %d", subject, len(out), want)
		}
	}
	// Nothing more should come.
	select {
	case m := <-ch:
		t.Fatalf("%s: unexpected extra reply %s", subject, m.Data)
	case <-time.After(100 * time.Millisecond):
	}
	return out
}

// Every instance answers the ADR-32 subjects in all three forms with the
// shapes nats.go's micro package (and so `nats micro`) reads.
func TestInstance_AnswersServiceProtocol(t *testing.T) {
	e := newEnv(t)
	var insts []*omq.Instance
	for range 2 {
		n, _ := e.node()
		insts = append(insts, bind(t, n, "calc", &Calc{}, omq.Version("1.2.3"), omq.Description("arithmetic")))
	}
	other, _ := e.node()
	bind(t, other, "other", &Calc{})
	cli, nc := e.node()

	stub := cli.Lookup("calc")
	ctx := ctxT(t, 10*time.Second)
	for range 3 {
		if err := stub.At(insts[0].ID()).Call(ctx, "add", omq.Args(1, 2), nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = stub.At(insts[0].ID()).Call(ctx, "fail", nil, nil)
	_ = stub.At(insts[1].ID()).Call(ctx, "add", omq.Args("x", 1), nil)

	for _, tc := range []struct {
		subject string
		want    int
	}{
		{"$SRV.PING", 3},
		{"$SRV.PING.calc", 2},
		{"$SRV.PING.calc." + insts[1].ID(), 1},
	} {
		for _, b := range gather(t, nc, tc.subject, tc.want) {
			var p micro.Ping
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != micro.PingResponseType || p.ID == "" {
				t.Fatalf("%s: bad ping %s", tc.subject, b)
			}
		}
	}

	infos := gather(t, nc, "$SRV.INFO.calc."+insts[0].ID(), 1)
	var info micro.Info
	if err := json.Unmarshal(infos[0], &info); err != nil {
		t.Fatal(err)
	}
	if info.Type != micro.InfoResponseType || info.Name != "calc" || info.Version != "1.2.3" || info.Description != "arithmetic" {
		t.Fatalf("info: %s", infos[0])
	}
	var addEP *micro.EndpointInfo
	for i := range info.Endpoints {
		if info.Endpoints[i].Name == "add" {
			addEP = &info.Endpoints[i]
		}
	}
	if addEP == nil || addEP.Subject != "dpc.svc.calc.add" || addEP.QueueGroup != "calc" {
		t.Fatalf("info endpoints: %+v", info.Endpoints)
	}

	counts := map[string][2]int{} // instance → requests, errors
	for _, b := range gather(t, nc, "$SRV.STATS.calc", 2) {
		var st micro.Stats
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != micro.StatsResponseType || st.Started.IsZero() {
			t.Fatalf("stats: %s", b)
		}
		var req, errs int
		for _, ep := range st.Endpoints {
			req += ep.NumRequests
			errs += ep.NumErrors
			if ep.Name == "add" && ep.NumRequests > 0 && ep.AverageProcessingTime <= 0 {
				t.Fatalf("add: %d requests but no processing time", ep.NumRequests)
			}
			var fd omq.FunctionData
			if err := json.Unmarshal(ep.Data, &fd); err != nil {
				t.Fatalf("endpoint data: %v", err)
			}
			if int(fd.ServiceTime.Count) != ep.NumRequests {
				t.Fatalf("%s: data counts %d, stats %d", ep.Name, fd.ServiceTime.Count, ep.NumRequests)
			}
		}
		counts[st.ID] = [2]int{req, errs}
	}
	if got := counts[insts[0].ID()]; got != [2]int{4, 1} {
		t.Fatalf("instance 0: %d requests %d errors, want 4 and 1", got[0], got[1])
	}
	if got := counts[insts[1].ID()]; got != [2]int{1, 1} {
		t.Fatalf("instance 1: %d requests %d errors, want 1 and 1", got[0], got[1])
	}
}
