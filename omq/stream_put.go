package omq

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Storing a stream's chunks with a bounded window. The object store's own
// Put publishes chunks as fast as it can read them, with up to 4000
// unacknowledged, and the server queues what it has not stored yet in
// memory: on a fast reader (a local file) that is most of the body, in the
// hub. putChunks writes the same object — chunk messages on
// $O.<bucket>.C.<nuid>, then the object's info on $O.<bucket>.M.<name> as
// a subject rollup, as ADR-20 and nats.go's Put lay it out, so any object
// store client reads it — but never has more than streamChunkWindow chunks
// unacknowledged.

// streamChunkSize is the size of a stream object's chunks: the object
// store's default.
const streamChunkSize = 128 << 10

// putChunks stores what r holds as object name of the bodies' bucket, and
// returns its size in bytes. On a failure after some chunks were stored
// it publishes the partial object's info and has it deleted, so that its
// chunks do not wait for the bucket's age limit.
func (n *Node) putChunks(ctx context.Context, name string, r io.Reader) (uint64, error) {
	js, err := n.jetStream()
	if err != nil {
		return 0, err
	}
	bucket := n.bodiesBucket()
	info := &jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: streamChunkSize}},
		Bucket:     bucket,
		NUID:       nuid.Next(),
	}
	chunkSubj := "$O." + bucket + ".C." + info.NUID
	h := sha256.New()
	// A ring of window buffers: a chunk's buffer is reused only once its
	// publication is acknowledged.
	bufs := make([][]byte, streamChunkWindow)
	acks := make([]jetstream.PubAckFuture, streamChunkWindow)
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
	stored := func(err error) (uint64, error) {
		if info.Chunks > 0 {
			n.abandon(context.WithoutCancel(ctx), info)
		}
		return 0, err
	}
	for i := 0; ; i++ {
		slot := i % streamChunkWindow
		if acks[slot] != nil {
			// A future answers once: it is forgotten once waited for.
			err := wait(acks[slot])
			acks[slot] = nil
			if err != nil {
				return stored(fmt.Errorf("storing chunk %d: %w", i-streamChunkWindow, err))
			}
		}
		if bufs[slot] == nil {
			bufs[slot] = make([]byte, streamChunkSize)
		}
		k, rerr := io.ReadFull(r, bufs[slot])
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return stored(rerr)
		}
		if k > 0 {
			h.Write(bufs[slot][:k])
			f, err := js.PublishMsgAsync(&nats.Msg{Subject: chunkSubj, Data: bufs[slot][:k]})
			if err != nil {
				return stored(fmt.Errorf("storing chunk %d: %w", i, err))
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
				return stored(fmt.Errorf("storing a chunk: %w", err))
			}
		}
	}
	info.Digest = jetstream.GetObjectDigestValue(h)
	if err := publishInfo(ctx, js, info); err != nil {
		return stored(err)
	}
	return info.Size, nil
}

// publishInfo publishes an object's info, replacing any earlier one.
func publishInfo(ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo) error {
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
	if publishInfo(ctx, js, info) == nil {
		n.deleteBody(ctx, info.Name)
	}
}
