package notes

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

// A bounded put. The object store's Put publishes chunks as fast as it
// reads them, with up to 4000 unacknowledged, and the server queues what
// it has not stored yet in memory: in the hub, which is both the server
// and the notes store's client, a large streamed note would be queued
// nearly whole. putObject writes the same object (chunks on
// $O.<bucket>.C.<nuid>, then its info on $O.<bucket>.M.<name>, as
// nats.go's Put) with at most putWindow chunks unacknowledged. omq's
// streams do the same (omq/stream_put.go).

const (
	putChunk  = 128 << 10 // the object store's default chunk size
	putWindow = 8
)

// putObject stores what r holds as object name; on a failure it removes
// what it stored.
func (s *Store) putObject(ctx context.Context, name string, r io.Reader) error {
	bucket := s.cfg.bucket + "_CONTENT"
	info := &jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: putChunk}},
		Bucket:     bucket,
		NUID:       nuid.Next(),
	}
	subj := "$O." + bucket + ".C." + info.NUID
	h := sha256.New()
	bufs := make([][]byte, putWindow)
	acks := make([]jetstream.PubAckFuture, putWindow)
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
	fail := func(err error) error {
		if info.Chunks > 0 {
			// Its info first, so that Delete finds the chunks to purge.
			if publishObjectInfo(context.WithoutCancel(ctx), s.js, info) == nil {
				_ = s.obj.Delete(context.WithoutCancel(ctx), name)
			}
		}
		return err
	}
	for i := 0; ; i++ {
		slot := i % putWindow
		if acks[slot] != nil {
			// A future answers once: it is forgotten once waited for.
			err := wait(acks[slot])
			acks[slot] = nil
			if err != nil {
				return fail(err)
			}
		}
		if bufs[slot] == nil {
			bufs[slot] = make([]byte, putChunk)
		}
		k, rerr := io.ReadFull(r, bufs[slot])
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return fail(rerr)
		}
		if k > 0 {
			h.Write(bufs[slot][:k])
			f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: subj, Data: bufs[slot][:k]})
			if err != nil {
				return fail(err)
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
				return fail(err)
			}
		}
	}
	info.Digest = jetstream.GetObjectDigestValue(h)
	if err := publishObjectInfo(ctx, s.js, info); err != nil {
		return fail(err)
	}
	return nil
}

// publishObjectInfo publishes an object's info, replacing any earlier.
func publishObjectInfo(ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo) error {
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
