package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/callbench"
)

func TestCLI_InterruptStopsCleanly(t *testing.T) {
	srv := brokertest.Start(t, func(c *broker.Config) { c.JetStream = false; c.StoreDir = "" })
	ctx, cancel := context.WithCancel(t.Context())
	cli := CompareCmd{
		URL: srv.ClientURL(), Clients: []int{2}, Duration: time.Minute, Repeats: 3,
		Sides: []string{callbench.SideRaw, callbench.SideOMQ}, Timeout: 5 * time.Second, Quiet: true,
		MinThroughput: callbench.DefaultTargets.MinThroughput, MaxP50: callbench.DefaultTargets.MaxP50,
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, &out, &out) }()
	select {
	case err := <-done:
		if !errors.Is(err, errInterrupted) {
			t.Fatalf("want errInterrupted, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after its context was cancelled")
	}
}
