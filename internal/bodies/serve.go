package bodies

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go"
)

// filesManifest is the bench's service: one function that reads a stream
// argument to the end, one that streams it back.
var filesManifest = &manifests.Manifest{
	Name: Service, Version: "1.0.0", Description: "dpc-bench bodies: streamed arguments and results",
	Functions: []manifests.Function{
		{Name: "sum", Description: "The SHA-256 of a stream.", ReturnType: manifests.TypeString,
			Args: []manifests.Arg{{Name: "data", Type: manifests.TypeStream}}},
		{Name: "cat", Description: "A stream back.", ReturnType: manifests.TypeStream,
			Args: []manifests.Arg{{Name: "data", Type: manifests.TypeStream}}},
	},
}

// Serve is the bench's service process (Config.ServeCmd): it serves the
// files service on the hub at url (with the profile in DPC_HOME) until
// ctx ends, and logs a JSON line whose msg is ready once bound.
func Serve(ctx context.Context, url string, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	url, opts, err := hubconn.Resolve(url, "", "")
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("dpc-bench files")}, opts...)...)
	if err != nil {
		return err
	}
	defer nc.Close()
	node, err := hubconn.NewNode(nc)
	if err != nil {
		return err
	}
	svc := servicehost.Service{Manifest: filesManifest, Handlers: omq.Handlers{
		"sum": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			return readSum(servicehost.Stream(ctx, "data"))
		}),
		"cat": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			return servicehost.Stream(ctx, "data"), nil
		}),
	}}
	cfg := servicehost.Config{Logger: log}
	inst, err := servicehost.Bind(ctx, node, svc, cfg)
	if err != nil {
		return err
	}
	log.Info("ready")
	err = servicehost.Serve(ctx, node, svc, inst, cfg)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
