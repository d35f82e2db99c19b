package omq_test

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
)

// A multi call reaches every instance and returns when all have answered,
// not when the timeout ends (ObjectMQ waited out the whole timeout).
func TestStub_MultiCallGathersEveryInstance(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for range 5 {
		n, _ := e.node()
		want[bind(t, n, "calc", &Calc{}).ID()] = true
	}
	cli, _ := e.node()
	const timeout = 20 * time.Second
	for _, tc := range []struct {
		name string
		opts []omq.CallOption
	}{
		{"expect 5", []omq.CallOption{omq.Expect(5), omq.Timeout(timeout)}},
		{"count by ping", []omq.CallOption{omq.Timeout(timeout)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			replies, err := cli.Lookup("calc").MultiCall(ctxT(t, 30*time.Second), "add", omq.Args(20, 22), tc.opts...)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if len(replies) != 5 {
				t.Fatalf("%d replies, want 5", len(replies))
			}
			seen := map[string]bool{}
			for _, r := range replies {
				var sum int
				if err := r.Decode(&sum); err != nil || sum != 42 {
					t.Fatalf("reply from %s: %d, %v", r.Instance, sum, err)
				}
				seen[r.Instance] = true
			}
			for id := range want {
				if !seen[id] {
					t.Fatalf("no reply from instance %s", id)
				}
			}
			// Behaviour: it returned on the fifth reply, not at the timeout.
			if took >= timeout/2 {
				t.Fatalf("multi call took %s of its %s timeout", took, timeout)
			}
		})
	}
}

func TestStub_MultiCallPartialOnTimeout(t *testing.T) {
	e := newEnv(t)
	for range 2 {
		n, _ := e.node()
		bind(t, n, "calc", &Calc{})
	}
	cli, _ := e.node()
	replies, err := cli.Lookup("calc").MultiCall(ctxT(t, 10*time.Second), "nop", nil, omq.Expect(3), omq.Timeout(300*time.Millisecond))
	if !errors.Is(err, omq.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if len(replies) != 2 {
		t.Fatalf("%d replies, want the 2 that arrived", len(replies))
	}
}

func TestStub_MultiCallNoInstances(t *testing.T) {
	e := newEnv(t)
	cli, _ := e.node()
	if _, err := cli.Lookup("calc").MultiCall(ctxT(t, 10*time.Second), "nop", nil); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("got %v, want ErrNoResponders", err)
	}
	if _, err := cli.Lookup("calc").MultiCall(ctxT(t, 10*time.Second), "nop", nil, omq.Expect(2)); !errors.Is(err, omq.ErrNoResponders) {
		t.Fatalf("with Expect: got %v, want ErrNoResponders", err)
	}
}

func TestStub_MultiSendReachesEveryInstance(t *testing.T) {
	e := newEnv(t)
	var calcs []*Calc
	for range 3 {
		n, _ := e.node()
		c := &Calc{}
		calcs = append(calcs, c)
		bind(t, n, "calc", c)
	}
	cli, _ := e.node()
	if err := cli.Lookup("calc").MultiSend(ctxT(t, 5*time.Second), "nop", nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range calcs {
		waitFor(t, func() bool { return c.calls.Load() == 1 }, "instance to get the multi send")
	}
}

func TestStub_InstancesListsLiveOnes(t *testing.T) {
	e := newEnv(t)
	var ids []string
	var insts []*omq.Instance
	for range 3 {
		n, _ := e.node()
		inst := bind(t, n, "calc", &Calc{})
		insts = append(insts, inst)
		ids = append(ids, inst.ID())
	}
	cli, _ := e.node()
	got, err := cli.Lookup("calc").Instances(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, p := range got {
		gotIDs = append(gotIDs, p.ID)
	}
	sort.Strings(ids)
	sort.Strings(gotIDs)
	if len(gotIDs) != 3 || gotIDs[0] != ids[0] || gotIDs[2] != ids[2] {
		t.Fatalf("instances %v, want %v", gotIDs, ids)
	}
	if err := insts[0].Unbind(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err = cli.Lookup("calc").Instances(ctxT(t, 5*time.Second))
	if err != nil || len(got) != 2 {
		t.Fatalf("after unbind: %d instances, %v; want 2", len(got), err)
	}
}
