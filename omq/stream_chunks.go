package omq

import (
	"context"

	"github.com/dpc-project/dpc/internal/objchunks"
	"github.com/nats-io/nats.go/jetstream"
)

// Reading a stream's chunks a few at a time: the object store's own Get
// would let the server send up to 32 MiB ahead of the reader. A streamed
// body is read instead through an ordered pull consumer on the object's
// chunk subject that asks for objchunks.Window chunks at a time
// (internal/objchunks), whatever the body's size. (The roles let a caller
// create, pull from and delete a consumer on one object's chunks:
// docs/SECURITY.md.) The opener (stream_seal.go) authenticates what it
// reads, so the reader checks no digest; it does refuse an object with
// fewer or more chunks or bytes than its info says.

// chunkReader reads the content of one object, chunk after chunk, as
// its info describes it.
type chunkReader = objchunks.Reader

// readChunks starts reading the chunks of the object info describes. ctx
// bounds the whole read.
func (n *Node) readChunks(ctx context.Context, info *jetstream.ObjectInfo) (*chunkReader, error) {
	js, err := n.jetStream()
	if err != nil {
		return nil, err
	}
	return objchunks.Open(ctx, js, info, objchunks.Checks{What: "it", NoMore: true})
}
