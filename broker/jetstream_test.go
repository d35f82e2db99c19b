package broker_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestServer_JetStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()

	first := brokertest.StartConfig(t, brokertest.Config(dir))
	js, err := jetstream.New(inProcess(t, first))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "ASYNC_TST",
		Subjects: []string{"dpc.async.tst.>"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("create stream through Connect(): %v", err)
	}
	for _, body := range []string{"one", "two", "three"} {
		if _, err := js.Publish(ctx, "dpc.async.tst.add", []byte(body)); err != nil {
			t.Fatalf("publish %q: %v", body, err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d messages, want 3", info.State.Msgs)
	}

	// The stream lives under StoreDir, not somewhere the server chose.
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(path, "ASYNC_TST") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files of stream ASYNC_TST under StoreDir %s", dir)
	}

	first.Shutdown()

	second := brokertest.StartConfig(t, brokertest.Config(dir))
	js, err = jetstream.New(inProcess(t, second))
	if err != nil {
		t.Fatal(err)
	}
	stream, err = js.Stream(ctx, "ASYNC_TST")
	if err != nil {
		t.Fatalf("stream lost across restart: %v", err)
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("after restart the stream holds %d messages, want 3", info.State.Msgs)
	}
	msg, err := stream.GetMsg(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "two" {
		t.Errorf("message 2 = %q after restart, want %q", msg.Data, "two")
	}
}
