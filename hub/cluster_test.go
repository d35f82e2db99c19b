package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.WriteSecret(to, b); err != nil {
		t.Fatal(err)
	}
}

// startCluster runs n hubs on loopback as one cluster: one identity (the
// authority and the CA copied to each, as docs/RELIABILITY.md says),
// routes to each other. The owner's profile goes to the returned dir.
func startCluster(t *testing.T, n int) ([]*Hub, []Config, string) {
	t.Helper()
	first := t.TempDir()
	a, err := trust.NewAuthority()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(filepath.Join(first, "identity", "authority.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Config{DataDir: first}.firstHubMarker(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ca := trust.HubTLSIn(filepath.Join(first, "identity", "tls"))
	if _, err := ca.Ensure([]string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(t.TempDir(), "owner")
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	cfgs := make([]Config, n)
	for i := range cfgs {
		dir := first
		if i > 0 {
			dir = t.TempDir()
			copyFile(t, filepath.Join(first, "identity", "authority.json"), filepath.Join(dir, "identity", "authority.json"))
			tl := trust.HubTLSIn(filepath.Join(dir, "identity", "tls"))
			copyFile(t, ca.CAFile, tl.CAFile)
			copyFile(t, ca.CAKeyFile, tl.CAKeyFile)
		}
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		c := DefaultConfig()
		c.Name = fmt.Sprintf("hub%d", i)
		c.Host, c.Port, c.MonitorPort, c.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
		c.DataDir, c.ProfileDir = dir, profile
		c.Cluster = &broker.ClusterConfig{Name: "home", Host: "127.0.0.1", Port: ports[i], Routes: routes}
		c.LameDuck = time.Second
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("HUB_DEBUG") != "" {
			c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("hub", i)
		}
		cfgs[i] = c
	}
	hubs := make([]*Hub, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hubs[i], errs[i] = Start(ctx, cfgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("hub %d: %v", i, err)
		}
		t.Cleanup(func() { hubs[i].Close(context.Background()) })
	}
	return hubs, cfgs, profile
}

// connectThrough connects to h alone as the owner whose profile is in
// profile.
func connectThrough(t *testing.T, h *Hub, profile string) *nats.Conn {
	t.Helper()
	c, err := trust.Connection{URLs: []string{h.LocalURL()}}.Resolve(profile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := connectWith(t, c)
	if err != nil {
		t.Fatalf("connect to %s: %v", h.LocalURL(), err)
	}
	return nc
}

// Three hubs form one cluster: a note saved through one is read through
// another, and stays readable and writable when a hub is lost.
func TestCluster_NotesSurviveAHub(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-hub cluster")
	}
	hubs, _, profile := startCluster(t, 3)
	through := func(h *Hub) *omq.Node { return node(t, connectThrough(t, h, profile)) }
	ctx := ctxT(t)
	var rev uint64
	if err := through(hubs[0]).Lookup("hub").Call(ctx, "save", omq.Args("plan.txt", "one", 0), &rev, omq.Timeout(10*time.Second)); err != nil {
		t.Fatalf("save through hub 0: %v", err)
	}
	var text string
	if err := through(hubs[1]).Lookup("hub").Call(ctx, "get", omq.Args("plan.txt", 0), &text, omq.Timeout(10*time.Second)); err != nil || text != "one" {
		t.Fatalf("get through hub 1: %q %v", text, err)
	}
	n2 := through(hubs[2])
	hubs[0].Close(context.Background())
	if err := n2.Lookup("hub").Call(ctx, "save", omq.Args("plan.txt", "two", rev), &rev, omq.Timeout(10*time.Second), omq.Idempotent()); err != nil {
		t.Fatalf("save through hub 2 with hub 0 gone: %v", err)
	}
	if err := n2.Lookup("hub").Call(ctx, "get", omq.Args("plan.txt", 0), &text, omq.Timeout(10*time.Second), omq.Idempotent()); err != nil || text != "two" {
		t.Fatalf("get through hub 2 with hub 0 gone: %q %v", text, err)
	}
}
