package hub

import (
	"context"
	"errors"

	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// builtins are the hub's own functions, described by manifests/hub.yml and
// served like any extra service's: the notes application's save, get,
// merge, merge_preview, revision, list, history, save_stream and
// get_stream, and nopKserv.
func builtins(store *notes.Store) omq.Handlers {
	return omq.Handlers{
		"save": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name, content string
			var base uint64
			if err := req.Decode(&name, &content, &base); err != nil {
				return nil, err
			}
			rev, err := store.Save(ctx, name, []byte(content), base)
			return rev, notesError(err)
		}),
		"get": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name string
			var rev uint64
			if err := req.Decode(&name, &rev); err != nil {
				return nil, err
			}
			n, err := store.Get(ctx, name, rev)
			if err != nil {
				return nil, notesError(err)
			}
			return string(n.Content), nil
		}),
		"merge": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name, content string
			var base uint64
			if err := req.Decode(&name, &content, &base); err != nil {
				return nil, err
			}
			res, err := store.Merge(ctx, name, []byte(content), base)
			if err != nil {
				return nil, notesError(err)
			}
			return res.Revision, nil
		}),
		// merge_preview gives the text a conflicting merge did not save
		// (a 409 carries only a description), for the person to resolve.
		"merge_preview": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name, content string
			var base, rev uint64
			if err := req.Decode(&name, &content, &base, &rev); err != nil {
				return nil, err
			}
			res, err := store.MergePreview(ctx, name, []byte(content), base, rev)
			if err != nil {
				return nil, notesError(err)
			}
			return string(res.Content), nil
		}),
		"revision": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name string
			if err := req.Decode(&name); err != nil {
				return nil, err
			}
			// The history is metadata only: no need to read the content.
			infos, err := store.History(ctx, name)
			if err != nil {
				return nil, notesError(err)
			}
			if len(infos) == 0 {
				return nil, omq.Errorf(404, "no note named %q", name)
			}
			return infos[len(infos)-1].Revision, nil
		}),
		"list": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			infos, err := store.List(ctx)
			if err != nil {
				return nil, notesError(err)
			}
			out := make([]string, len(infos))
			for i, n := range infos {
				out[i] = n.Name
			}
			return out, nil
		}),
		"history": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name string
			if err := req.Decode(&name); err != nil {
				return nil, err
			}
			infos, err := store.History(ctx, name)
			if err != nil {
				return nil, notesError(err)
			}
			out := make([]string, len(infos))
			for i, n := range infos {
				out[i] = notes.HistoryLine(n)
			}
			return out, nil
		}),
		// save_stream and get_stream move a note as a stream (notes'
		// SaveStream and Open): the hub holds a window of it, not the
		// whole, however large the note.
		"save_stream": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name string
			var base uint64
			if err := req.Decode(&name, new(omq.Stream), &base); err != nil {
				return nil, err
			}
			content := servicehost.Stream(ctx, "content")
			rev, err := store.SaveStream(ctx, name, content, content.Size(), base)
			return rev, notesError(err)
		}),
		"get_stream": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var name string
			var rev uint64
			if err := req.Decode(&name, &rev); err != nil {
				return nil, err
			}
			r, _, err := store.Open(ctx, name, rev)
			if err != nil {
				return nil, notesError(err)
			}
			return r, nil // stored as a stream by the host, which closes it
		}),
		// nopKserv does nothing: the thesis's round-trip probe of the hub
		// itself, for comparing the hub's call overhead with an extra
		// service's nopExtra.
		"nopKserv": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return nil, nil }),
	}
}

// notesError gives the caller the notes package's errors as codes: a stale
// base revision is a 409 carrying both revisions, and so is a merge with
// conflicts (nothing saved), naming where they are; an unknown note is a
// 404.
func notesError(err error) error {
	var ce *notes.ConflictError
	var mc *notes.MergeConflictError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return omq.Errorf(409, "note %q changed since revision %d: the latest is revision %d; get it, or merge your edit", ce.Name, ce.Base, ce.Latest)
	case errors.As(err, &mc):
		return omq.Errorf(409, "%v. To resolve them: merge_preview with revision %d gives the merged text with conflict markers; edit it and save it with base_revision %d",
			mc, mc.Latest, mc.Latest)
	case errors.Is(err, notes.ErrNotFound):
		return omq.Errorf(404, "%v", err)
	case errors.Is(err, notes.ErrTooLarge):
		return omq.Errorf(omq.CodeTooLarge, "%v", err)
	case errors.Is(err, notes.ErrTooMany):
		// Insufficient storage: a 5xx, so the durable lane retries later.
		return omq.Errorf(507, "%v", err)
	case errors.Is(err, notes.ErrInvalidName):
		return omq.Errorf(omq.CodeBadArguments, "%v", err)
	case jetStreamUnavailable(err):
		// A cluster electing the notes' stream leader (a hub just went):
		// a 503, which an idempotent caller sends again and the durable
		// lane redelivers.
		return omq.Errorf(omq.CodeUnavailable, "the notes store is unavailable for now, try again: %v", err)
	}
	return err
}

// jetStreamUnavailable: JetStream could not serve a request now but may
// soon — it said so (a 503), or nobody answered its API.
func jetStreamUnavailable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout)
}
