package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
)

func TestServer_Cluster(t *testing.T) {
	member := func(name string, routes ...string) func(*broker.Config) {
		return func(c *broker.Config) {
			c.Name = name
			c.JetStream = false
			c.Cluster = &broker.ClusterConfig{Name: "dpc-test", Host: "127.0.0.1", Port: broker.RandomPort, Routes: routes}
		}
	}
	a := brokertest.Start(t, member("hub-a"))
	if u := a.ClusterURL(); !strings.HasPrefix(u, "nats-route://127.0.0.1:") {
		t.Fatalf("ClusterURL() = %q, want nats-route://127.0.0.1:<port>", u)
	}
	b := brokertest.Start(t, member("hub-b", a.ClusterURL()))

	brokertest.Eventually(t, 10*time.Second, func() bool {
		return a.NumRoutes() > 0 && b.NumRoutes() > 0
	}, "hub-a and hub-b route to each other")

	const subject = "dpc.svc.tst.nopExtra"
	onA := brokertest.Connect(t, a)
	sub, err := onA.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := onA.Flush(); err != nil {
		t.Fatal(err)
	}
	// A message published before hub-b hears of the subscription would be
	// dropped, so wait for the interest to cross the route.
	brokertest.Eventually(t, 10*time.Second, func() bool {
		return b.NATS().GlobalAccount().SubscriptionInterest(subject)
	}, "hub-b learns of the subscriber on hub-a")

	onB := brokertest.Connect(t, b)
	if err := onB.Publish(subject, []byte("across")); err != nil {
		t.Fatal(err)
	}
	if got := nextMsg(t, sub); string(got.Data) != "across" {
		t.Errorf("hub-a subscriber got %q", got.Data)
	}
}
