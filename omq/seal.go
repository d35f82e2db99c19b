package omq

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
)

// Body objects are encrypted end to end. The object store's chunk subjects
// are named with sequential NUIDs, and callers may read chunk subjects (to
// fetch objects whose names they were sent) and publish to them (to put
// objects), so the store itself keeps nobody else's body secret or intact.
// The sender therefore seals every body object with a fresh 256-bit key
// (AES-256-GCM) and sends the key in the Dpc-Body-Key header next to
// Dpc-Body-Object: headers reach only the message's recipients, so only
// the call's parties can read the body, and any change to the stored bytes
// fails authentication.
//
// Layout: the plaintext is cut into segments of sealSegment bytes (the
// last one shorter, and an empty body one empty segment); each is sealed
// on its own, so both ends hold the body once plus one segment, never a
// second copy of it. Segment i (from 0) is sealed with the 96-bit nonce
// made of i as an 88-bit big-endian number followed by one byte, 1 for the
// last segment and 0 for the others, and with the object's name as
// additional authenticated data. The key is used for this one body only,
// so counter nonces never repeat under it; the index stops segments being
// reordered or dropped, the last-segment flag stops the body being cut
// short or extended, and the name stops a sealed body being passed off as
// another object. The object is the sealed segments one after another: its
// size is the plaintext's plus sealTag bytes per segment.

// HeaderBodyKey carries the key of a message's body object: 32 bytes in
// unpadded base64url (RFC 4648 §5), 43 characters.
const HeaderBodyKey = "Dpc-Body-Key"

const (
	bodyKeySize   = 32       // AES-256
	sealSegment   = 64 << 10 // plaintext bytes per segment
	sealTag       = 16       // GCM tag bytes per segment
	sealedSegment = sealSegment + sealTag
	bodyKeyChars  = 43 // base64url of bodyKeySize bytes, unpadded
)

var bodyKeyEncoding = base64.RawURLEncoding.Strict()

// newBodyKey is a fresh key from crypto/rand.
func newBodyKey() []byte {
	k := make([]byte, bodyKeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand.Read, Go 1.24+)
	return k
}

func formatBodyKey(k []byte) string { return bodyKeyEncoding.EncodeToString(k) }

// bodyKey reads the Dpc-Body-Key header of a message naming body object
// name.
func bodyKey(hdr nats.Header, name string) ([]byte, error) {
	v := hdr[HeaderBodyKey]
	if len(v) == 0 || v[0] == "" {
		return nil, fmt.Errorf("omq: body object %s: the message has no %s header (the key of the encrypted body)", name, HeaderBodyKey)
	}
	k, err := bodyKeyEncoding.DecodeString(v[0])
	if err != nil || len(v[0]) != bodyKeyChars || len(k) != bodyKeySize {
		return nil, fmt.Errorf("omq: body object %s: %s is not a 256-bit key in unpadded base64url", name, HeaderBodyKey)
	}
	return k, nil
}

func bodyAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// segmentNonce is the nonce of segment i: i in the first 11 bytes, big
// endian, then 1 if it is the last segment and 0 if not.
func segmentNonce(nonce *[12]byte, i uint64, last bool) []byte {
	*nonce = [12]byte{}
	binary.BigEndian.PutUint64(nonce[3:11], i)
	if last {
		nonce[11] = 1
	}
	return nonce[:]
}

// segments is how many segments a plaintext of size bytes is sealed in.
func segments(size uint64) uint64 {
	return max(1, size/sealSegment+min(1, size%sealSegment))
}

// sealedSize is the size of the object holding a plaintext of size bytes.
func sealedSize(size uint64) uint64 { return size + sealTag*segments(size) }

// openedSize is the size of the plaintext in an object of size bytes, and
// whether size is that of a sealed body at all.
func openedSize(size uint64) (uint64, bool) {
	if size < sealTag {
		return 0, false
	}
	n := size / sealedSegment
	if size%sealedSegment != 0 {
		n++
	}
	p := size - sealTag*n
	return p, size >= sealTag*n && sealedSize(p) == size
}

// sealer reads as the sealed form of a plaintext, one segment at a time.
type sealer struct {
	aead  cipher.AEAD
	aad   []byte
	plain []byte // not sealed yet
	i     uint64 // next segment
	done  bool   // the last segment is sealed
	buf   []byte // one sealed segment
	out   []byte // what of buf is not read yet
	nonce [12]byte
}

func newSealer(key []byte, name string, plain []byte) (*sealer, error) {
	aead, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, aad: []byte(name), plain: plain, buf: make([]byte, 0, sealedSegment)}, nil
}

func (s *sealer) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.out) == 0 {
			if s.done {
				break
			}
			k := min(len(s.plain), sealSegment)
			last := k == len(s.plain)
			s.out = s.aead.Seal(s.buf[:0], segmentNonce(&s.nonce, s.i, last), s.plain[:k], s.aad)
			s.plain, s.i, s.done = s.plain[k:], s.i+1, last
		}
		c := copy(p[n:], s.out)
		s.out, n = s.out[c:], n+c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// errSealBroken is a body object that does not decrypt with the key sent.
var errSealBroken = errors.New("it does not decrypt with the key sent: it was altered or replaced, or the key is wrong")

// openBody reads the sealed body of object name, whose info gave its
// plaintext size, from r, decrypting and authenticating it segment by
// segment, and then makes sure that r has nothing more.
func openBody(r io.Reader, key []byte, name string, size uint64) ([]byte, error) {
	aead, err := bodyAEAD(key)
	if err != nil {
		return nil, err
	}
	aad := []byte(name)
	out := make([]byte, 0, size)
	buf := make([]byte, min(sealedSegment, sealedSize(size)))
	var nonce [12]byte
	left := sealedSize(size)
	for i, n := uint64(0), segments(size); i < n; i++ {
		seg := buf[:min(uint64(sealedSegment), left)]
		left -= uint64(len(seg))
		if _, err := io.ReadFull(r, seg); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errors.New("it is shorter than its info says")
			}
			return nil, err
		}
		if out, err = aead.Open(out, segmentNonce(&nonce, i, i == n-1), seg, aad); err != nil {
			return nil, errSealBroken
		}
	}
	// Reading to the end also has the object store check the content's
	// digest.
	var one [1]byte
	switch n, err := io.ReadFull(r, one[:]); {
	case n > 0:
		return nil, errors.New("it is longer than its info says")
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	return out, nil
}
