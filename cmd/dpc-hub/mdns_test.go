package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/discovery/discoverytest"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/proctest"
)

// The hub announces itself with its CA's fingerprint, still does after
// SIGHUP, and is gone when it stops.
func TestHub_AnnouncesOnTheLAN(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	home := t.TempDir()
	cmd := exec.Command(bin, "--name", "mdns-test", "--port=-1", "--http-port=0", "--metrics=", "--data", t.TempDir(),
		"--log-format", "json", "--mdns", "--mdns-interface", discoverytest.Interface)
	cmd.Env = append(os.Environ(), "DPC_HOME="+home)
	hub := proctest.Start(t, "dpc-hub", cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := proctest.WaitForLog(ctx, hub.Output(), "dpc-hub ready"); err != nil {
		t.Fatalf("hub did not report ready: %v", err)
	}
	fp, err := hubconn.CAFingerprint(filepath.Join(home, "hub-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	found := func() (discovery.Hub, bool) {
		hubs, err := discovery.Browse(context.Background(), discovery.BrowseOptions{Interface: discoverytest.Interface})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hubs {
			if h.Name == "mdns-test" {
				return h, true
			}
		}
		return discovery.Hub{}, false
	}
	if h, ok := found(); !ok || h.CA != fp || !h.TLS {
		t.Fatalf("found %+v (%v), want the hub with CA %s", h, ok, fp)
	}

	if err := hub.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := proctest.WaitForLog(ctx, hub.Output(), "reloaded"); err != nil {
		t.Fatalf("no reload: %v", err)
	}
	if h, ok := found(); !ok || h.CA != fp {
		t.Fatalf("after SIGHUP found %+v (%v), want CA %s", h, ok, fp)
	}

	if err := hub.Stop(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := found(); ok {
		t.Fatal("the hub is still found after it stopped")
	}
}
