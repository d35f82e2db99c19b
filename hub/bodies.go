package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
)

// The large-body store lets a caller read an object by its name but not
// delete from the store: a delete purges chunks, and a purge cannot be
// limited to one object's. So the reader of an object asks the hub to
// delete it (omq.WithBodyDeleter; hubconn.NewNode sets it up). Only the
// call's parties know an object's 128-bit random name, so only they can
// have it deleted.

const bodiesBucket = "DPC_BODIES"

func (h *Hub) bindBodies(ctx context.Context) error {
	store, err := h.js.ObjectStore(ctx, bodiesBucket)
	if err != nil {
		return fmt.Errorf("large-body store: %w", err)
	}
	del := omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
		var name string
		if err := req.Decode(&name); err != nil {
			return nil, err
		}
		if !validBodyName(name) {
			return nil, omq.Errorf(omq.CodeBadArguments, "%q is not a body object's name", name)
		}
		if err := store.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, err
		}
		return nil, nil
	})
	if _, err := h.node.Bind(ctx, trust.BodiesService, omq.Handlers{trust.FnDelete: del}, omq.NoDurable(),
		omq.Description("DPC large bodies: a reader has an object deleted by its name")); err != nil {
		return fmt.Errorf("bodies: %w", err)
	}
	return nil
}

// validBodyName: omq's object names are 26 characters of base32.
func validBodyName(name string) bool {
	if len(name) != 26 {
		return false
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}
