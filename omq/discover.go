package omq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Ping lists the live instances of a service ("" for every service) by
// $SRV.PING, among those bound under this node's prefix. Every instance
// answers at once, whatever its load (PING does not wait for a handler
// slot); the gathering stops when no new answer has come for a quiet
// period (four times the first answer's round trip, at least 50ms) or at
// ctx's end.
func (n *Node) Ping(ctx context.Context, service string) ([]micro.Ping, error) {
	return n.ping(ctx, service, 0)
}

// PingWithin is Ping without the quiet period: it gathers every answer
// that arrives within window. For a sweep that must not miss an instance
// slowed by load, where latency does not matter.
func (n *Node) PingWithin(ctx context.Context, service string, window time.Duration) ([]micro.Ping, error) {
	return n.ping(ctx, service, window)
}

func (n *Node) ping(ctx context.Context, service string, window time.Duration) ([]micro.Ping, error) {
	var out []micro.Ping
	err := n.gather(ctx, micro.PingVerb, service, window, func(b []byte) {
		var p micro.Ping
		if json.Unmarshal(b, &p) == nil && n.samePrefix(p.Metadata) {
			out = append(out, p)
		}
	})
	return out, err
}

// Stats gathers $SRV.STATS from the live instances of a service ("" for
// every service) under this node's prefix, like Ping.
func (n *Node) Stats(ctx context.Context, service string) ([]Stats, error) {
	return n.stats(ctx, service, 0)
}

// StatsWithin is Stats gathering for a fixed window, like PingWithin.
func (n *Node) StatsWithin(ctx context.Context, service string, window time.Duration) ([]Stats, error) {
	return n.stats(ctx, service, window)
}

func (n *Node) stats(ctx context.Context, service string, window time.Duration) ([]Stats, error) {
	var out []Stats
	err := n.gather(ctx, micro.StatsVerb, service, window, func(b []byte) {
		var st Stats
		if json.Unmarshal(b, &st) == nil && n.samePrefix(st.Metadata) {
			out = append(out, st)
		}
	})
	return out, err
}

// samePrefix: plain ADR-32 services (nats.go micro, other languages) carry
// no prefix; they serve whatever subjects they chose, so count them only
// under the default prefix.
func (n *Node) samePrefix(md map[string]string) bool {
	prefix, ok := md[MetadataPrefix]
	if !ok {
		prefix = DefaultPrefix
	}
	return prefix == n.cfg.prefix
}

// gather collects $SRV answers until a quiet period or, with a window,
// until the window ends.
func (n *Node) gather(ctx context.Context, verb micro.Verb, service string, window time.Duration, each func([]byte)) error {
	subject := micro.APIPrefix + "." + verb.String()
	if service != "" {
		if err := checkName("service", service); err != nil {
			return err
		}
		subject += "." + service
	}
	nc := n.nc
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return fmt.Errorf("omq: %s: %w", subject, err)
	}
	defer sub.Unsubscribe()
	start := time.Now()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return fmt.Errorf("omq: %s: %w", subject, err)
	}
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	if window > 0 {
		quiet.Reset(window)
	}
	first := true
	quietFor := 50 * time.Millisecond
	answered := false
	for {
		select {
		case m := <-ch:
			if m.Header != nil && m.Header.Get("Status") == "503" {
				return nil // nobody is listening
			}
			answered = true
			each(m.Data)
			if window > 0 {
				continue
			}
			if first {
				quietFor = max(quietFor, 4*time.Since(start))
				first = false
			}
			quiet.Reset(quietFor)
		case <-quiet.C:
			return nil
		case <-ctx.Done():
			if answered {
				return nil
			}
			return &timeoutError{what: "no instance answered " + subject}
		}
	}
}
