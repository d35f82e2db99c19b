package logstream

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/dpc-project/dpc/broker/brokertest"
)

// BenchmarkHandler is one Info record with three attributes, as a
// process logs it: to stderr only (the handler not attached) and also
// published on NATS (attached to a real server in this process; nobody
// subscribes, as when no hub keeps the window). The difference is what
// publishing costs the goroutine that logs; the publisher's own work runs
// on its goroutine, and what it cannot keep up with is dropped and counted.
func BenchmarkHandler(b *testing.B) {
	for _, attached := range []bool{false, true} {
		name := "stderr-only"
		if attached {
			name = "published"
		}
		b.Run(name, func(b *testing.B) {
			h := New(slog.NewTextHandler(io.Discard, nil), Options{Buffer: 1 << 16})
			if attached {
				srv := brokertest.Start(b)
				if err := h.Attach(brokertest.Connect(b, srv), Source{Kind: KindService, Name: "bench", Instance: "i1", Host: "h"}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = h.Close(context.Background()) })
			}
			log := slog.New(h)
			b.ReportAllocs()
			for b.Loop() {
				log.Info("omq: call", "service", "tst", "function", "add", "code", 0)
			}
			b.ReportMetric(float64(h.Dropped())/float64(b.N), "dropped/op")
		})
	}
}
