package omq

import (
	"context"
	"io"

	"github.com/dpc-project/dpc/internal/objchunks"
	"github.com/nats-io/nats.go/jetstream"
)

// Storing a stream's chunks with a bounded window: the object store's own
// Put would have up to 4000 chunks unacknowledged, queued in the server's
// memory (in the hub). putChunks writes the same object, readable by any
// object store client, with never more than objchunks.Window chunks
// unacknowledged (internal/objchunks). What it stores is already sealed
// (stream_seal.go).

// putChunks stores what r holds as object name of the bodies' bucket, and
// returns its size in bytes. On a failure after some chunks were stored
// it publishes the partial object's info and has it deleted, so that its
// chunks do not wait for the bucket's age limit.
func (n *Node) putChunks(ctx context.Context, name string, r io.Reader) (uint64, error) {
	js, err := n.jetStream()
	if err != nil {
		return 0, err
	}
	return objchunks.Put(ctx, js, n.bodiesBucket(), name, r, n.abandon)
}

// abandon has a partly stored object deleted: its info, so that the
// object can be deleted by name (a reader may not purge the store, the
// hub may), then the deletion.
func (n *Node) abandon(ctx context.Context, info *jetstream.ObjectInfo) {
	js, err := n.jetStream()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.timeout)
	defer cancel()
	if objchunks.PublishInfo(ctx, js, info) == nil {
		n.deleteBody(ctx, info.Name)
	}
}
