package provisioner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/nats-io/nats.go/jetstream"
)

func newLease(t *testing.T, js jetstream.JetStream, holder string, expiry, renew time.Duration) *provisioner.KVLease {
	t.Helper()
	l, err := provisioner.NewKVLease(context.Background(), js, provisioner.DefaultHistoryBucket,
		provisioner.LeaseConfig{Holder: holder, Expiry: expiry, Renew: renew})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func hold(t *testing.T, l *provisioner.KVLease) provisioner.LeaseState {
	t.Helper()
	st, err := l.Hold(context.Background())
	if err != nil {
		t.Fatalf("%s: hold: %v", l.Holder(), err)
	}
	return st
}

// Two supervisors asking at once: exactly one gets the lease, renews it,
// and the other stands by naming it; released, it passes to the other at
// once, long before the expiry.
func TestKVLease_OneHolderAndRelease(t *testing.T) {
	js := jetStream(t)
	a := newLease(t, js, "a", time.Hour, time.Second)
	b := newLease(t, js, "b", time.Hour, time.Second)
	var sa, sb provisioner.LeaseState
	var wg sync.WaitGroup
	wg.Go(func() { sa = hold(t, a) })
	wg.Go(func() { sb = hold(t, b) })
	wg.Wait()
	if sa.Held == sb.Held {
		t.Fatalf("a %+v, b %+v: want exactly one holder", sa, sb)
	}
	holder, standby := a, b
	if sb.Held {
		holder, standby = b, a
	}
	for range 3 {
		if st := hold(t, holder); !st.Held || st.Holder != holder.Holder() {
			t.Fatalf("the holder's renewal: %+v", st)
		}
		if st := hold(t, standby); st.Held || st.Holder != holder.Holder() {
			t.Fatalf("the standby: %+v, want it to name %s", st, holder.Holder())
		}
	}
	if err := holder.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := hold(t, standby); !st.Held {
		t.Fatalf("after the release the standby has %+v, want the lease", st)
	}
	if st := hold(t, holder); st.Held || st.Holder != standby.Holder() {
		t.Fatalf("the old holder: %+v, want standby behind %s", st, standby.Holder())
	}
}

// A holder that stops renewing loses the lease to the standby after the
// expiry; asking again, it learns it stands by.
func TestKVLease_StandbyTakesOverAfterExpiry(t *testing.T) {
	js := jetStream(t)
	a := newLease(t, js, "a", 600*time.Millisecond, 200*time.Millisecond)
	b := newLease(t, js, "b", 600*time.Millisecond, 200*time.Millisecond)
	if st := hold(t, a); !st.Held {
		t.Fatalf("a: %+v", st)
	}
	if st := hold(t, b); st.Held || st.Holder != "a" {
		t.Fatalf("b: %+v, want standby behind a", st)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool { return hold(t, b).Held }, "b takes the lease a stopped renewing")
	if st := hold(t, a); st.Held || st.Holder != "b" {
		t.Fatalf("a after b took over: %+v", st)
	}
}

func TestLeaseConfig_Validate(t *testing.T) {
	if err := (provisioner.LeaseConfig{Renew: time.Second}).Validate(); err != nil {
		t.Errorf("default expiry: %v", err)
	}
	if err := (provisioner.LeaseConfig{Renew: time.Second, Expiry: 1500 * time.Millisecond}).Validate(); err == nil {
		t.Error("an expiry under two periods passed")
	}
}
