package omq

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// The NATS service protocol (ADR-32): every instance answers PING, INFO and
// STATS on $SRV.<VERB>, $SRV.<VERB>.<name> and $SRV.<VERB>.<name>.<id>, so
// `nats micro ls|info|stats` and nats.go's micro types see it. These
// subscriptions bypass the handler slots: a busy instance still answers.
// Unbind ends them first, so a draining instance is no longer counted.

func (i *Instance) subscribeSRV() error {
	nc := i.node.nc
	verbs := []struct {
		verb micro.Verb
		h    func() any
	}{
		{micro.PingVerb, func() any { return i.ping() }},
		{micro.InfoVerb, func() any { return i.Info() }},
		{micro.StatsVerb, func() any { return i.Stats() }},
	}
	for _, v := range verbs {
		for _, subj := range []string{
			micro.APIPrefix + "." + v.verb.String(),
			micro.APIPrefix + "." + v.verb.String() + "." + i.name,
			micro.APIPrefix + "." + v.verb.String() + "." + i.name + "." + i.id,
		} {
			h := v.h
			sub, err := nc.Subscribe(subj, func(m *nats.Msg) {
				b, err := json.Marshal(h())
				if err != nil {
					i.node.log.Error("omq: encoding $SRV reply", "err", err)
					return
				}
				_ = m.Respond(b)
			})
			if err != nil {
				return err
			}
			i.srvSubs = append(i.srvSubs, sub)
		}
	}
	return nil
}

func (i *Instance) identity() micro.ServiceIdentity {
	md := maps.Clone(i.cfg.metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[MetadataPrefix] = i.node.cfg.prefix
	return micro.ServiceIdentity{Name: i.name, ID: i.id, Version: i.cfg.version, Metadata: md}
}

func (i *Instance) ping() micro.Ping {
	return micro.Ping{ServiceIdentity: i.identity(), Type: micro.PingResponseType}
}

// Info is the instance's ADR-32 INFO reply: one endpoint per function, on
// its unicast subject in the name's queue group.
func (i *Instance) Info() micro.Info {
	info := micro.Info{
		ServiceIdentity: i.identity(),
		Type:            micro.InfoResponseType,
		Description:     i.cfg.description,
		Endpoints:       make([]micro.EndpointInfo, 0, len(i.funcs)),
	}
	for _, name := range i.Functions() {
		f := i.funcs[name]
		info.Endpoints = append(info.Endpoints, micro.EndpointInfo{
			Name: name, Subject: f.subject, QueueGroup: i.name,
			Metadata: map[string]string{},
		})
	}
	return info
}

// Stats is the ADR-32 STATS reply with omq's instance-wide figures added in
// a top-level "data" field.
type Stats struct {
	micro.Stats
	Data InstanceData `json:"data"`
}

// Stats reports the instance's counts and timings: per function, requests,
// errors, processing time (standard ADR-32 fields) and FunctionData in each
// endpoint's data; instance-wide InstanceData.
func (i *Instance) Stats() Stats {
	st := Stats{
		Stats: micro.Stats{
			ServiceIdentity: i.identity(),
			Type:            micro.StatsResponseType,
			Started:         i.started,
			Endpoints:       make([]*micro.EndpointStats, 0, len(i.funcs)),
		},
	}
	for _, name := range i.Functions() {
		f := i.funcs[name]
		s := &f.stats
		s.mu.Lock()
		es := &micro.EndpointStats{
			Name: name, Subject: f.subject, QueueGroup: i.name,
			NumRequests:    int(s.requests),
			NumErrors:      int(s.errors),
			LastError:      s.lastError,
			ProcessingTime: s.processing,
		}
		if s.requests > 0 {
			es.AverageProcessingTime = s.processing / time.Duration(s.requests)
		}
		fd := FunctionData{
			Expired:      s.expired,
			ServiceTime:  s.service.snapshot(),
			QueueWait:    s.queueWait.snapshot(),
			InterArrival: s.interArrive.snapshot(),
		}
		s.mu.Unlock()
		es.Data, _ = json.Marshal(fd)
		st.Endpoints = append(st.Endpoints, es)
	}
	i.statMu.Lock()
	waits := i.waits.recent(time.Now())
	arr := i.arrivals.snapshot()
	i.statMu.Unlock()
	// Sorted outside the lock every call's statistics take.
	p50, p90, p99 := waitPercentiles(waits)
	st.Data = InstanceData{
		Concurrency:  i.cfg.concurrency,
		InFlight:     i.running.Load(),
		Backlog:      i.Backlog(),
		QueueWaitP50: p50,
		QueueWaitP90: p90,
		QueueWaitP99: p99,
		InterArrival: arr,
		Durable:      i.lane != nil,
		Queue:        i.cfg.queue,
		Refused:      i.refused.Load(),
		Offered:      i.offered.Load(),
		State:        i.state(time.Now()),
	}
	return st
}
