package omq

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nats-io/nats.go"
)

// Sealing and opening round-trip at every segment boundary, the sealed
// size is what sealedSize says, and openedSize inverts it.
func TestSeal_RoundTrip(t *testing.T) {
	const S = sealSegment
	for _, size := range []int{0, 1, 15, 16, 17, S - 1, S, S + 1, 2 * S, 3*S + 5} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		key := newBodyKey()
		r, err := newSealer(key, "NAME", plain)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(sealed)) != sealedSize(uint64(size)) {
			t.Fatalf("%d bytes sealed to %d, want %d", size, len(sealed), sealedSize(uint64(size)))
		}
		if p, ok := openedSize(uint64(len(sealed))); !ok || p != uint64(size) {
			t.Fatalf("openedSize(%d) = %d, %v; want %d", len(sealed), p, ok, size)
		}
		if size >= 16 && bytes.Contains(sealed, plain[:16]) {
			t.Fatalf("%d bytes: the sealed form contains the plaintext", size)
		}
		// Small reads, as the object store's reader may give.
		got, err := openBody(iotest.HalfReader(bytes.NewReader(sealed)), key, "NAME", uint64(size))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: opened %d bytes, %v", size, len(got), err)
		}
		if _, err := openBody(bytes.NewReader(sealed), key, "OTHER", uint64(size)); !errors.Is(err, errSealBroken) {
			t.Fatalf("%d bytes: opened under another name: %v", size, err)
		}
		if _, err := openBody(bytes.NewReader(sealed), newBodyKey(), "NAME", uint64(size)); !errors.Is(err, errSealBroken) {
			t.Fatalf("%d bytes: opened with another key: %v", size, err)
		}
		if _, err := openBody(bytes.NewReader(append(sealed, 0)), key, "NAME", uint64(size)); err == nil {
			t.Fatalf("%d bytes: opened with a byte appended", size)
		}
		if size > 0 {
			sealed[len(sealed)/2] ^= 1
			if _, err := openBody(bytes.NewReader(sealed), key, "NAME", uint64(size)); !errors.Is(err, errSealBroken) {
				t.Fatalf("%d bytes: opened with a bit flipped: %v", size, err)
			}
		}
	}
}

// A body cut at a segment boundary has the size of a shorter sealed body
// but not its last segment, and is refused.
func TestSeal_TruncationIsRefused(t *testing.T) {
	plain := make([]byte, 3*sealSegment+100)
	key := newBodyKey()
	r, err := newSealer(key, "NAME", plain)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := io.ReadAll(r)
	cut := sealed[:2*sealedSegment]
	p, ok := openedSize(uint64(len(cut)))
	if !ok || p != 2*sealSegment {
		t.Fatalf("openedSize(%d) = %d, %v", len(cut), p, ok)
	}
	if _, err := openBody(bytes.NewReader(cut), key, "NAME", p); !errors.Is(err, errSealBroken) {
		t.Fatalf("truncated body: %v, want it refused", err)
	}
}

// Sizes that no sealed body has are refused.
func TestSeal_OpenedSizeRefusesImpossibleSizes(t *testing.T) {
	for _, size := range []uint64{0, 1, 15, sealedSegment + 1, sealedSegment + 15, sealedSegment + 16, 5*sealedSegment + 16} {
		if p, ok := openedSize(size); ok {
			t.Errorf("openedSize(%d) = %d, ok; want refused", size, p)
		}
	}
}

// The key header must be exactly 32 bytes in unpadded base64url.
func TestSeal_BodyKeyHeader(t *testing.T) {
	key := newBodyKey()
	good := formatBodyKey(key)
	if len(good) != 43 {
		t.Fatalf("key header %q: %d characters, want 43", good, len(good))
	}
	if k, err := bodyKey(nats.Header{HeaderBodyKey: {good}}, "N"); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("bodyKey(%q) = %x, %v", good, k, err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// The same 32 bytes with a nonzero padding bit in the last character.
	loose := good[:42] + string(alphabet[strings.IndexByte(alphabet, good[42])^1])
	for _, bad := range []string{"", good + "=", good[:42], good + "A", "++++" + good[4:], formatBodyKey(key[:16]), loose} {
		if _, err := bodyKey(nats.Header{HeaderBodyKey: {bad}}, "N"); err == nil {
			t.Errorf("key header %q accepted", bad)
		}
	}
	if _, err := bodyKey(nil, "N"); err == nil {
		t.Error("no key header accepted")
	}
}
