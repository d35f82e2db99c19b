package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/dpc-project/dpc/omq"
)

// Large notes. save and get carry a note's whole text in one message
// body, which the hub holds whole (several times over) while it handles
// it. A file larger than streamNoteAbove is saved with the hub's
// save_stream instead, and notes get reads with get_stream when it writes
// the text out, so that neither dpc-cli nor the hub holds a large note
// whole (hub.yml; docs/PROTOCOL.md §10.1).

// streamNoteAbove is the size above which notes save streams the file:
// below, one message is cheaper than storing a stream.
const streamNoteAbove = 1 << 20

// scanNote checks a file to be streamed as a note without reading it
// whole: UTF-8 text, and no conflict marker lines (<<<<<<< and >>>>>>>)
// unless allowed.
func scanNote(path string, allowMarkers bool) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErrorf("%v", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var carry []byte // the start of a rune cut by the end of a read
	var opened, closed bool
	lineStart := true
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if lineStart {
				opened = opened || bytes.HasPrefix(chunk, []byte("<<<<<<<"))
				closed = closed || bytes.HasPrefix(chunk, []byte(">>>>>>>"))
			}
			lineStart = chunk[len(chunk)-1] == '\n'
			b := append(carry, chunk...)
			// Keep a possibly incomplete rune at the end for the next read.
			cut := len(b)
			for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
				if utf8.RuneStart(b[i]) {
					if !utf8.FullRune(b[i:]) {
						cut = i
					}
					break
				}
			}
			if !utf8.Valid(b[:cut]) {
				return usageErrorf("%s is not UTF-8 text; notes hold text", path)
			}
			carry = append([]byte(nil), b[cut:]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(carry) > 0 {
		return usageErrorf("%s is not UTF-8 text; notes hold text", path)
	}
	if opened && closed && !allowMarkers {
		return &cliError{code: exitConflict, msg: fmt.Sprintf(
			"%s still has conflict markers (lines starting with <<<<<<< and >>>>>>>): resolve them, then run this again; to keep the markers as they are, add --allow-markers", path)}
	}
	return nil
}

// saveStream saves a large file as revision after base of note name,
// streamed: it stores the file as a stream and calls save_stream.
func (n *notesClient) saveStream(ctx context.Context, path, name string, base uint64) (uint64, error) {
	s, err := putFile(ctx, n.cl, path)
	if err != nil {
		return 0, err
	}
	var rev uint64
	if err := n.call(ctx, "save_stream", &rev, name, s, base); err != nil {
		deleteStreams(n.cl, []omq.Stream{s})
		return 0, err
	}
	return rev, nil
}

// getStream writes revision rev of note name to w as it arrives, and
// returns the bytes written.
func (n *notesClient) getStream(ctx context.Context, name string, rev uint64, w io.Writer) (int64, error) {
	var res json.RawMessage
	if err := n.call(ctx, "get_stream", &res, name, rev); err != nil {
		return 0, err
	}
	return writeStream(ctx, n.cl, res, w)
}

// writeNoteFile writes revision rev of note name to the file path,
// streamed; the file is removed if that fails.
func (n *notesClient) writeNoteFile(ctx context.Context, name string, rev uint64, path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	written, err := n.getStream(ctx, name, rev, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return 0, err
	}
	return written, nil
}
