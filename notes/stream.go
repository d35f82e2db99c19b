package notes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// Streamed notes. Save takes the whole text, and a host that receives it
// in a message holds it several times over (the body, its decoding, the
// bytes saved). SaveStream takes it from a reader of known size instead
// and stores it as it reads it, and Open reads a revision back the same
// way, so a large note costs the host a window of it, not the whole.
//
// What needs the whole text still does: Merge and MergePreview, which
// merge lines, and Get. They are for notes up to MaxNoteSize, which bounds
// every note, streamed or not; a host that raises it for large notes
// accepts that merging one holds it (three versions of it) in memory.

// SaveStream is Save for a text of size bytes read from content. It
// refuses a size over MaxNoteSize before reading anything, and content
// that turns out longer or shorter than size (nothing is saved then).
// Text identical to the latest revision makes no new revision, as with
// Save: it is compared with the latest while it is stored, without
// holding either.
func (s *Store) SaveStream(ctx context.Context, name string, content io.Reader, size int64, baseRevision uint64) (uint64, error) {
	if err := ValidateName(name); err != nil {
		return 0, err
	}
	if size < 0 || size > int64(s.cfg.maxSize) {
		return 0, fmt.Errorf("%w: note %q would be %d bytes, more than the %d-byte limit", ErrTooLarge, name, size, s.cfg.maxSize)
	}
	key := keyFor(name)
	rec, kvRev, latest, err := s.loadForSave(ctx, key, name, baseRevision)
	if err != nil {
		return 0, err
	}
	src := &sizedReader{r: content, left: size}
	var cmp *comparer
	if rec != nil && rec.latest().Size == size {
		old, err := s.openObject(ctx, rec.latest().Object)
		if err == nil {
			defer old.Close()
			cmp = &comparer{r: src, other: old, same: true}
		} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return 0, fmt.Errorf("notes: save %q: read revision %d: %w", name, latest, err)
		}
	}
	var r io.Reader = src
	if cmp != nil {
		r = cmp
	}
	next := latest + 1
	object := contentObject(key, next)
	if err := s.putObject(ctx, object, r); err != nil {
		return 0, fmt.Errorf("notes: save %q: store content: %w", name, err)
	}
	if src.left != 0 {
		s.deleteContent(ctx, name, object)
		return 0, fmt.Errorf("notes: save %q: the text ended %d bytes short of the %d announced", name, src.left, size)
	}
	if cmp != nil && cmp.same && cmp.done() {
		s.deleteContent(ctx, name, object)
		return latest, nil
	}
	return s.commit(ctx, name, key, rec, kvRev, baseRevision, next, object, size)
}

// Open reads a revision of the note as it is fetched (0: the latest); the
// caller closes it. An unknown name, or a revision never saved or no
// longer kept, is ErrNotFound.
func (s *Store) Open(ctx context.Context, name string, revision uint64) (io.ReadCloser, NoteInfo, error) {
	if err := ValidateName(name); err != nil {
		return nil, NoteInfo{}, err
	}
	rec, _, err := s.load(ctx, keyFor(name), name)
	if err != nil {
		return nil, NoteInfo{}, err
	}
	r, err := findRevision(name, rec, revision)
	if err != nil {
		return nil, NoteInfo{}, err
	}
	obj, err := s.openObject(ctx, r.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, NoteInfo{}, fmt.Errorf("%w: revision %d of note %q is no longer kept", ErrNotFound, r.Revision, name)
	}
	if err != nil {
		return nil, NoteInfo{}, fmt.Errorf("notes: read %q revision %d: %w", name, r.Revision, err)
	}
	return obj, r.info(name), nil
}

// sizedReader reads exactly left bytes of r, and fails on one more.
type sizedReader struct {
	r    io.Reader
	left int64
}

var errLonger = errors.New("notes: the text is longer than announced")

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		// One byte more than announced is an error, not the end.
		var one [1]byte
		if n, _ := io.ReadFull(s.r, one[:]); n > 0 {
			return 0, errLonger
		}
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if errors.Is(err, io.EOF) && s.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// comparer passes r on and compares it with other as it goes.
type comparer struct {
	r, other io.Reader
	same     bool
	buf      []byte
}

func (c *comparer) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.same {
		if cap(c.buf) < n {
			c.buf = make([]byte, n)
		}
		b := c.buf[:n]
		if _, oerr := io.ReadFull(c.other, b); oerr != nil || !bytes.Equal(b, p[:n]) {
			c.same = false
		}
	}
	return n, err
}

// done says whether other has nothing left either, once r is read.
func (c *comparer) done() bool {
	var one [1]byte
	n, _ := io.ReadFull(c.other, one[:])
	return n == 0
}
