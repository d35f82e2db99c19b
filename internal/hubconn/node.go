package hubconn

import (
	"context"

	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// NewNode is omq.New for a DPC command: a large body it was the only
// reader of is deleted by asking the hub (trust.BodiesService), since an
// identity's role may read an object by name but not purge the store.
func NewNode(nc *nats.Conn, opts ...omq.Option) (*omq.Node, error) {
	var node *omq.Node
	deleter := omq.WithBodyDeleter(func(ctx context.Context, name string) error {
		return node.Lookup(trust.BodiesService).Send(ctx, trust.FnDelete, omq.Args(name))
	})
	node, err := omq.New(nc, append([]omq.Option{deleter}, opts...)...)
	return node, err
}
