package servicehost_test

import (
	"context"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/services"
)

// BenchmarkCall_Allocs is one call of tst.add through servicehost's
// argument check, by position and by name, caller, instance and server in
// this process: omq's BenchmarkCall_Allocs with a manifest in between.
func BenchmarkCall_Allocs(b *testing.B) {
	srv := brokertest.Start(b, func(c *broker.Config) { c.JetStream = false })
	open := func() *omq.Node {
		n, err := omq.New(brokertest.Connect(b, srv))
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	svc, err := services.Get("tst", nil, services.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := servicehost.Bind(ctx, open(), svc, servicehost.Config{}); err != nil {
		b.Fatal(err)
	}
	tst := open().Lookup("tst")
	for _, c := range []struct {
		name string
		args any
	}{
		{"position", omq.Args(45, 38)},
		{"name", map[string]int{"a": 45, "b": 38}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var sum int
			for range 200 { // past dispatch's start as a slow function
				if err := tst.Call(context.Background(), "add", c.args, &sum); err != nil || sum != 83 {
					b.Fatalf("add: %d, %v", sum, err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := tst.Call(context.Background(), "add", c.args, &sum); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
