package hub

import (
	"sort"
	"strings"
	"sync"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// The embedded NATS server's own figures, read in-process at scrape time
// (one Varz and one Jsz per scrape), exported beside omq's and the hub's
// under dpc_nats_.
//
// Labels stay bounded: per-stream series only for the streams whose names
// start with the hub's prefixes (DPC_, KV_, OBJ_: the hub's assets and
// the buckets its clients make), at most maxStreamSeries of them in name
// order; per-consumer series only for the durable lane's consumers
// (omq_<service> on DPC_ASYNC), at most maxConsumerSeries in name order.
const (
	maxStreamSeries   = 64
	maxConsumerSeries = 256
)

// streamPrefixes are the stream names the per-stream series cover.
var streamPrefixes = []string{"DPC_", "KV_", "OBJ_"}

// natsCollector is a prometheus.Collector reading the embedded server.
type natsCollector struct {
	server func() *server.Server // nil until the server has started

	// mu lets one scrape at a time read the server: concurrent scrapes
	// wait rather than multiply the cost.
	mu sync.Mutex

	connections, connectionsAccepted, subscriptions, slowConsumers     *prometheus.Desc
	inMsgs, outMsgs, inBytes, outBytes, routes                         *prometheus.Desc
	metaLeader, clusterSize                                            *prometheus.Desc
	storeUsed, memUsed, storeReserved, memReserved, streams, consumers *prometheus.Desc
	streamMsgs, streamBytes                                            *prometheus.Desc
	consumerPending, consumerAckPending, consumerRedelivered           *prometheus.Desc
}

func newNATSCollector(srv func() *server.Server) *natsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("dpc_nats_"+name, help, labels, nil)
	}
	return &natsCollector{
		server:              srv,
		connections:         d("connections", "Client connections open now."),
		connectionsAccepted: d("connections_accepted_total", "Client connections accepted since the server started."),
		subscriptions:       d("subscriptions", "Subscriptions the server holds now."),
		slowConsumers:       d("slow_consumers_total", "Clients, routes and leafnodes the server disconnected for falling behind."),
		inMsgs:              d("received_messages_total", "Messages the server received."),
		outMsgs:             d("sent_messages_total", "Messages the server sent."),
		inBytes:             d("received_bytes_total", "Message bytes the server received."),
		outBytes:            d("sent_bytes_total", "Message bytes the server sent."),
		routes:              d("routes", "Routes to other servers of the cluster."),
		metaLeader:          d("jetstream_meta_leader", "1 if this server leads JetStream's meta group, else 0 (clustered only)."),
		clusterSize:         d("jetstream_cluster_size", "Servers in JetStream's meta group as this server knows it (clustered only)."),
		storeUsed:           d("jetstream_storage_used_bytes", "File storage used by JetStream on this server."),
		memUsed:             d("jetstream_memory_used_bytes", "Memory used by JetStream's memory streams on this server."),
		storeReserved:       d("jetstream_storage_reserved_bytes", "File storage reserved by streams' byte limits (MaxBytes)."),
		memReserved:         d("jetstream_memory_reserved_bytes", "Memory reserved by memory streams' byte limits (MaxBytes)."),
		streams:             d("jetstream_streams", "JetStream streams on this server."),
		consumers:           d("jetstream_consumers", "JetStream consumers on this server."),
		streamMsgs:          d("jetstream_stream_messages", "Messages in the stream (streams named DPC_*, KV_*, OBJ_*; at most 64).", "stream"),
		streamBytes:         d("jetstream_stream_bytes", "Bytes in the stream (streams named DPC_*, KV_*, OBJ_*; at most 64).", "stream"),
		consumerPending: d("jetstream_consumer_pending_messages",
			"Messages of the durable lane not yet delivered to the consumer (omq_<service>; at most 256).", "stream", "consumer"),
		consumerAckPending: d("jetstream_consumer_ack_pending_messages",
			"Messages delivered to the durable lane's consumer and not yet acknowledged.", "stream", "consumer"),
		consumerRedelivered: d("jetstream_consumer_redelivered_messages",
			"Messages of the durable lane's consumer delivered more than once and not yet acknowledged.", "stream", "consumer"),
	}
}

// natsServer is the embedded NATS server once it has started, else nil.
func (h *Hub) natsServer() *server.Server {
	if s := h.server(); s != nil {
		return s.NATS()
	}
	return nil
}

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.connectionsAccepted, c.subscriptions, c.slowConsumers,
		c.inMsgs, c.outMsgs, c.inBytes, c.outBytes, c.routes,
		c.metaLeader, c.clusterSize,
		c.storeUsed, c.memUsed, c.storeReserved, c.memReserved, c.streams, c.consumers,
		c.streamMsgs, c.streamBytes,
		c.consumerPending, c.consumerAckPending, c.consumerRedelivered,
	} {
		ch <- d
	}
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.server()
	if s == nil || !s.Running() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if v, err := s.Varz(nil); err == nil {
		gauge(c.connections, float64(v.Connections))
		counter(c.connectionsAccepted, float64(v.TotalConnections))
		gauge(c.subscriptions, float64(v.Subscriptions))
		counter(c.slowConsumers, float64(v.SlowConsumers))
		counter(c.inMsgs, float64(v.InMsgs))
		counter(c.outMsgs, float64(v.OutMsgs))
		counter(c.inBytes, float64(v.InBytes))
		counter(c.outBytes, float64(v.OutBytes))
		gauge(c.routes, float64(v.Routes))
	}
	// Consumer details come with every stream's consumers; the series
	// below keep only the lane's.
	js, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Consumer: true})
	if err != nil || js.Disabled {
		return
	}
	if js.Meta != nil {
		leader := 0.0
		if js.Meta.Leader == s.Name() {
			leader = 1
		}
		gauge(c.metaLeader, leader)
		gauge(c.clusterSize, float64(js.Meta.Size))
	}
	gauge(c.storeUsed, float64(js.Store))
	gauge(c.memUsed, float64(js.Memory))
	gauge(c.storeReserved, float64(js.ReservedStore))
	gauge(c.memReserved, float64(js.ReservedMemory))
	gauge(c.streams, float64(js.Streams))
	gauge(c.consumers, float64(js.Consumers))

	// A stream name may be in more than one account: the first account
	// (by id) holding it wins, so that no series is sent twice.
	sort.Slice(js.AccountDetails, func(i, j int) bool { return js.AccountDetails[i].Id < js.AccountDetails[j].Id })
	streams := map[string]*server.StreamDetail{}
	for _, a := range js.AccountDetails {
		for i := range a.Streams {
			sd := &a.Streams[i]
			if _, dup := streams[sd.Name]; !dup && hubStream(sd.Name) {
				streams[sd.Name] = sd
			}
		}
	}
	names := make([]string, 0, len(streams))
	for n := range streams {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > maxStreamSeries {
		names = names[:maxStreamSeries]
	}
	for _, n := range names {
		gauge(c.streamMsgs, float64(streams[n].State.Msgs), n)
		gauge(c.streamBytes, float64(streams[n].State.Bytes), n)
	}

	lane := streams[omq.DefaultStream]
	if lane == nil {
		return
	}
	var cons []*server.ConsumerInfo
	for _, ci := range lane.Consumer {
		if ci != nil && strings.HasPrefix(ci.Name, "omq_") {
			cons = append(cons, ci)
		}
	}
	sort.Slice(cons, func(i, j int) bool { return cons[i].Name < cons[j].Name })
	if len(cons) > maxConsumerSeries {
		cons = cons[:maxConsumerSeries]
	}
	for _, ci := range cons {
		gauge(c.consumerPending, float64(ci.NumPending), lane.Name, ci.Name)
		gauge(c.consumerAckPending, float64(ci.NumAckPending), lane.Name, ci.Name)
		gauge(c.consumerRedelivered, float64(ci.NumRedelivered), lane.Name, ci.Name)
	}
}

// hubStream reports whether the per-stream series cover stream name.
func hubStream(name string) bool {
	for _, p := range streamPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
