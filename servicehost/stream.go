package servicehost

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// Streamed arguments and results. An argument of type stream arrives as a
// stream's descriptor (omq.Stream); the host opens it before the handler
// runs — so that an oversize one is a 413 and a missing or malformed one a
// 400 without the handler — and hands the handler a reader over it
// (Stream), which decrypts and authenticates the body as the handler reads
// it: a handler that copies it to a file or hashes it holds a segment of
// it at a time. The host closes the readers when the handler returns and,
// for a call that had one recipient, deletes the objects. A function whose
// return_type is stream returns any io.Reader (or an omq.Stream it has
// stored already); the host stores it as a stream and replies with its
// descriptor.

type streamsKey struct{}

// streams are a call's opened stream arguments by name.
type streams map[string]*omq.StreamReader

// Stream is the reader over the stream argument named arg of the call
// whose handler has ctx, or nil if the call has no such argument. Read it
// before the handler returns; the host closes it then.
func Stream(ctx context.Context, arg string) *omq.StreamReader {
	s, _ := ctx.Value(streamsKey{}).(streams)
	return s[arg]
}

// streamArgs lists the stream arguments of f by position; nil when it has
// none, so that other functions pay nothing.
func streamArgs(f *manifests.Function) []int {
	var idx []int
	for i, a := range f.Args {
		if a.Type == manifests.TypeStream {
			idx = append(idx, i)
		}
	}
	return idx
}

// openStreams opens f's stream arguments among args (checked against the
// manifest: each is a well-formed descriptor). On an error it closes those
// already open.
func openStreams(ctx context.Context, node *omq.Node, f *manifests.Function, idx []int, args []json.RawMessage, kind omq.Kind, max omq.StreamOption) (streams, error) {
	// The only recipient of a unicast or direct call deletes its objects;
	// those of multi and durable calls are left to the bucket's age limit.
	del := kind == omq.KindUnicast || kind == omq.KindDirect
	out := make(streams, len(idx))
	for _, i := range idx {
		name := f.Args[i].Name
		s, err := omq.ParseStream(args[i])
		if err == nil {
			out[name], err = node.OpenStream(ctx, s, del, max)
		}
		if err != nil {
			out.close()
			if errors.Is(err, omq.ErrTooLarge) {
				return nil, omq.Errorf(omq.CodeTooLarge, "%s: argument %q: %v", f.Name, name, err)
			}
			return nil, omq.Errorf(omq.CodeBadArguments, "%s: argument %q: %v", f.Name, name, err)
		}
	}
	return out, nil
}

func (s streams) close() {
	for _, r := range s {
		if r != nil {
			r.Close()
		}
	}
}

// storeResult stores a stream function's result when the handler returned
// a reader, closing it if it is a Closer.
func storeResult(ctx context.Context, node *omq.Node, service string, f *manifests.Function, res any, max omq.StreamOption) (any, error) {
	switch r := res.(type) {
	case omq.Stream, *omq.Stream, nil:
		return res, nil
	case io.Reader:
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		s, err := node.PutStream(ctx, r, max)
		if err != nil {
			return nil, omq.Errorf(omq.CodeHandlerFailure, "%s.%s: storing the result stream: %v", service, f.Name, err)
		}
		return s, nil
	}
	return nil, omq.Errorf(omq.CodeHandlerFailure, "%s.%s returns a stream: want an io.Reader or omq.Stream, got %T", service, f.Name, res)
}
