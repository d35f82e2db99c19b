package callbench

import (
	"context"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/broker"
)

// StartEmbedded runs the NATS server the bench uses when no --url is given:
// loopback, a random port, no JetStream, no monitoring. Clients still reach
// it over TCP at its ClientURL, as they would a hub.
func StartEmbedded(ctx context.Context) (*broker.Server, error) {
	cfg := broker.DefaultConfig()
	cfg.Name = "dpc-bench"
	cfg.Host = "127.0.0.1"
	cfg.Port = broker.RandomPort
	cfg.JetStream = false
	cfg.StoreDir = ""
	cfg.HTTPPort = 0
	cfg.ReadyTimeout = 10 * time.Second
	srv, err := broker.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	return srv, nil
}
