package notes

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// A bounded read. The object store's Get reads through a push consumer
// whose flow control lets the server send up to 32 MiB ahead of the
// reader; in the hub, which is both the server and the notes store's
// client, that is held twice. readObject reads an object's chunks
// through an ordered pull consumer that asks for getWindow at a time, and
// checks what it read against the object's info: as many chunks and
// bytes, and the same SHA-256 digest, as the object store's Get does.
// omq's streams read the same way (omq/stream_chunks.go).

const getWindow = 8

type objectReader struct {
	ctx       context.Context
	cons      jetstream.ConsumeContext
	msgs      chan jetstream.Msg
	done      chan struct{}
	closeOnce sync.Once
	info      *jetstream.ObjectInfo
	got       uint32
	left      uint64
	digest    hash.Hash
	cur       []byte
	err       error
}

// readObject opens the content of the object info describes; ctx bounds
// the whole read.
func (s *Store) readObject(ctx context.Context, info *jetstream.ObjectInfo) (io.ReadCloser, error) {
	cons, err := s.js.OrderedConsumer(ctx, "OBJ_"+info.Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + info.Bucket + ".C." + info.NUID},
	})
	if err != nil {
		return nil, err
	}
	r := &objectReader{
		ctx: ctx, msgs: make(chan jetstream.Msg, getWindow), done: make(chan struct{}),
		info: info, left: info.Size, digest: sha256.New(),
	}
	if info.Chunks == 0 {
		return r, nil
	}
	// The handler waits for room rather than drop a chunk; the consumer
	// has at most a window asked for.
	r.cons, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case r.msgs <- m:
		case <-r.done:
		case <-r.ctx.Done():
		}
	}, jetstream.PullMaxMessages(getWindow))
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	k := copy(p, r.cur)
	r.cur = r.cur[k:]
	return k, nil
}

func (r *objectReader) next() error {
	if r.got == r.info.Chunks {
		if r.left != 0 {
			return errors.New("notes: the content is shorter than its info says")
		}
		if jetstream.GetObjectDigestValue(r.digest) != r.info.Digest {
			return errors.New("notes: the content does not match its digest")
		}
		return io.EOF
	}
	var m jetstream.Msg
	select {
	case m = <-r.msgs:
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-r.done:
		return errors.New("notes: the content's reader is closed")
	}
	r.got++
	data := m.Data()
	if uint64(len(data)) > r.left {
		return errors.New("notes: the content is longer than its info says")
	}
	r.left -= uint64(len(data))
	r.digest.Write(data)
	r.cur = data
	return nil
}

func (r *objectReader) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		if r.cons != nil {
			r.cons.Stop()
		}
	})
	return nil
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
