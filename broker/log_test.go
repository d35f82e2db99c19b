package broker_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
)

// syncBuffer is a bytes.Buffer the server's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServer_LogsToSlog(t *testing.T) {
	tests := []struct {
		name      string
		level     slog.Level
		debug     bool
		want      string
		wantLevel string
		absent    string // a line that must not appear
	}{
		{"info", slog.LevelInfo, false, "Server is ready", "INFO", "Client connection created"},
		{"debug", slog.LevelDebug, true, "Client connection created", "DEBUG", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			srv := brokertest.Start(t, func(c *broker.Config) {
				c.JetStream = false
				c.Logger = logger
				c.Debug = tt.debug
			})
			if err := brokertest.Connect(t, srv).Flush(); err != nil {
				t.Fatal(err)
			}

			var line string
			brokertest.Eventually(t, 5*time.Second, func() bool {
				for l := range strings.Lines(buf.String()) {
					if strings.Contains(l, tt.want) {
						line = l
						return true
					}
				}
				return false
			}, "log line "+tt.want)
			if !strings.Contains(line, "level="+tt.wantLevel) || !strings.Contains(line, "component=nats-server") {
				t.Errorf("log line %q, want level=%s and component=nats-server", line, tt.wantLevel)
			}
			if tt.absent != "" && strings.Contains(buf.String(), tt.absent) {
				t.Errorf("log holds %q at level %s", tt.absent, tt.level)
			}
		})
	}
}
