package servicehost_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
)

// A stream argument reaches the handler as a reader (checked for size
// before the handler runs), and a stream result leaves as a reader the
// host stores.
func TestBind_StreamsArgumentsAndResults(t *testing.T) {
	srv := brokertest.Start(t)
	host, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := omq.New(brokertest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests.Manifest{Name: "files", Version: "1.0.0", Functions: []manifests.Function{
		{Name: "sum", ReturnType: manifests.TypeString, Args: []manifests.Arg{
			{Name: "label", Type: manifests.TypeString}, {Name: "data", Type: manifests.TypeStream}}},
		{Name: "repeat", ReturnType: manifests.TypeStream, Args: []manifests.Arg{{Name: "n", Type: manifests.TypeInt}}},
	}}
	var ran atomic.Int32
	svc := servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"sum": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			ran.Add(1)
			var label string
			if err := req.Decode(&label, new(omq.Stream)); err != nil {
				return nil, err
			}
			d := sha256.New()
			if _, err := io.Copy(d, servicehost.Stream(ctx, "data")); err != nil {
				return nil, err
			}
			return label + ":" + hex.EncodeToString(d.Sum(nil)), nil
		}),
		"repeat": omq.HandlerFunc(func(ctx context.Context, req *omq.Request) (any, error) {
			var n int64
			if err := req.Decode(&n); err != nil {
				return nil, err
			}
			return io.LimitReader(strings.NewReader(strings.Repeat("x", 1<<20)), n), nil
		}),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := servicehost.Bind(ctx, host, svc, servicehost.Config{MaxStream: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	files := cli.Lookup("files")

	body := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
	s, err := cli.PutStream(ctx, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(body)
	var got string
	if err := files.Call(ctx, "sum", omq.Args("a", s), &got); err != nil || got != "a:"+hex.EncodeToString(want[:]) {
		t.Fatalf("sum = %q, %v", got, err)
	}

	// Over the host's 4 MiB maximum: a 413 before the handler runs.
	s, err = cli.PutStream(ctx, bytes.NewReader(make([]byte, 5<<20)))
	if err != nil {
		t.Fatal(err)
	}
	ran.Store(0)
	if err := files.Call(ctx, "sum", omq.Args("b", s), &got); !errors.Is(err, omq.ErrTooLarge) || ran.Load() != 0 {
		t.Fatalf("sum of 5 MiB under a 4 MiB maximum: %v (handler ran %d times)", err, ran.Load())
	}
	// Not a descriptor: a 400 naming the argument.
	if err := files.Call(ctx, "sum", omq.Args("c", "xyz"), &got); !errors.Is(err, omq.ErrBadArguments) || !strings.Contains(err.Error(), `"data"`) {
		t.Fatalf("sum of a string: %v", err)
	}

	var res omq.Stream
	if err := files.Call(ctx, "repeat", omq.Args(700_000), &res); err != nil {
		t.Fatal(err)
	}
	r, err := cli.OpenStream(ctx, res, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil || len(out) != 700_000 || strings.Trim(string(out), "x") != "" {
		t.Fatalf("repeat: %d bytes, %v", len(out), err)
	}
}
