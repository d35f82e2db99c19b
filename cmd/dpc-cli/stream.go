package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
)

// Streams on the command line. An argument of type stream is a file,
// written @PATH: call reads it a segment at a time into the hub's body
// store (omq.Node.PutStream) and sends its descriptor, so a file of any
// size costs dpc-cli a segment of memory. A stream result is read the same
// way and copied to standard output, or to the file of --out.

// maxStream bounds a stream sent or received: the hub's large-body store
// holds 1 GiB by default (dpc-hub --max-bodies).
const maxStream = 1 << 30

// streamWord reads the word of a stream argument: @PATH, the file to
// send, kept as a JSON string until putStreams stores it.
func streamWord(f *manifests.Function, a manifests.Arg, s string) (json.RawMessage, error) {
	path, ok := strings.CutPrefix(s, "@")
	if !ok || path == "" {
		return nil, usageErrorf("argument %s (stream) of %s: give a file to send as @PATH, got %q", a.Name, f.Name, s)
	}
	b, _ := json.Marshal(s)
	return b, nil
}

// putStreams stores the files named by the stream arguments among args (a
// JSON array from callArgs) and puts their descriptors in their place. It
// returns the streams stored, for the caller to delete should the call
// fail before an instance takes them. Arguments given with --args-json
// are descriptors already (or refused by the instance).
func putStreams(ctx context.Context, cl *client, f *manifests.Function, args json.RawMessage) (json.RawMessage, []omq.Stream, error) {
	if !hasStreamArg(f) || len(args) == 0 || args[0] != '[' {
		return args, nil, nil
	}
	var vals []json.RawMessage
	if err := json.Unmarshal(args, &vals); err != nil || len(vals) != len(f.Args) {
		return args, nil, nil
	}
	var put []omq.Stream
	for i, a := range f.Args {
		var word string
		if a.Type != manifests.TypeStream || json.Unmarshal(vals[i], &word) != nil {
			continue
		}
		s, err := putFile(ctx, cl, strings.TrimPrefix(word, "@"))
		if err != nil {
			deleteStreams(cl, put)
			return nil, nil, fmt.Errorf("argument %s of %s: %w", a.Name, f.Name, err)
		}
		put = append(put, s)
		if vals[i], err = json.Marshal(s); err != nil {
			deleteStreams(cl, put)
			return nil, nil, err
		}
	}
	out, err := json.Marshal(vals)
	return out, put, err
}

func putFile(ctx context.Context, cl *client, path string) (omq.Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return omq.Stream{}, usageErrorf("%v", err)
	}
	defer f.Close()
	s, err := cl.node.PutStream(ctx, f, omq.StreamMax(maxStream))
	if err != nil {
		return omq.Stream{}, fmt.Errorf("sending %s: %w", path, err)
	}
	return s, nil
}

func deleteStreams(cl *client, ss []omq.Stream) {
	for _, s := range ss {
		cl.node.DeleteStream(context.Background(), s)
	}
}

func hasStreamArg(f *manifests.Function) bool {
	for _, a := range f.Args {
		if a.Type == manifests.TypeStream {
			return true
		}
	}
	return false
}

// writeStream reads the stream result res to w as it arrives and deletes
// it; it returns the bytes written.
func writeStream(ctx context.Context, cl *client, res json.RawMessage, w io.Writer) (int64, error) {
	s, err := omq.ParseStream(res)
	if err != nil {
		return 0, fmt.Errorf("the result is not a stream: %w", err)
	}
	r, err := cl.node.OpenStream(ctx, s, true, omq.StreamMax(maxStream))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err != nil {
		return n, fmt.Errorf("reading the result after %d of its %d bytes: %w", n, s.Size, err)
	}
	return n, nil
}

// writeStreamResult writes a stream result to the file out, or to stdout
// when out is "".
func writeStreamResult(ctx context.Context, cl *client, res json.RawMessage, out string, stdout io.Writer) (int64, error) {
	if out == "" {
		return writeStream(ctx, cl, res, stdout)
	}
	f, err := os.Create(out)
	if err != nil {
		return 0, usageErrorf("%v", err)
	}
	n, err := writeStream(ctx, cl, res, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, errors.Join(err, os.Remove(out))
	}
	return n, nil
}
