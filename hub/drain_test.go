package hub

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go/micro"
)

// bindExtra binds handlers under name on a client connection of its own
// (as an extra service, not in the hub's process-internal connection) and
// returns a caller's node on another client connection.
func bindExtra(t *testing.T, h *testHub, name string, handlers omq.Handlers) *omq.Node {
	t.Helper()
	svc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node(t, svc).Bind(ctxT(t), name, handlers); err != nil {
		t.Fatal(err)
	}
	caller, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	return node(t, caller)
}

// goCall calls name.fn with a long timeout and returns once the instance
// reports the call running; the result arrives on the channel.
func goCall(t *testing.T, caller *omq.Node, name, fn string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		var got string
		err := caller.Lookup(name).Call(context.Background(), fn, nil, &got, omq.Timeout(30*time.Second))
		if err == nil && got != "done" {
			err = &omq.Error{Code: 500, Description: "result " + got}
		}
		done <- err
	}()
	brokertest.Eventually(t, 10*time.Second, func() bool {
		st, _ := caller.Stats(ctxT(t), name)
		return len(st) == 1 && st[0].Data.InFlight == 1
	}, "the call to be in flight")
	return done
}

// closeHub closes the hub in the background and fails the test if Close
// has not returned within a minute.
func closeHub(t *testing.T, h *testHub) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h.Close(ctx)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return within a minute")
	}
}

// A call in flight to an extra service when the hub closes finishes, and
// its caller gets the result.
func TestHub_DrainLetsCallsFinish(t *testing.T) {
	h := startHub(t)
	caller := bindExtra(t, h, "slow", omq.Handlers{
		"nap": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			select {
			case <-time.After(time.Second):
				return "done", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}),
	})
	done := goCall(t, caller, "slow", "nap")
	closeHub(t, h)
	if err := <-done; err != nil {
		t.Fatalf("the call in flight across Close: %v", err)
	}
	if !strings.Contains(h.log.String(), `msg="draining: waiting for calls in flight" calls=1 instances=1`) ||
		!strings.Contains(h.log.String(), `msg="draining: calls in flight finished"`) {
		t.Errorf("the drain is not logged:\n%s", h.log)
	}
}

// A call that outlasts the drain timeout does not hold the hub: Close
// returns after the timeout and says how many calls it cut.
func TestHub_DrainTimeoutBoundsTheWait(t *testing.T) {
	h := startHub(t)
	h.cfg.DrainTimeout = 300 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	caller := bindExtra(t, h, "stuck", omq.Handlers{
		"hang": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) {
			<-release // ignores its context, as a stuck handler does
			return "done", nil
		}),
	})
	done := goCall(t, caller, "stuck", "hang")
	closeHub(t, h)
	if !strings.Contains(h.log.String(), `msg="draining: timed out with calls in flight" calls=1 instances=1`) {
		t.Errorf("the drain's timeout is not logged:\n%s", h.log)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a call that never ends succeeded")
		}
	default: // the caller waits out its own timeout
	}
}

// What an instance still owes, from its STATS: calls ended are counted,
// and an idle instance owes nothing.
func TestOwed_Owes(t *testing.T) {
	stats := func(inFlight, backlog int64, requests []int, expired []int64) omq.Stats {
		st := omq.Stats{Data: omq.InstanceData{InFlight: inFlight, Backlog: backlog}}
		for k, n := range requests {
			d, _ := json.Marshal(omq.FunctionData{Expired: expired[k]})
			st.Endpoints = append(st.Endpoints, &micro.EndpointStats{NumRequests: n, Data: d})
		}
		return st
	}
	snap := stats(2, 1, []int{5, 3}, []int64{1, 0}) // 9 ended, 3 owed
	o := owed{target: completed(snap) + 3}
	for _, c := range []struct {
		name string
		now  omq.Stats
		want int64
	}{
		{"nothing ended yet", stats(3, 0, []int{5, 3}, []int64{1, 0}), 3},
		{"one handled", stats(2, 0, []int{6, 3}, []int64{1, 0}), 2},
		{"one expired in the queue", stats(2, 0, []int{5, 3}, []int64{2, 0}), 2},
		{"all ended, new calls running", stats(4, 2, []int{7, 4}, []int64{1, 0}), 0},
		{"fewer busy than owed", stats(1, 0, []int{5, 3}, []int64{1, 0}), 1},
		{"idle, though 404s are not counted", stats(0, 0, []int{5, 3}, []int64{1, 0}), 0},
	} {
		if got := o.owes(c.now); got != c.want {
			t.Errorf("%s: owes %d, want %d", c.name, got, c.want)
		}
	}
}
