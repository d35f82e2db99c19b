package hub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// natsSeries gathers the hub's registry: the value of every dpc_nats_
// series, by name{label="value",...} (labels in name order).
func natsSeries(t *testing.T, h *Hub) map[string]float64 {
	t.Helper()
	mfs, err := h.registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "dpc_nats_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[seriesKey(mf.GetName(), labels...)] = v
		}
	}
	return out
}

// seriesKey names a series: labels are name, value pairs in name order.
func seriesKey(name string, labels ...string) string {
	var b strings.Builder
	b.WriteString(name)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteString("{")
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", labels[i], labels[i+1])
	}
	if len(labels) > 0 {
		b.WriteString("}")
	}
	return b.String()
}

// value is a series' value, or -1 if it is not there.
func value(series map[string]float64, name string, labels ...string) float64 {
	if v, ok := series[seriesKey(name, labels...)]; ok {
		return v
	}
	return -1
}

// The embedded server's figures are on the hub's /metrics: connections,
// traffic, JetStream's usage, the hub's streams and the durable lane's
// consumers, named as promlint wants.
func TestHub_NATSMetrics(t *testing.T) {
	h := startHub(t)
	// A bound and unbound instance leaves the lane's consumer for worker;
	// three durable calls then wait in it, undelivered.
	svcNC, err := connect(t, h.pair(t, "worker-1", "service:worker"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := node(t, svcNC).Bind(ctxT(t), "worker", (&worker{}).handlers())
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Unbind(context.Background()); err != nil {
		t.Fatal(err)
	}
	ownerNC, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	owner := node(t, ownerNC)
	for v := 1; v <= 3; v++ {
		if err := owner.Lookup("worker").Send(ctxT(t), "record", omq.Args(v), omq.Durable()); err != nil {
			t.Fatal(err)
		}
	}

	var mfs map[string]float64
	brokertest.Eventually(t, 10*time.Second, func() bool {
		mfs = natsSeries(t, h.Hub)
		return value(mfs, "dpc_nats_jetstream_stream_messages", "stream", omq.DefaultStream) == 3 &&
			value(mfs, "dpc_nats_jetstream_consumer_pending_messages", "consumer", "omq_worker", "stream", omq.DefaultStream) == 3
	}, "three durable calls in DPC_ASYNC, pending for omq_worker")

	for name, min := range map[string]float64{
		"dpc_nats_connections":                      2, // the hub's own, the owner's, the service's
		"dpc_nats_connections_accepted_total":       3,
		"dpc_nats_subscriptions":                    1,
		"dpc_nats_received_messages_total":          1,
		"dpc_nats_sent_messages_total":              1,
		"dpc_nats_received_bytes_total":             1,
		"dpc_nats_sent_bytes_total":                 1,
		"dpc_nats_slow_consumers_total":             0,
		"dpc_nats_routes":                           0,
		"dpc_nats_jetstream_storage_used_bytes":     1,
		"dpc_nats_jetstream_memory_used_bytes":      0,
		"dpc_nats_jetstream_storage_reserved_bytes": 1,
		"dpc_nats_jetstream_memory_reserved_bytes":  0,
		"dpc_nats_jetstream_streams":                6,
		"dpc_nats_jetstream_consumers":              1,
	} {
		if v := value(mfs, name); v < min {
			t.Errorf("%s = %v, want ≥ %v", name, v, min)
		}
	}
	if v := value(mfs, "dpc_nats_jetstream_stream_bytes", "stream", omq.DefaultStream); v <= 0 {
		t.Errorf("DPC_ASYNC bytes = %v", v)
	}
	for _, s := range []string{omq.DefaultDeadStream, "KV_" + registryBucket} {
		if v := value(mfs, "dpc_nats_jetstream_stream_messages", "stream", s); v < 0 {
			t.Errorf("no dpc_nats_jetstream_stream_messages{stream=%q}", s)
		}
	}
	for _, name := range []string{"dpc_nats_jetstream_consumer_ack_pending_messages", "dpc_nats_jetstream_consumer_redelivered_messages"} {
		if v := value(mfs, name, "consumer", "omq_worker", "stream", omq.DefaultStream); v != 0 {
			t.Errorf("%s{consumer=omq_worker} = %v, want 0", name, v)
		}
	}
	// A single server: no meta group.
	names := map[string]bool{}
	for k := range mfs {
		names[strings.SplitN(k, "{", 2)[0]] = true
	}
	for _, name := range []string{"dpc_nats_jetstream_meta_leader", "dpc_nats_jetstream_cluster_size"} {
		if names[name] {
			t.Errorf("%s on a single server", name)
		}
	}

	var lint []string
	for name := range names {
		lint = append(lint, name)
	}
	problems, err := testutil.GatherAndLint(h.registry, lint...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// In a cluster of three each hub counts its routes and the meta group;
// exactly one leads it.
func TestCluster_NATSMetrics(t *testing.T) {
	hubs, _, _ := startCluster(t, 3)
	brokertest.Eventually(t, 20*time.Second, func() bool {
		leaders := 0.0
		for _, h := range hubs {
			s := natsSeries(t, h)
			if value(s, "dpc_nats_jetstream_cluster_size") != 3 || value(s, "dpc_nats_routes") < 2 {
				return false
			}
			leaders += value(s, "dpc_nats_jetstream_meta_leader")
		}
		return leaders == 1
	}, "three hubs, two routes each at least, one meta leader")
}
