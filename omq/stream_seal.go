package omq

import (
	"bufio"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// A streamed body is sealed exactly as a body object is (seal.go): 64 KiB
// segments under AES-256-GCM, nonce = segment index and last-segment flag,
// the object name as additional data. What differs is where the plaintext
// comes from and goes to: the sealer below reads it from an io.Reader, one
// segment ahead, and the opener hands it out as it decrypts, so neither
// end ever holds more than a segment of it.

// streamSealer reads as the sealed form of what src holds, one segment at
// a time, and fails once src has given more than max bytes.
type streamSealer struct {
	aead  cipher.AEAD
	aad   []byte
	src   *bufio.Reader
	max   int64
	n     int64  // plaintext bytes read from src
	i     uint64 // next segment
	done  bool   // the last segment is sealed
	plain []byte // one plaintext segment
	buf   []byte // one sealed segment
	out   []byte // what of buf is not read yet
	nonce [12]byte
	err   error
}

// errStreamTooLarge stops a sealer whose source gave more than its
// maximum; PutStream turns it into a *bodyTooLarge.
var errStreamTooLarge = errors.New("omq: the stream is larger than the maximum body")

func newStreamSealer(key []byte, name string, src io.Reader, max int64) (*streamSealer, error) {
	aead, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	return &streamSealer{
		aead: aead, aad: []byte(name), src: bufio.NewReader(src), max: max,
		plain: make([]byte, sealSegment), buf: make([]byte, 0, sealedSegment),
	}, nil
}

// seal reads and seals the next segment. A segment is the last one when
// src has nothing after it, which a one-byte peek tells without reading
// further ahead.
func (s *streamSealer) seal() error {
	k, err := io.ReadFull(s.src, s.plain)
	last := false
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	case err != nil:
		return err
	default:
		_, perr := s.src.Peek(1)
		switch {
		case errors.Is(perr, io.EOF):
			last = true
		case perr != nil:
			return perr
		}
	}
	if s.n += int64(k); s.n > s.max {
		return errStreamTooLarge
	}
	s.out = s.aead.Seal(s.buf[:0], segmentNonce(&s.nonce, s.i, last), s.plain[:k], s.aad)
	s.i, s.done = s.i+1, last
	return nil
}

func (s *streamSealer) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.out) == 0 {
			if s.done || s.err != nil {
				break
			}
			if s.err = s.seal(); s.err != nil {
				break
			}
		}
		c := copy(p[n:], s.out)
		s.out, n = s.out[c:], n+c
	}
	switch {
	case n > 0 || len(p) == 0:
		return n, nil
	case s.err != nil:
		return 0, s.err
	}
	return 0, io.EOF
}

// streamOpener decrypts and authenticates a sealed body of a known
// plaintext size as it is read from src, and at the end makes sure src
// has nothing more (which also has the object store check its digest).
type streamOpener struct {
	aead  cipher.AEAD
	aad   []byte
	src   io.Reader
	i     uint64 // next segment
	segs  uint64 // segments in all
	left  uint64 // sealed bytes not read yet
	buf   []byte // one sealed segment, opened in place
	out   []byte // plaintext not handed out yet
	nonce [12]byte
	err   error // sticky: io.EOF at the end, or why the body was refused
}

func newStreamOpener(key []byte, name string, src io.Reader, size uint64) (*streamOpener, error) {
	aead, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	return &streamOpener{
		aead: aead, aad: []byte(name), src: src,
		segs: segments(size), left: sealedSize(size),
		buf: make([]byte, min(sealedSegment, sealedSize(size))),
	}, nil
}

// next opens the next segment into out, or sets err.
func (o *streamOpener) next() error {
	if o.i == o.segs {
		var one [1]byte
		switch n, err := io.ReadFull(o.src, one[:]); {
		case n > 0:
			return errors.New("it is longer than its info says")
		case !errors.Is(err, io.EOF):
			return err
		}
		return io.EOF
	}
	seg := o.buf[:min(uint64(sealedSegment), o.left)]
	if _, err := io.ReadFull(o.src, seg); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("it is shorter than its info says")
		}
		return err
	}
	o.left -= uint64(len(seg))
	out, err := o.aead.Open(seg[:0], segmentNonce(&o.nonce, o.i, o.i == o.segs-1), seg, o.aad)
	if err != nil {
		return fmt.Errorf("segment %d of %d: %w", o.i, o.segs, errSealBroken)
	}
	o.out, o.i = out, o.i+1
	return nil
}

func (o *streamOpener) Read(p []byte) (int, error) {
	for len(o.out) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		o.err = o.next()
	}
	n := copy(p, o.out)
	o.out = o.out[n:]
	return n, nil
}
