package omq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Streamed bodies. A body object (bodies.go) is read whole into memory at
// both ends, and a 100 MB argument costs its receiver several copies of
// it. A Stream is a body that is never whole in memory: the sender puts it
// into the bodies' object store straight from an io.Reader, sealing it
// segment by segment (stream_seal.go), and passes its descriptor — object
// name, key and size — as an ordinary JSON value among the arguments or as
// the result; the receiver opens it as an io.Reader that decrypts and
// authenticates it segment by segment as it is read. Memory at each end
// is then one segment plus what the object store has in flight (its flow
// control caps that), whatever the size.
//
// A descriptor is as secret as a body key: it travels in the message
// body, which reaches exactly the recipients its headers reach.

// Stream describes a streamed body. Its JSON form is
//
//	{"stream":"<object name>","key":"<body key>","size":<bytes>}
//
// with the object name and key formed as for a body object, and size the
// plaintext's length. Make one with Node.PutStream, send it as an
// argument or return it as a result, and read it with Node.OpenStream.
type Stream struct {
	Object string `json:"stream"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
}

// streamOf is what errors call a streamed body.
var streamOf = bodyOf{part: "stream"}

// Check says whether s is a well-formed descriptor: an object name of 26
// characters of A-Z and 2-7, a key as Dpc-Body-Key has it, and a size that
// is not negative. It reads nothing.
func (s Stream) Check() error {
	if len(s.Object) != 26 || !isBase32Name(s.Object) {
		return fmt.Errorf("omq: stream %q: not an object name (26 characters of A-Z and 2-7)", s.Object)
	}
	if k, err := bodyKeyEncoding.DecodeString(s.Key); err != nil || len(s.Key) != bodyKeyChars || len(k) != bodyKeySize {
		return fmt.Errorf("omq: stream %s: its key is not a 256-bit key in unpadded base64url", s.Object)
	}
	if s.Size < 0 {
		return fmt.Errorf("omq: stream %s: negative size %d", s.Object, s.Size)
	}
	return nil
}

func isBase32Name(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// ParseStream reads a descriptor's JSON form strictly: exactly its three
// fields, well formed (Check). Hosts that check arguments by type use it.
func ParseStream(v json.RawMessage) (Stream, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil || len(raw) != 3 {
		return Stream{}, errors.New(`omq: a stream is a JSON object {"stream":…,"key":…,"size":…}`)
	}
	var s Stream
	if err := json.Unmarshal(v, &s); err != nil {
		return Stream{}, fmt.Errorf("omq: a stream descriptor: %w", err)
	}
	for _, f := range []string{"stream", "key", "size"} {
		if _, ok := raw[f]; !ok {
			return Stream{}, fmt.Errorf("omq: a stream descriptor has no %q", f)
		}
	}
	return s, s.Check()
}

// StreamOption tunes PutStream and OpenStream.
type StreamOption func(*streamConfig)

type streamConfig struct{ max int64 }

// StreamMax bounds a stream's size in bytes instead of the node's maximum
// body. The maximum body bounds what a node holds in memory; a stream is
// never whole in memory at either end, so a host may accept streams much
// larger than its bodies, bounded by what the store (a hub's
// --max-bodies) should hold for one call.
func StreamMax(n int64) StreamOption { return func(c *streamConfig) { c.max = n } }

func (n *Node) streamConfig(opts []StreamOption) streamConfig {
	c := streamConfig{max: int64(n.cfg.maxBody)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sizer is a source that knows its size up front (an *os.File): a stream
// too large for the maximum is then refused before anything is stored.
type sizer interface{ Stat() (fs.FileInfo, error) }

// PutStream stores what r holds, up to EOF, as a streamed body, and
// returns its descriptor. It reads r a segment at a time and holds no
// more than a window of chunks (stream_put.go). A body larger than the
// node's maximum (WithMaxBody, or StreamMax) is refused with an error
// matching ErrTooLarge: before anything is stored when r is a file, else
// once that many bytes are read (the partial object is then removed).
// ctx bounds the whole upload.
//
// The object is left to the bucket's age limit if nobody reads it; a
// reader that opens it with del deletes it when done.
func (n *Node) PutStream(ctx context.Context, r io.Reader, opts ...StreamOption) (Stream, error) {
	limit := n.streamConfig(opts).max
	if f, ok := r.(sizer); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
			return Stream{}, &bodyTooLarge{of: streamOf, size: fi.Size(), max: limit, sending: true}
		}
	}
	// The bucket is created here if need be; the chunks go in by
	// subject (stream_put.go).
	if _, err := n.bodies(ctx, true); err != nil {
		return Stream{}, err
	}
	name, key := bodyObjectName(), newBodyKey()
	s, err := newStreamSealer(key, name, r, limit)
	if err != nil {
		return Stream{}, fmt.Errorf("omq: sealing a stream: %w", err)
	}
	if _, err := n.putChunks(ctx, name, s); err != nil {
		if errors.Is(err, errStreamTooLarge) || errors.Is(s.err, errStreamTooLarge) {
			return Stream{}, &bodyTooLarge{of: streamOf, size: s.n, max: limit, sending: true}
		}
		return Stream{}, fmt.Errorf("omq: storing a stream after %d bytes: %w", s.n, err)
	}
	return Stream{Object: name, Key: formatBodyKey(key), Size: s.n}, nil
}

// StreamReader reads a streamed body as it decrypts and authenticates it.
// Read fails, never returning unauthenticated bytes, on a body that was
// altered, reordered, cut short or extended. Close it when done.
type StreamReader struct {
	n      *Node
	name   string
	size   int64
	del    bool
	chunks *chunkReader
	open   *streamOpener

	closeOnce sync.Once
}

// Size is the body's size in bytes.
func (r *StreamReader) Size() int64 { return r.size }

func (r *StreamReader) Read(p []byte) (int, error) {
	n, err := r.open.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("omq: stream %s refused: %w", r.name, err)
	}
	return n, err
}

// Close stops reading and, if the reader was opened with del, deletes the
// object, read to the end or not.
func (r *StreamReader) Close() error {
	r.closeOnce.Do(func() {
		r.chunks.Close()
		if r.del {
			r.n.deleteBody(context.Background(), r.name)
		}
	})
	return nil
}

// OpenStream opens a streamed body for reading. It checks the descriptor,
// then refuses a body larger than the node's maximum (WithMaxBody, or
// StreamMax; an error matching
// ErrTooLarge) by its declared size and then by the object's info, before
// reading any content; it also refuses an object whose size is not that
// of the declared body, or that is a link. With del the object is deleted
// on Close (or here, if it is refused): pass it when this is the body's
// only reader (a unicast or direct call's argument, or a result). ctx
// bounds the whole read.
func (n *Node) OpenStream(ctx context.Context, s Stream, del bool, opts ...StreamOption) (*StreamReader, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	limit := n.streamConfig(opts).max
	if s.Size > limit {
		return nil, &bodyTooLarge{of: streamOf, size: s.Size, max: limit}
	}
	os, err := n.bodies(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("omq: reading stream %s: %w", s.Object, err)
	}
	r, err := n.openStream(ctx, os, s, del)
	if err != nil {
		if del {
			n.deleteBody(context.WithoutCancel(ctx), s.Object)
		}
		return nil, err
	}
	return r, nil
}

func (n *Node) openStream(ctx context.Context, os jetstream.ObjectStore, s Stream, del bool) (*StreamReader, error) {
	key, _ := bodyKeyEncoding.DecodeString(s.Key) // checked
	info, err := os.GetInfo(ctx, s.Object)
	if err != nil {
		return nil, fmt.Errorf("omq: reading stream %s: %w", s.Object, err)
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return nil, fmt.Errorf("omq: stream %s is a link", s.Object)
	}
	size, ok := openedSize(info.Size)
	if !ok || size != uint64(s.Size) {
		return nil, fmt.Errorf("omq: stream %s: the object's %d bytes are not a sealed body of the %d bytes sent", s.Object, info.Size, s.Size)
	}
	// The chunks of this version of the object (its NUID), a window at a
	// time (stream_chunks.go); a sealed body is never empty, every
	// segment having a tag, so there are chunks to read.
	chunks, err := n.readChunks(ctx, info)
	if err != nil {
		return nil, fmt.Errorf("omq: reading stream %s: %w", s.Object, err)
	}
	open, err := newStreamOpener(key, s.Object, chunks, size)
	if err != nil {
		chunks.Close()
		return nil, fmt.Errorf("omq: stream %s: %w", s.Object, err)
	}
	return &StreamReader{n: n, name: s.Object, size: s.Size, del: del, chunks: chunks, open: open}, nil
}

// DeleteStream deletes a streamed body nobody will read: one whose call
// failed before it was sent, say.
func (n *Node) DeleteStream(ctx context.Context, s Stream) {
	if s.Check() == nil {
		n.deleteBody(ctx, s.Object)
	}
}
