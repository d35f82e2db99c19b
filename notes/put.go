package notes

import (
	"context"
	"io"

	"github.com/dpc-project/dpc/internal/objchunks"
	"github.com/nats-io/nats.go/jetstream"
)

// A bounded put. The object store's Put would have up to 4000 chunks
// unacknowledged, queued in the server's memory: in the hub, which is
// both the server and the notes store's client, a large streamed note
// would be queued nearly whole. putObject writes the same object with at
// most objchunks.Window chunks unacknowledged (internal/objchunks, as
// omq's streams do).

// putObject stores what r holds as object name; on a failure it removes
// what it stored.
func (s *Store) putObject(ctx context.Context, name string, r io.Reader) error {
	_, err := objchunks.Put(ctx, s.js, s.cfg.bucket+"_CONTENT", name, r, func(ctx context.Context, info *jetstream.ObjectInfo) {
		// Its info first, so that Delete finds the chunks to purge.
		if objchunks.PublishInfo(ctx, s.js, info) == nil {
			_ = s.obj.Delete(ctx, name)
		}
	})
	return err
}
