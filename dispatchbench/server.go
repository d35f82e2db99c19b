package dispatchbench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/dpc-project/dpc/broker"
)

// Server is an embedded NATS server with JetStream for a run.
type Server struct {
	*broker.Server
	dir string
}

// StartServer starts an embedded NATS server on a random loopback port,
// with JetStream in a temporary directory (the pull lane's stream is in
// memory); Shutdown stops it and removes the directory.
func StartServer(ctx context.Context) (*Server, error) {
	dir, err := os.MkdirTemp("", "dpc-bench-dispatch-")
	if err != nil {
		return nil, err
	}
	cfg := broker.DefaultConfig()
	cfg.Name = "dpc-bench"
	cfg.Host = "127.0.0.1"
	cfg.Port = broker.RandomPort
	cfg.HTTPPort = 0
	cfg.JetStream = true
	cfg.StoreDir = dir
	cfg.ReadyTimeout = 10 * time.Second
	srv, err := broker.Start(ctx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	return &Server{Server: srv, dir: dir}, nil
}

// Shutdown stops the server and removes its directory.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	os.RemoveAll(s.dir)
}
