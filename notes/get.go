package notes

import (
	"context"
	"fmt"
	"io"

	"github.com/dpc-project/dpc/internal/objchunks"
	"github.com/nats-io/nats.go/jetstream"
)

// A bounded read. The object store's Get would let the server send up to
// 32 MiB ahead of the reader; in the hub, which is both the server and the
// notes store's client, that is held twice. readObject reads an object's
// chunks through an ordered pull consumer that asks for objchunks.Window
// at a time (internal/objchunks, as omq's streams do), and checks what it
// read against the object's info: as many chunks and bytes, and the same
// SHA-256 digest, as the object store's Get does.

// readObject opens the content of the object info describes; ctx bounds
// the whole read.
func (s *Store) readObject(ctx context.Context, info *jetstream.ObjectInfo) (io.ReadCloser, error) {
	r, err := objchunks.Open(ctx, s.js, info, objchunks.Checks{What: "notes: the content", Digest: true})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// openObject is readObject for an object named name.
func (s *Store) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
	info, err := s.obj.GetInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return nil, fmt.Errorf("notes: content object %s is a link", name)
	}
	return s.readObject(ctx, info)
}
