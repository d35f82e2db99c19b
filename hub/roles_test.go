package hub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/agent"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/provisioner"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pair makes an identity of role on the hub and returns its profile dir.
func (h *testHub) pair(t *testing.T, name, role string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), h.add(t, name, role), dir); err != nil {
		t.Fatalf("pair %s as %s: %v", name, role, err)
	}
	return dir
}

// What the provisioner does, done with a provisioner's identity: read
// every service's statistics and the durable backlog, list the agents,
// keep its history bucket.
func TestHub_ProvisionerRoleSuffices(t *testing.T) {
	h := startHub(t)
	dir := h.pair(t, "sizer", "provisioner")
	nc, err := connect(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	n := node(t, nc)
	ctx := ctxT(t)
	if _, err := n.Stats(ctx, "hub"); err != nil {
		t.Fatalf("$SRV.STATS: %v", err)
	}
	if _, err := n.DurableBacklog(ctx, "hub"); err != nil {
		t.Fatalf("durable backlog: %v", err)
	}
	if _, err := agent.NewClient(n).List(ctx, 200*time.Millisecond); err != nil && !strings.Contains(err.Error(), "no responders") {
		t.Fatalf("agents' list: %v", err)
	}
	js, _ := jetstream.New(nc)
	hist, err := provisioner.NewKVHistory(ctx, js, provisioner.DefaultHistoryBucket)
	if err != nil {
		t.Fatalf("history bucket: %v", err)
	}
	if err := hist.RecordPeak(ctx, "work", 3, 20000, 12.5, 7); err != nil {
		t.Fatalf("record a peak: %v", err)
	}
	if peaks, err := hist.Peaks(ctx, "work", 3); err != nil || peaks[20000] != 12.5 {
		t.Fatalf("read peaks: %v %v", peaks, err)
	}
	// It may not touch notes (the server drops the request: a timeout).
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := js.KeyValue(short, "DPC_NOTES"); err == nil {
		t.Fatal("a provisioner opened the notes bucket")
	}
}

// A device saves and reads a note larger than one message: the body goes
// through the large-body store both ways, by name and sealed, and the hub
// deletes each object for its reader.
func TestHub_DeviceLargeNote(t *testing.T) {
	h := startHub(t)
	dir := h.pair(t, "phone", "device")
	nc, err := connect(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := hubconn.NewNode(nc, omq.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text := strings.Repeat("milk, bread, eggs\n", 2<<20/18) // 2 MiB: over the 1 MiB message
	var rev uint64
	if err := n.Lookup("hub").Call(ctx, "save", omq.Args("big.txt", text, 0), &rev); err != nil {
		t.Fatalf("save a 2 MiB note as a device: %v", err)
	}
	var got string
	if err := n.Lookup("hub").Call(ctx, "get", omq.Args("big.txt", rev), &got); err != nil {
		t.Fatalf("get it back: %v", err)
	}
	if got != text {
		t.Fatalf("got %d bytes back, want %d", len(got), len(text))
	}
	store, err := h.js.ObjectStore(ctx, bodiesBucket)
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 10*time.Second, func() bool {
		objs, err := store.List(ctx)
		return errors.Is(err, jetstream.ErrNoObjectsFound) || err == nil && len(objs) == 0
	}, "both body objects deleted")
	if n := testutil.ToFloat64(h.metrics.denials.WithLabelValues("device", "publish")); n != 0 {
		t.Fatalf("the device was refused %v publishes on the way", n)
	}
}
