package omq

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Large bodies. A NATS message is capped by the server's max payload
// (1 MiB by default). A request or reply body larger than the node's body
// limit travels through a JetStream object store instead, which stores it
// in chunks: the sender puts the body as an object, encrypted under a fresh
// key (see seal.go), and sends the message with no body, the object's name
// in the Dpc-Body-Object header and the key in Dpc-Body-Key; the receiver
// reads the object back and decrypts it. The reader of a unicast request
// or of a reply deletes the object; bodies of multi and durable calls,
// which several readers or a later redelivery may need, are left to the
// bucket's age limit.
//
// Every body, inline or in an object, is bounded by the node's maximum
// (WithMaxBody): a sender refuses a larger one before storing anything, and
// a receiver reads an object's size from its info before any of its content
// and refuses one that is too large. Object names are 128 random bits, so
// that nobody can read or redirect a body object without having been sent
// its name; its chunks, whose subjects can be guessed, are sealed with a key
// only the message's recipients see.

// HeaderBodyObject names the object that holds a message's body.
const HeaderBodyObject = "Dpc-Body-Object"

// bodiesMaxAge is how long an unread body object is kept.
const bodiesMaxAge = 7 * 24 * time.Hour

// minBodyLimit is the least the body limit can be without WithBodyLimit.
const minBodyLimit = 1024

// tooLarge says whether a body of size bytes must go through the object
// store. It is on every call's path, so small bodies are let through
// without asking the connection for the server's max payload (which takes
// its lock).
func (n *Node) tooLarge(size int) bool {
	if n.cfg.bodyLimit > 0 {
		return size > n.cfg.bodyLimit
	}
	// Leave room for headers within the server's limit.
	return size > minBodyLimit && size > max(int(n.nc.MaxPayload())-16*1024, minBodyLimit)
}

// bodyOf says whose body it is, for errors: the arguments, result or
// reply of a service's function.
type bodyOf struct{ part, svc, fn string }

func (b bodyOf) String() string {
	if b.svc == "" {
		return "a " + b.part // a stream, which belongs to no call until sent
	}
	return "the " + b.part + " of " + b.svc + "." + b.fn
}

// bodyTooLarge is a body over the node's maximum; sending tells a body this
// node refused to send from one it refused to read.
type bodyTooLarge struct {
	of      bodyOf
	size    int64
	max     int64
	sending bool
}

func (e *bodyTooLarge) Error() string {
	then := "it was not read"
	if e.sending {
		then = "nothing was sent"
	}
	if e.of == streamOf {
		return fmt.Sprintf("omq: %s: %d bytes, more than the %d-byte maximum stream (omq.StreamMax, else omq.WithMaxBody); %s", e.of, e.size, e.max, then)
	}
	return fmt.Sprintf("omq: %s: %d bytes, more than the %d-byte maximum body (omq.WithMaxBody); %s", e.of, e.size, e.max, then)
}

// Is makes errors.Is(err, ErrTooLarge) hold; errors.As(err, **Error) does
// not, since no instance sent it.
func (e *bodyTooLarge) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == CodeTooLarge
}

// checkSend refuses to send a body larger than the node's maximum.
func (n *Node) checkSend(of bodyOf, size int) error {
	if size > n.cfg.maxBody {
		return &bodyTooLarge{of: of, size: int64(size), max: int64(n.cfg.maxBody), sending: true}
	}
	return nil
}

func (n *Node) bodiesBucket() string {
	return strings.ToUpper(n.cfg.prefix) + "_BODIES"
}

// bodies opens the object store for large bodies; a sender (create) also
// creates it if needed. A receiver does not: a message naming a body object
// when there is no bucket names an object that does not exist.
func (n *Node) bodies(ctx context.Context, create bool) (jetstream.ObjectStore, error) {
	n.bodiesMu.Lock()
	defer n.bodiesMu.Unlock()
	if n.bodyStore != nil {
		return n.bodyStore, nil
	}
	js, err := n.jetStream()
	if err != nil {
		return nil, err
	}
	os, err := js.ObjectStore(ctx, n.bodiesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) && create {
		os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      n.bodiesBucket(),
			Description: "omq bodies larger than a NATS message",
			TTL:         bodiesMaxAge,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, n.streamError(fmt.Errorf("large bodies need JetStream: %w", err))
	}
	n.bodyStore = os
	return os, nil
}

// bodyObjectName is a fresh object name: 128 bits from crypto/rand in
// base32 (26 characters of A-Z and 2-7). Unlike a NUID it cannot be
// guessed from another one.
func bodyObjectName() string { return rand.Text() }

// putBody seals body under a fresh key and stores it; it returns the
// object's name and the key. The sealed form is produced segment by
// segment as the object store reads it, so no second copy of the body is
// made.
func (n *Node) putBody(ctx context.Context, body []byte) (name string, key []byte, err error) {
	os, err := n.bodies(ctx, true)
	if err != nil {
		return "", nil, err
	}
	name, key = bodyObjectName(), newBodyKey()
	r, err := newSealer(key, name, body)
	if err != nil {
		return "", nil, fmt.Errorf("omq: sealing a %d-byte body: %w", len(body), err)
	}
	if _, err := os.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return "", nil, fmt.Errorf("omq: storing a %d-byte body: %w", len(body), err)
	}
	return name, key, nil
}

// takeBody reads a body object, deleting it if this reader is its only one
// (also when it refuses it). It needs the key from the message's
// Dpc-Body-Key header; it reads the object's size first and refuses one
// whose plaintext is larger than the node's maximum before fetching any
// content; then it reads, decrypts and authenticates the content segment
// by segment, refusing an object that changed in between, that has more or
// fewer bytes than its info says, or that does not decrypt with the key.
func (n *Node) takeBody(ctx context.Context, of bodyOf, hdr nats.Header, name string, del bool) ([]byte, error) {
	os, err := n.bodies(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("omq: reading body object %s: %w", name, err)
	}
	if del {
		defer n.deleteBody(context.WithoutCancel(ctx), name)
	}
	key, err := bodyKey(hdr, name)
	if err != nil {
		return nil, err
	}
	limit := n.cfg.maxBody
	info, err := os.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("omq: reading body object %s: %w", name, err)
	}
	if info.Opts != nil && info.Opts.Link != nil {
		// omq never sends links; following one would read another object
		// or bucket with the receiver's rights, unchecked for size.
		return nil, fmt.Errorf("omq: body object %s is a link", name)
	}
	size, ok := openedSize(info.Size)
	if !ok {
		return nil, fmt.Errorf("omq: body object %s: %d bytes is not the size of an encrypted body", name, info.Size)
	}
	if size > uint64(limit) {
		return nil, &bodyTooLarge{of: of, size: int64(min(size, 1<<62)), max: int64(limit)}
	}
	r, err := os.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("omq: reading body object %s: %w", name, err)
	}
	defer r.Close()
	if ri, err := r.Info(); err != nil || ri.NUID != info.NUID || ri.Name != name || ri.Size != info.Size {
		return nil, fmt.Errorf("omq: body object %s changed while being read", name)
	}
	body, err := openBody(r, key, name, size)
	if err != nil {
		return nil, fmt.Errorf("omq: body object %s refused: %w", name, err)
	}
	return body, nil
}

// deleteBody deletes a body object this node has read or refused, through
// the hub when it has a deleter (WithBodyDeleter). Failing to delete is
// not the call's failure: the bucket's age limit removes the object.
func (n *Node) deleteBody(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.timeout)
	defer cancel()
	del := n.cfg.bodyDeleter
	if del == nil {
		os, err := n.bodies(ctx, false)
		if err != nil {
			return
		}
		del = os.Delete
	}
	if err := del(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		n.log.Debug("omq: deleting a body object", "object", name, "err", err)
	}
}

// outgoing refuses a body larger than the node's maximum, before storing
// anything, and moves a body too large for one message into the object
// store.
func (n *Node) outgoing(ctx context.Context, of bodyOf, msg *nats.Msg) error {
	if err := n.checkSend(of, len(msg.Data)); err != nil {
		return err
	}
	if !n.tooLarge(len(msg.Data)) {
		return nil
	}
	name, key, err := n.putBody(ctx, msg.Data)
	if err != nil {
		return err
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header[HeaderBodyObject] = []string{name}
	msg.Header[HeaderBodyKey] = []string{formatBodyKey(key)}
	msg.Data = nil
	return nil
}

// hasBodyObject says whether a message's body is in the object store.
func hasBodyObject(hdr nats.Header) bool {
	if hdr == nil {
		return false
	}
	v := hdr[HeaderBodyObject]
	return len(v) > 0 && v[0] != ""
}

// incoming returns a message's body, from the object store if it is there,
// refusing one larger than the node's maximum.
func (n *Node) incoming(ctx context.Context, of bodyOf, hdr nats.Header, data []byte, del bool) ([]byte, error) {
	if !hasBodyObject(hdr) {
		// Larger than the maximum only when that is below the server's
		// max payload.
		if len(data) > n.cfg.maxBody {
			return nil, &bodyTooLarge{of: of, size: int64(len(data)), max: int64(n.cfg.maxBody)}
		}
		return data, nil
	}
	return n.takeBody(ctx, of, hdr, hdr[HeaderBodyObject][0], del)
}
