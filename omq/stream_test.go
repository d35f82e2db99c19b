package omq_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamBytes is size bytes of seeded noise, so a misplaced segment shows.
func streamBytes(size int) []byte {
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// hasher is a service that hashes a streamed argument as it reads it, and
// streams one back.
type hasher struct{ n *omq.Node }

func (h hasher) Sum(ctx context.Context, s omq.Stream) (string, error) {
	r, err := h.n.OpenStream(ctx, s, true)
	if err != nil {
		return "", err
	}
	defer r.Close()
	d := sha256.New()
	if _, err := io.Copy(d, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(d.Sum(nil)), nil
}

func (h hasher) Echo(ctx context.Context, s omq.Stream) (omq.Stream, error) {
	r, err := h.n.OpenStream(ctx, s, true)
	if err != nil {
		return omq.Stream{}, err
	}
	defer r.Close()
	return h.n.PutStream(ctx, r)
}

func bodyObjects(t *testing.T, nc *nats.Conn) []*jetstream.ObjectInfo {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(ctxT(t, 5*time.Second), "DPC_BODIES")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.List(ctxT(t, 5*time.Second))
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	return objs
}

// A streamed argument and a streamed result, over several segments and
// object chunks (and not a whole number of either), arrive intact, and
// leave no object behind.
func TestStream_RoundTripsThroughACall(t *testing.T) {
	e := newEnv(t)
	srv, _ := e.node()
	bind(t, srv, "hash", hasher{srv})
	cli, nc := e.node()

	// 1048320 bytes seal to exactly eight 128 KiB object chunks: the
	// last read of the put finds nothing, with a window of acks behind it.
	for _, size := range []int{0, 1, 64 << 10, 1048320, 3<<20 + 12345} {
		body := streamBytes(size)
		ctx := ctxT(t, 30*time.Second)
		s, err := cli.PutStream(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != int64(size) {
			t.Fatalf("stream of %d bytes says %d", size, s.Size)
		}
		var got string
		if err := cli.Lookup("hash").Call(ctx, "sum", omq.Args(s), &got); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if got != sum(body) {
			t.Fatalf("%d bytes: the service hashed %s, want %s", size, got, sum(body))
		}

		s, err = cli.PutStream(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var back omq.Stream
		if err := cli.Lookup("hash").Call(ctx, "echo", omq.Args(s), &back); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		r, err := cli.OpenStream(ctx, back, true)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sum(out) != sum(body) {
			t.Fatalf("%d bytes: the streamed result differs (%d bytes back)", size, len(out))
		}
	}
	if objs := bodyObjects(t, nc); len(objs) != 0 {
		t.Fatalf("%d body objects left behind", len(objs))
	}
}

// sealed reads an object's sealed bytes as stored.
func sealed(t *testing.T, store jetstream.ObjectStore, name string) []byte {
	t.Helper()
	b, err := store.GetBytes(ctxT(t, 10*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A stream whose object was altered, reordered, cut short or extended is
// refused with an error saying so, and Read hands out nothing it has not
// authenticated.
func TestStream_RefusesTamperedObjects(t *testing.T) {
	e := newEnv(t)
	n, nc := e.node()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const seg, sealedSeg = 64 << 10, 64<<10 + 16
	body := streamBytes(3*seg + 100) // four segments
	ctx := ctxT(t, 60*time.Second)
	put := func() (omq.Stream, []byte) {
		s, err := n.PutStream(ctx, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		store, err := js.ObjectStore(ctx, "DPC_BODIES")
		if err != nil {
			t.Fatal(err)
		}
		return s, sealed(t, store, s.Object)
	}
	replace := func(name string, b []byte) {
		store, _ := js.ObjectStore(ctx, "DPC_BODIES")
		if _, err := store.PutBytes(ctx, name, b); err != nil {
			t.Fatal(err)
		}
	}
	read := func(s omq.Stream) ([]byte, error) {
		r, err := n.OpenStream(ctx, s, true)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}

	cases := []struct {
		name   string
		change func(s *omq.Stream, b []byte) []byte
		want   string
	}{
		{"a flipped bit", func(s *omq.Stream, b []byte) []byte { b[2*sealedSeg+7] ^= 1; return b }, "does not decrypt"},
		{"two segments swapped", func(s *omq.Stream, b []byte) []byte {
			out := append([]byte{}, b[sealedSeg:2*sealedSeg]...)
			out = append(out, b[:sealedSeg]...)
			return append(out, b[2*sealedSeg:]...)
		}, "does not decrypt"},
		{"cut after a segment, size sent to match", func(s *omq.Stream, b []byte) []byte {
			s.Size = 2 * seg
			return b[:2*sealedSeg]
		}, "does not decrypt"},
		{"cut short", func(s *omq.Stream, b []byte) []byte { return b[:len(b)-50] }, "not a sealed body"},
		{"extended by a segment", func(s *omq.Stream, b []byte) []byte { return append(b, b[:sealedSeg]...) }, "not a sealed body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, b := put()
			b = c.change(&s, b)
			replace(s.Object, b)
			got, err := read(s)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), s.Object) {
				t.Fatalf("read %d bytes, err %v; want an error naming %s that says %q", len(got), err, s.Object, c.want)
			}
			if len(got) > 2*seg {
				t.Fatalf("%d bytes handed out before the broken segment", len(got))
			}
		})
	}

	// Another key: nothing decrypts.
	s, _ := put()
	other, _ := put()
	s.Key = other.Key
	if _, err := read(s); err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("read with the wrong key: %v", err)
	}
}

// Sizes are checked against the maximum body before any content moves:
// a sender's file is refused before anything is stored, an unsized
// reader once it passes the maximum (nothing left behind), and a reader
// refuses a stream whose size is over its own maximum before reading.
func TestStream_SizeLimits(t *testing.T) {
	e := newEnv(t)
	small, nc := e.node(omq.WithMaxBody(100 << 10))
	big, _ := e.node()
	ctx := ctxT(t, 30*time.Second)

	if _, err := small.PutStream(ctx, io.LimitReader(zeros{}, 200<<10)); !errors.Is(err, omq.ErrTooLarge) || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("put of 200 KiB under a 100 KiB maximum: %v", err)
	}
	if objs := bodyObjects(t, nc); len(objs) != 0 {
		t.Fatalf("a refused stream left %d objects", len(objs))
	}

	s, err := big.PutStream(ctx, bytes.NewReader(streamBytes(200<<10)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = small.OpenStream(ctx, s, true)
	if !errors.Is(err, omq.ErrTooLarge) || !strings.Contains(err.Error(), "204800 bytes") {
		t.Fatalf("open of 200 KiB under a 100 KiB maximum: %v", err)
	}
	// A descriptor that understates the size is refused by the object's
	// info, still before reading.
	s, err = big.PutStream(ctx, bytes.NewReader(streamBytes(200<<10)))
	if err != nil {
		t.Fatal(err)
	}
	s.Size = 1000
	if _, err := small.OpenStream(ctx, s, true); err == nil || !strings.Contains(err.Error(), "not a sealed body of the 1000 bytes") {
		t.Fatalf("open of an understated stream: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// The descriptor's JSON form is strict.
func TestStream_ParseStream(t *testing.T) {
	good := `{"stream":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","key":"` + strings.Repeat("A", 43) + `","size":5}`
	if s, err := omq.ParseStream(json.RawMessage(good)); err != nil || s.Size != 5 {
		t.Fatalf("%s: %v %v", good, s, err)
	}
	for _, bad := range []string{
		`{}`, `"x"`, `[1]`,
		`{"stream":"abc","key":"` + strings.Repeat("A", 43) + `","size":5}`,
		`{"stream":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","key":"short","size":5}`,
		`{"stream":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","key":"` + strings.Repeat("A", 43) + `","size":-1}`,
		`{"stream":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","key":"` + strings.Repeat("A", 43) + `","size":5,"x":1}`,
		`{"stream":"ABCDEFGHIJKLMNOPQRSTUVWXYZ","key":"` + strings.Repeat("A", 43) + `","sise":5}`,
	} {
		if _, err := omq.ParseStream(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
