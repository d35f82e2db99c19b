// Package objchunks writes and reads JetStream object store objects a
// bounded window of chunks at a time, so that neither the client nor the
// server (in DPC's hub, one process) ever holds a whole large object.
//
// The object store's own Put publishes chunks as fast as it can read them,
// with up to 4000 unacknowledged, and the server queues what it has not
// stored yet in memory: on a fast reader (a local file) that is most of
// the object. Put writes the same object — chunk messages on
// $O.<bucket>.C.<nuid>, then the object's info on $O.<bucket>.M.<name> as
// a subject rollup, as ADR-20 and nats.go's Put lay it out, so any object
// store client reads it — but never has more than Window chunks
// unacknowledged.
//
// The object store's own Get reads through a push consumer, whose flow
// control lets the server send up to 32 MiB ahead of the reader and queue
// it in the server's memory as well as the reader's; and a reader that
// goes through a whole object within seconds keeps every block it loaded
// in the server's cache. Open reads instead through an ordered pull
// consumer on the object's chunk subject that asks for Window chunks at a
// time, so that what is in flight is bounded by that window, whatever the
// object's size (docs/PROTOCOL.md §10.1).
//
// omq's streamed bodies (sealed by omq before they are put, authenticated
// as they are read) and the notes store's content both go through here.
package objchunks

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

const (
	// ChunkSize is the size of the chunks Put writes: the object store's
	// default.
	ChunkSize = 128 << 10
	// Window is how many chunks Put has unacknowledged, and a Reader
	// asks for, at most: 8 of 128 KiB, 1 MiB.
	Window = 8
)

// Put stores what r holds, up to EOF, as object name of bucket, and
// returns its size in bytes. It reads r a chunk at a time into a ring of
// Window buffers, a buffer being reused only once its chunk's publication
// is acknowledged. An error from r is returned as it is; a failed
// publication is wrapped as "storing chunk N: …".
//
// On a failure after some chunks were stored Put calls abandon (when not
// nil) with the partial object's info, under a context that is not
// cancelled with ctx: it should publish that info (PublishInfo), so that
// the object can be deleted by name and its chunks purged with it, then
// delete the object.
func Put(ctx context.Context, js jetstream.JetStream, bucket, name string, r io.Reader, abandon func(context.Context, *jetstream.ObjectInfo)) (uint64, error) {
	info := &jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: ChunkSize}},
		Bucket:     bucket,
		NUID:       nuid.Next(),
	}
	chunkSubj := "$O." + bucket + ".C." + info.NUID
	h := sha256.New()
	bufs := make([][]byte, Window)
	acks := make([]jetstream.PubAckFuture, Window)
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fail := func(err error) (uint64, error) {
		if info.Chunks > 0 && abandon != nil {
			abandon(context.WithoutCancel(ctx), info)
		}
		return 0, err
	}
	for i := 0; ; i++ {
		slot := i % Window
		if acks[slot] != nil {
			// A future answers once: it is forgotten once waited for.
			err := wait(acks[slot])
			acks[slot] = nil
			if err != nil {
				return fail(fmt.Errorf("storing chunk %d: %w", i-Window, err))
			}
		}
		if bufs[slot] == nil {
			bufs[slot] = make([]byte, ChunkSize)
		}
		k, rerr := io.ReadFull(r, bufs[slot])
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return fail(rerr)
		}
		if k > 0 {
			h.Write(bufs[slot][:k])
			f, err := js.PublishMsgAsync(&nats.Msg{Subject: chunkSubj, Data: bufs[slot][:k]})
			if err != nil {
				return fail(fmt.Errorf("storing chunk %d: %w", i, err))
			}
			acks[slot] = f
			info.Size += uint64(k)
			info.Chunks++
		}
		if rerr != nil {
			break
		}
	}
	for _, f := range acks {
		if f != nil {
			if err := wait(f); err != nil {
				return fail(fmt.Errorf("storing a chunk: %w", err))
			}
		}
	}
	info.Digest = jetstream.GetObjectDigestValue(h)
	if err := PublishInfo(ctx, js, info); err != nil {
		return fail(err)
	}
	return info.Size, nil
}

// PublishInfo publishes an object's info, replacing any earlier one.
func PublishInfo(ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	m := nats.NewMsg("$O." + info.Bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(info.Name)))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = data
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("storing the object's info: %w", err)
	}
	return nil
}

// Checks says how a Reader checks what it reads against the object's
// info, beyond as many chunks and no more bytes than it says.
type Checks struct {
	// What names the content in errors: "<What> is shorter than its info
	// says".
	What string
	// Digest checks the content's SHA-256 digest at its end, as the object
	// store's Get does: for content nothing else authenticates.
	Digest bool
	// NoMore refuses an object whose chunk subject has chunks after the
	// last one its info counts.
	NoMore bool
}

// Reader reads the content of one object, chunk after chunk, as its info
// describes it. Close it when done.
type Reader struct {
	ctx  context.Context
	cons jetstream.ConsumeContext // nil for an object without chunks
	// msgs has the chunks the consumer delivered. Its handler waits for
	// room rather than drop one (which a channel subscription, as
	// Messages uses, does when its window-sized channel is full), and
	// the consumer has at most a window of chunks asked for.
	msgs      chan jetstream.Msg
	done      chan struct{} // closed by Close: the handler stops waiting
	closeOnce sync.Once
	checks    Checks

	info   *jetstream.ObjectInfo
	got    uint32
	left   uint64 // bytes not read yet, from the info
	digest hash.Hash
	cur    []byte
	err    error
}

// Open starts reading the chunks of the object info describes (this
// version of it: its NUID), through an ordered pull consumer on stream
// OBJ_<bucket>. ctx bounds the whole read.
func Open(ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo, checks Checks) (*Reader, error) {
	r := &Reader{
		ctx: ctx, msgs: make(chan jetstream.Msg, Window), done: make(chan struct{}), checks: checks,
		info: info, left: info.Size,
	}
	if checks.Digest {
		r.digest = sha256.New()
	}
	cons, err := js.OrderedConsumer(ctx, "OBJ_"+info.Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + info.Bucket + ".C." + info.NUID},
	})
	if err != nil {
		return nil, err
	}
	if info.Chunks == 0 {
		return r, nil
	}
	r.cons, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case r.msgs <- m:
		case <-r.done:
		case <-r.ctx.Done():
		}
	}, jetstream.PullMaxMessages(Window))
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) Read(p []byte) (int, error) {
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
// last one, when the object is as its info says.
func (r *Reader) next() error {
	if r.got == r.info.Chunks {
		if r.left != 0 {
			return errors.New(r.checks.What + " is shorter than its info says")
		}
		if r.digest != nil && jetstream.GetObjectDigestValue(r.digest) != r.info.Digest {
			return errors.New(r.checks.What + " does not match its digest")
		}
		return io.EOF
	}
	var m jetstream.Msg
	select {
	case m = <-r.msgs:
	case <-r.ctx.Done():
		return fmt.Errorf("reading chunk %d of %d: %w", r.got+1, r.info.Chunks, r.ctx.Err())
	case <-r.done:
		return errors.New("the reader is closed")
	}
	r.got++
	data := m.Data()
	if uint64(len(data)) > r.left {
		return errors.New(r.checks.What + " is longer than its info says")
	}
	r.left -= uint64(len(data))
	if r.checks.NoMore && r.got == r.info.Chunks {
		if md, err := m.Metadata(); err != nil || md.NumPending != 0 {
			return errors.New(r.checks.What + " is longer than its info says")
		}
	}
	if r.digest != nil {
		r.digest.Write(data)
	}
	r.cur = data
	return nil
}

// Close stops the reading; the ordered consumer is deleted with it.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		if r.cons != nil {
			r.cons.Stop()
		}
	})
	return nil
}
