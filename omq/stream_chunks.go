package omq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Reading a stream's chunks a few at a time. The object store's own Get
// reads through a push consumer, whose flow control lets the server send
// up to 32 MiB ahead of the reader and queue it in the server's memory as
// well as the reader's; and a reader that goes through a whole object
// within seconds keeps every block it loaded in the server's cache. A
// streamed body is read instead through an ordered pull consumer on the
// object's chunk subject that asks for streamChunkWindow chunks at a
// time, so that what is in flight is bounded by that window, whatever the
// body's size. (The roles let a caller create, pull from and delete a
// consumer on one object's chunks: docs/SECURITY.md.)

// streamChunkWindow is how many chunks a reader asks for at once: 8 of
// the object store's 128 KiB chunks, 1 MiB.
const streamChunkWindow = 8

// chunkReader reads the content of one object, chunk after chunk, as
// its info describes it.
type chunkReader struct {
	ctx  context.Context
	cons jetstream.ConsumeContext
	// msgs has the chunks the consumer delivered. Its handler waits for
	// room rather than drop one (which a channel subscription, as
	// Messages uses, does when its window-sized channel is full), and
	// the consumer has at most a window of chunks asked for.
	msgs      chan jetstream.Msg
	done      chan struct{} // closed by Close: the handler stops waiting
	closeOnce sync.Once

	chunks uint32 // the object's, from its info
	got    uint32
	left   uint64 // bytes not read yet, from the info
	cur    []byte
	err    error
}

// readChunks starts reading the chunks of the object info describes. ctx
// bounds the whole read.
func (n *Node) readChunks(ctx context.Context, info *jetstream.ObjectInfo) (*chunkReader, error) {
	js, err := n.jetStream()
	if err != nil {
		return nil, err
	}
	stream := "OBJ_" + info.Bucket
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + info.Bucket + ".C." + info.NUID},
	})
	if err != nil {
		return nil, err
	}
	r := &chunkReader{
		ctx: ctx, msgs: make(chan jetstream.Msg, streamChunkWindow), done: make(chan struct{}),
		chunks: info.Chunks, left: info.Size,
	}
	r.cons, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case r.msgs <- m:
		case <-r.done:
		case <-r.ctx.Done():
		}
	}, jetstream.PullMaxMessages(streamChunkWindow))
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
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

// next takes the next chunk, or says why there is none: io.EOF after the
// last one, when the object has neither fewer nor more than its info
// says.
func (r *chunkReader) next() error {
	if r.got == r.chunks {
		if r.left != 0 {
			return errors.New("it is shorter than its info says")
		}
		return io.EOF
	}
	var m jetstream.Msg
	select {
	case m = <-r.msgs:
	case <-r.ctx.Done():
		return fmt.Errorf("reading chunk %d of %d: %w", r.got+1, r.chunks, r.ctx.Err())
	case <-r.done:
		return errors.New("the stream is closed")
	}
	r.got++
	data := m.Data()
	if uint64(len(data)) > r.left {
		return errors.New("it is longer than its info says")
	}
	r.left -= uint64(len(data))
	if r.got == r.chunks {
		if md, err := m.Metadata(); err != nil || md.NumPending != 0 {
			return errors.New("it is longer than its info says")
		}
	}
	r.cur = data
	return nil
}

// Close stops the reading; the ordered consumer is deleted with it.
func (r *chunkReader) Close() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.cons.Stop()
	})
}
