package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/manifests"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/servicehost"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const filesManifest = `
name: files
version: 1.0.0
description: Streams, for dpc-cli's tests.
functions:
  - funct_name: sum
    description: The SHA-256 of a file.
    args_list:
      - {arg_name: data, arg_type: stream}
    return_type: string
  - funct_name: cat
    description: The file back.
    args_list:
      - {arg_name: data, arg_type: stream}
    return_type: stream
`

func filesService(t *testing.T) servicehost.Service {
	t.Helper()
	m, err := manifests.Parse("files.yml", []byte(filesManifest))
	if err != nil {
		t.Fatal(err)
	}
	return servicehost.Service{Manifest: m, Handlers: omq.Handlers{
		"sum": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			d := sha256.New()
			if _, err := io.Copy(d, servicehost.Stream(ctx, "data")); err != nil {
				return nil, err
			}
			return hex.EncodeToString(d.Sum(nil)), nil
		}),
		"cat": omq.HandlerFunc(func(ctx context.Context, _ *omq.Request) (any, error) {
			return servicehost.Stream(ctx, "data"), nil
		}),
	}}
}

// call sends a file as a stream argument with @PATH, and writes a stream
// result to stdout or --out.
func TestCall_Streams(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	waitCatalog(t, h.url, "hub.save", true)
	startService(t, h.url, filesService(t))
	waitCatalog(t, h.url, "files.cat", true)

	dir := t.TempDir()
	body := bytes.Repeat([]byte("streamed\x00\xff"), 300_000) // 3 MB, over a message
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	check(t, h.url, 0, []string{hex.EncodeToString(sum[:])}, nil, "call", "files.sum", "@"+in)
	check(t, h.url, 0, []string{hex.EncodeToString(sum[:])}, nil, "call", "files.sum", "data=@"+in)

	out := filepath.Join(dir, "out.bin")
	check(t, h.url, 0, nil, nil, "call", "files.cat", "@"+in, "--out", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("--out: %d bytes, %v; want the %d sent", len(got), err, len(body))
	}
	r := check(t, h.url, 0, nil, nil, "call", "files.cat", "@"+in)
	if r.stdout != string(body) {
		t.Fatalf("stdout: %d bytes, want the %d sent", len(r.stdout), len(body))
	}

	check(t, h.url, exitUsage, nil, []string{"@PATH"}, "call", "files.sum", in)
	check(t, h.url, exitUsage, nil, []string{"no such file"}, "call", "files.sum", "@"+filepath.Join(dir, "missing"))
	r = check(t, h.url, exitUsage, nil, []string{"--out"}, "--json", "call", "files.cat", "@"+in)
	if strings.Contains(r.stdout, "streamed") {
		t.Fatal("--json without --out wrote the stream")
	}
}

// Streams work under the roles a hub gives a device and a service, not
// only its owner's: putting chunks, reading them through a consumer, and
// deleting through the hub.
func TestCall_StreamsAsDeviceAndService(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	waitCatalog(t, h.url, "hub.save", true)
	dir := t.TempDir()
	svcCreds, devCreds := filepath.Join(dir, "files.creds"), filepath.Join(dir, "phone.creds")
	check(t, h.url, 0, nil, nil, "devices", "add", "files-box", "--role", "service:files", "--write-creds", svcCreds)
	check(t, h.url, 0, nil, nil, "devices", "add", "phone", "--write-creds", devCreds)

	d, _ := profiles.Load(h.url)
	ca := filepath.Join(d.(string), "hub-ca.pem")
	opts, err := trust.Connection{URLs: []string{h.url}, CredsFile: svcCreds, CAFile: ca}.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(h.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	node, err := hubconn.NewNode(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servicehost.Run(ctx, node, filesService(t), servicehost.Config{Host: "testhost"}) }()
	t.Cleanup(func() { cancel(); <-done })
	waitCatalog(t, h.url, "files.cat", true)

	body := bytes.Repeat([]byte("as a device\n"), 250_000) // 3 MB
	in := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	asPhone := []string{"--creds", devCreds, "--tls-ca", ca}
	check(t, h.url, 0, []string{hex.EncodeToString(sum[:])}, nil, append(asPhone, "call", "files.sum", "@"+in)...)
	out := filepath.Join(dir, "out.bin")
	check(t, h.url, 0, nil, nil, append(asPhone, "call", "files.cat", "@"+in, "--out", out)...)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("files.cat as a device: %d bytes, %v; want the %d sent", len(got), err, len(body))
	}
	// A large note, streamed, as the device.
	note := filepath.Join(dir, "big.txt")
	text := strings.Repeat("a line of a big note\n", 100_000) // 2 MB
	if err := os.WriteFile(note, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	state := statePath(t)
	check(t, h.url, 0, []string{`Saved note "big.txt" as revision 1.`}, nil, append(asPhone, "notes", "--state", state, "save", note)...)
	back := filepath.Join(dir, "back.txt")
	check(t, h.url, 0, nil, nil, append(asPhone, "notes", "--state", state, "get", "big.txt", "-o", back)...)
	if got := readFile(t, back); got != text {
		t.Fatalf("notes get -o as a device: %d bytes, want %d", len(got), len(text))
	}

	// The hub deleted every stream its readers were done with.
	owner := connectOwner(t, h.url)
	defer owner.Close()
	waitFor := time.Now().Add(10 * time.Second)
	for {
		n := bodyObjects(t, owner)
		if n == 0 {
			break
		}
		if time.Now().After(waitFor) {
			t.Fatalf("%d body objects left behind", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bodyObjects counts the objects in the hub's large-body store.
func bodyObjects(t *testing.T, nc *nats.Conn) int {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	store, err := js.ObjectStore(ctx, "DPC_BODIES")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	return len(objs)
}
