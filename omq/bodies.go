package omq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Large bodies. A NATS message is capped by the server's max payload
// (1 MiB by default). A request or reply body larger than the node's body
// limit travels through a JetStream object store instead, which stores it
// in chunks: the sender puts the body as an object and sends the message
// with no body and the object's name in the Dpc-Body-Object header; the
// receiver reads the object back. The reader of a unicast request or of a
// reply deletes the object; bodies of multi and durable calls, which
// several readers or a later redelivery may need, are left to the bucket's
// age limit.

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

func (n *Node) bodiesBucket() string {
	return strings.ToUpper(n.cfg.prefix) + "_BODIES"
}

// bodies opens (creating if needed) the object store for large bodies.
func (n *Node) bodies(ctx context.Context) (jetstream.ObjectStore, error) {
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
	if errors.Is(err, jetstream.ErrBucketNotFound) {
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

// putBody stores body and returns the object's name.
func (n *Node) putBody(ctx context.Context, body []byte) (string, error) {
	os, err := n.bodies(ctx)
	if err != nil {
		return "", err
	}
	name := nuid.Next()
	if _, err := os.PutBytes(ctx, name, body); err != nil {
		return "", fmt.Errorf("omq: storing a %d-byte body: %w", len(body), err)
	}
	return name, nil
}

// takeBody reads a body object, deleting it if this reader is its only one.
func (n *Node) takeBody(ctx context.Context, name string, del bool) ([]byte, error) {
	os, err := n.bodies(ctx)
	if err != nil {
		return nil, err
	}
	b, err := os.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("omq: reading body object %s: %w", name, err)
	}
	if del {
		if err := os.Delete(ctx, name); err != nil {
			n.log.Debug("omq: deleting a body object", "object", name, "err", err)
		}
	}
	return b, nil
}

// outgoing moves a too-large body of msg into the object store.
func (n *Node) outgoing(ctx context.Context, msg *nats.Msg) error {
	if !n.tooLarge(len(msg.Data)) {
		return nil
	}
	name, err := n.putBody(ctx, msg.Data)
	if err != nil {
		return err
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header[HeaderBodyObject] = []string{name}
	msg.Data = nil
	return nil
}

// incoming returns a message's body, from the object store if it is there.
func (n *Node) incoming(ctx context.Context, hdr nats.Header, data []byte, del bool) ([]byte, error) {
	if hdr == nil {
		return data, nil
	}
	v := hdr[HeaderBodyObject]
	if len(v) == 0 || v[0] == "" {
		return data, nil
	}
	return n.takeBody(ctx, v[0], del)
}
