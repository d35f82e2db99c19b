package objchunks_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/objchunks"
	"github.com/nats-io/nats.go/jetstream"
)

const bucket = "T"

func setup(t *testing.T) (context.Context, jetstream.JetStream, jetstream.ObjectStore) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	js, err := jetstream.New(brokertest.Connect(t, brokertest.Start(t)))
	if err != nil {
		t.Fatal(err)
	}
	os, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, js, os
}

func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/1000)
	}
	return b
}

func readAll(t *testing.T, ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo, c objchunks.Checks) ([]byte, error) {
	t.Helper()
	r, err := objchunks.Open(ctx, js, info, c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// What Put stores is an ordinary object: the object store's Get reads it
// (and checks its digest), and so does Open, for sizes around the chunk
// size and over several windows.
func TestPutAndOpen_RoundTrip(t *testing.T) {
	ctx, js, os := setup(t)
	for _, n := range []int{0, 1, objchunks.ChunkSize, objchunks.ChunkSize + 1, objchunks.Window * objchunks.ChunkSize, 3*objchunks.Window*objchunks.ChunkSize + 5} {
		want := content(n)
		name := "obj-" + strings.Repeat("x", n%7)
		size, err := objchunks.Put(ctx, js, bucket, name, bytes.NewReader(want), nil)
		if err != nil || size != uint64(n) {
			t.Fatalf("Put of %d bytes = %d, %v", n, size, err)
		}
		got, err := os.GetBytes(ctx, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("the object store's Get of %d bytes: %d bytes, %v", n, len(got), err)
		}
		info, err := os.GetInfo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if wantChunks := (n + objchunks.ChunkSize - 1) / objchunks.ChunkSize; int(info.Chunks) != wantChunks {
			t.Fatalf("%d bytes in %d chunks, want %d", n, info.Chunks, wantChunks)
		}
		got, err = readAll(t, ctx, js, info, objchunks.Checks{What: "it", Digest: true, NoMore: true})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Open of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
}

type failAfter struct {
	r   io.Reader
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}

// A reader's error is Put's, as it is; the partly stored object is handed
// to abandon, which can delete it, chunks and all. Nothing stored,
// nothing to abandon.
func TestPut_AbandonsAPartialObject(t *testing.T) {
	ctx, js, os := setup(t)
	boom := errors.New("boom")
	var abandoned *jetstream.ObjectInfo
	abandon := func(actx context.Context, info *jetstream.ObjectInfo) {
		abandoned = info
		if err := objchunks.PublishInfo(actx, js, info); err != nil {
			t.Errorf("PublishInfo: %v", err)
		}
		if err := os.Delete(actx, info.Name); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
	src := &failAfter{r: bytes.NewReader(content(10 * objchunks.ChunkSize)), n: 2*objchunks.ChunkSize + 10, err: boom}
	if _, err := objchunks.Put(ctx, js, bucket, "partial", src, abandon); !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want the reader's error", err)
	}
	if abandoned == nil || abandoned.Chunks != 2 || abandoned.Size != 2*objchunks.ChunkSize {
		t.Fatalf("abandoned %+v, want 2 full chunks", abandoned)
	}
	if _, err := os.GetInfo(ctx, "partial"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("the abandoned object: %v", err)
	}
	st, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	// Left: the object's info, marked deleted; no chunk.
	if n, err := st.Info(ctx, jetstream.WithSubjectFilter("$O."+bucket+".>")); err != nil || n.State.Msgs != 1 || len(n.State.Subjects) != 1 {
		t.Fatalf("left behind: %+v, %v", n.State, err)
	}
	if n, err := st.Info(ctx, jetstream.WithSubjectFilter("$O."+bucket+".C.>")); err != nil || len(n.State.Subjects) != 0 {
		t.Fatalf("chunks left behind: %+v, %v", n.State, err)
	}

	abandoned = nil
	if _, err := objchunks.Put(ctx, js, bucket, "none", &failAfter{err: boom}, abandon); !errors.Is(err, boom) || abandoned != nil {
		t.Fatalf("Put = %v, abandoned %v", err, abandoned)
	}
}

// A Reader refuses an object that is not as its info says, as its Checks
// ask.
func TestOpen_Checks(t *testing.T) {
	ctx, js, os := setup(t)
	n := 2*objchunks.ChunkSize + 100
	want := content(n)
	if _, err := objchunks.Put(ctx, js, bucket, "o", bytes.NewReader(want), nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.GetInfo(ctx, "o")
	if err != nil {
		t.Fatal(err)
	}
	all := objchunks.Checks{What: "the thing", Digest: true, NoMore: true}
	for _, tc := range []struct {
		name   string
		change func(*jetstream.ObjectInfo)
		checks objchunks.Checks
		want   string // "" reads without error
		size   int
	}{
		{"as it is", func(*jetstream.ObjectInfo) {}, all, "", n},
		{"shorter", func(i *jetstream.ObjectInfo) { i.Size++ }, all, "the thing is shorter than its info says", 0},
		{"longer", func(i *jetstream.ObjectInfo) { i.Size-- }, all, "the thing is longer than its info says", 0},
		{"another digest", func(i *jetstream.ObjectInfo) { i.Digest = "SHA-256=" + strings.Repeat("A", 43) + "=" }, all, "the thing does not match its digest", 0},
		{"another digest, unchecked", func(i *jetstream.ObjectInfo) { i.Digest = "SHA-256=x" }, objchunks.Checks{What: "it", NoMore: true}, "", n},
		{"a chunk more", func(i *jetstream.ObjectInfo) { i.Chunks--; i.Size = 2 * objchunks.ChunkSize }, objchunks.Checks{What: "it", NoMore: true}, "it is longer than its info says", 0},
		{"a chunk more, unchecked", func(i *jetstream.ObjectInfo) { i.Chunks--; i.Size = 2 * objchunks.ChunkSize }, objchunks.Checks{What: "it"}, "", 2 * objchunks.ChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := *info
			tc.change(&i)
			got, err := readAll(t, ctx, js, &i, tc.checks)
			switch {
			case tc.want == "" && (err != nil || !bytes.Equal(got, want[:tc.size])):
				t.Fatalf("read %d bytes, %v; want %d", len(got), err, tc.size)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("read: %v; want %q", err, tc.want)
			}
		})
	}
}

// A read stops with its context, and after Close.
func TestReader_ContextAndClose(t *testing.T) {
	ctx, js, os := setup(t)
	if _, err := objchunks.Put(ctx, js, bucket, "o", bytes.NewReader(content(3*objchunks.Window*objchunks.ChunkSize)), nil); err != nil {
		t.Fatal(err)
	}
	info, err := os.GetInfo(ctx, "o")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r, err := objchunks.Open(rctx, js, info, objchunks.Checks{What: "it"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, objchunks.ChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	r.Close()

	r, err = objchunks.Open(ctx, js, info, objchunks.Checks{What: "it"})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close() // twice is fine
	if _, err := io.Copy(io.Discard, r); err == nil {
		t.Fatal("read after Close")
	}
}
