package discovery_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/discovery/discoverytest"
)

func browse(t *testing.T) []discovery.Hub {
	t.Helper()
	hubs, err := discovery.Browse(context.Background(), discovery.BrowseOptions{Interface: discoverytest.Interface})
	if err != nil {
		t.Fatalf("Browse: %v", err)
	}
	return hubs
}

func named(hubs []discovery.Hub, name string) (discovery.Hub, bool) {
	for _, h := range hubs {
		if h.Name == name {
			return h, true
		}
	}
	return discovery.Hub{}, false
}

// A hub announced on an interface is found there with its address, port,
// TLS and CA fingerprint; after Close it is gone.
func TestAnnounce_BrowseFindsHub(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	ca := sha256.Sum256([]byte("a CA"))
	an, err := discovery.Announce(context.Background(), discovery.Announcement{
		Name: "home-hub", Port: 4333, TLS: true, CA: ca, Interfaces: []string{discoverytest.Interface},
	})
	if err != nil {
		t.Fatalf("Announce: %v", err)
	}
	h, ok := named(browse(t), "home-hub")
	if !ok {
		t.Fatal("the announced hub was not found")
	}
	if h.Port != 4333 || !h.TLS || h.CA != hex.EncodeToString(ca[:]) || h.Version != discovery.Version {
		t.Errorf("found %+v", h)
	}
	if urls := h.URLs(); len(urls) == 0 || urls[0] != "tls://127.0.0.1:4333" {
		t.Errorf("URLs() = %v, want tls://127.0.0.1:4333 first", urls)
	}

	// A reload's new CA is what browsers see next.
	ca2 := sha256.Sum256([]byte("another CA"))
	if err := an.Update(true, ca2); err != nil {
		t.Fatal(err)
	}
	if h, _ := named(browse(t), "home-hub"); h.CA != hex.EncodeToString(ca2[:]) {
		t.Errorf("after Update the CA is %s", h.CA)
	}

	if err := an.Close(); err != nil {
		t.Fatal(err)
	}
	_ = an.Close() // twice is fine
	if _, ok := named(browse(t), "home-hub"); ok {
		t.Error("the hub is still found after Close")
	}
}

// Several hubs are told apart by name; the end of the context stops the
// announcing.
func TestAnnounce_SeveralHubs(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, name := range []string{"nas", "laptop"} {
		if _, err := discovery.Announce(ctx, discovery.Announcement{
			Name: name, Port: 4222, TLS: true, CA: sha256.Sum256([]byte(name)), Interfaces: []string{discoverytest.Interface},
		}); err != nil {
			t.Fatal(err)
		}
	}
	hubs := browse(t)
	if _, ok := named(hubs, "nas"); !ok {
		t.Errorf("nas not found in %+v", hubs)
	}
	if _, ok := named(hubs, "laptop"); !ok {
		t.Errorf("laptop not found in %+v", hubs)
	}
	cancel()
	brokertest.Eventually(t, 10*time.Second, func() bool { return len(browse(t)) == 0 }, "the hubs stop answering when the context ends")
}

// Browse keeps at most Max hubs, and ignores answers that are not a DPC
// hub's announcement.
func TestBrowse_Bounded(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	for _, name := range []string{"a", "b", "c"} {
		an, err := discovery.Announce(context.Background(), discovery.Announcement{
			Name: name, Port: 4222, TLS: true, Interfaces: []string{discoverytest.Interface},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { an.Close() })
	}
	hubs, err := discovery.Browse(context.Background(), discovery.BrowseOptions{Interface: discoverytest.Interface, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(hubs) != 2 {
		t.Errorf("Max 2 kept %d hubs: %+v", len(hubs), hubs)
	}
}

func TestAnnounce_BadInput(t *testing.T) {
	for _, a := range []discovery.Announcement{
		{Name: "hub", Port: 0},
		{Name: "hub", Port: 70000},
		{Name: "...", Port: 4222},
		{Name: "hub", Port: 4222, Interfaces: []string{"no-such-interface0"}},
	} {
		if an, err := discovery.Announce(context.Background(), a); err == nil {
			an.Close()
			t.Errorf("Announce(%+v) succeeded", a)
		}
	}
	if _, err := discovery.Browse(context.Background(), discovery.BrowseOptions{Interface: "no-such-interface0"}); err == nil {
		t.Error("Browse on a missing interface succeeded")
	}
}

func TestInstanceName(t *testing.T) {
	for in, want := range map[string]string{
		"dpc-hub":   "dpc-hub",
		"hub.lan":   "hub-lan",
		"Ann's hub": "Ann-s-hub",
		"-x-":       "x",
	} {
		got, err := discovery.InstanceName(in)
		if err != nil || got != want {
			t.Errorf("InstanceName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := discovery.InstanceName(strings.Repeat("h", 100)); len(got) != 63 {
		t.Errorf("a 100-byte name became %d bytes", len(got))
	}
	if _, err := discovery.InstanceName("..."); err == nil {
		t.Error("a name without a letter or digit was accepted")
	}
}
