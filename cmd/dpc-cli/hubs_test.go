package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/discovery/discoverytest"
	"github.com/dpc-project/dpc/internal/hubconn"
	"github.com/dpc-project/dpc/internal/proctest"
)

// announcingHub runs dpc-hub named name, announcing itself on the test's
// namespace loopback, and returns its URL and its owner's profile
// directory.
func announcingHub(t *testing.T, name string) (*proctest.Process, string, string) {
	t.Helper()
	data := t.TempDir()
	profile := filepath.Join(data, "owner-profile")
	cmd := exec.Command(hubBinary, "--name", name, "--host", "127.0.0.1", "--port=-1", "--http-port=0", "--metrics=",
		"--data", data, "--log-format", "json", "--mdns", "--mdns-interface", discoverytest.Interface)
	cmd.Env = append(os.Environ(), "DPC_HOME="+profile)
	p := proctest.Start(t, "dpc-hub "+name, cmd)
	t.Cleanup(func() { _ = p.Stop(waitLong) })
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rec, err := proctest.WaitForLog(ctx, p.Output(), "dpc-hub ready")
	if err != nil {
		t.Fatalf("dpc-hub did not report ready: %v\n%s", err, p.Output())
	}
	if _, err := proctest.WaitForLog(ctx, p.Output(), "announcing the hub on the LAN"); err != nil {
		t.Fatalf("dpc-hub does not announce itself: %v\n%s", err, p.Output())
	}
	return p, rec["nats"].(string), profile
}

// cliIn runs the dpc-cli binary with DPC_HOME home and no NATS_URL.
func cliIn(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.Command(cliBinary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_URL=") && !strings.HasPrefix(kv, "DPC_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "DPC_HOME="+home)
	return exitOf(t, cmd.Run()), stdout.String(), stderr.String()
}

func hubsFound(t *testing.T, home string, args ...string) map[string]hubView {
	t.Helper()
	code, out, errOut := cliIn(t, home, append([]string{"hubs", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("dpc-cli hubs: exit %d: %s", code, errOut)
	}
	var views []hubView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("dpc-cli hubs --json: %v\n%s", err, out)
	}
	m := map[string]hubView{}
	for _, v := range views {
		m[v.Name] = v
	}
	return m
}

// A hub announces itself; dpc-cli lists it, reaches it with no --nats and
// no profile, pairs with it by code alone, and refuses to guess among
// several — unless it holds the CA of one of them.
func TestHubs_DiscoveryOnTheLAN(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	_, urlA, ownerA := announcingHub(t, "hub-a")
	caA := filepath.Join(ownerA, "hub-ca.pem")
	credsA := filepath.Join(ownerA, "identity.creds")
	fpA, err := hubconn.CAFingerprint(caA)
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir() // no profile

	// Listed, with what a person needs to tell it from another.
	a, ok := hubsFound(t, empty)["hub-a"]
	if !ok {
		t.Fatal("dpc-cli hubs does not list hub-a")
	}
	if u := a.URLs(); len(u) == 0 || u[0] != urlA || !a.TLS || a.CA != fpA || a.Paired {
		t.Errorf("hub-a listed as %+v (URLs %v), want %s, CA %s, not paired", a, a.URLs(), urlA, fpA)
	}
	if !hubsFound(t, empty, "--tls-ca", caA)["hub-a"].Paired {
		t.Error("with hub-a's CA, hub-a is not shown as paired")
	}
	code, out, _ := cliIn(t, empty, "hubs")
	if code != 0 || !strings.Contains(out, "hub-a") || !strings.Contains(out, fpA[:16]) {
		t.Errorf("dpc-cli hubs: exit %d\n%s", code, out)
	}

	// Reached with no --nats and no profile.
	if code, _, errOut := cliIn(t, empty, "--creds", credsA, "--tls-ca", caA, "status"); code != 0 {
		t.Fatalf("dpc-cli status through discovery: exit %d: %s", code, errOut)
	}

	// Paired by the code alone: the hub whose CA the code names.
	code, out, errOut := cliIn(t, empty, "--nats", urlA, "--creds", credsA, "--tls-ca", caA, "--json", "devices", "add", "phone")
	if code != 0 {
		t.Fatalf("devices add: exit %d: %s", code, errOut)
	}
	var add struct{ Code string }
	if err := json.Unmarshal([]byte(out), &add); err != nil || add.Code == "" {
		t.Fatalf("devices add --json: %v\n%s", err, out)
	}
	phone := t.TempDir()
	if code, _, errOut := cliIn(t, phone, "pair", add.Code); code != 0 {
		t.Fatalf("dpc-cli pair CODE with no --hub: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cliIn(t, phone, "status"); code != 0 {
		t.Fatalf("the paired phone: exit %d: %s", code, errOut)
	}

	// The hub moved (a new DHCP lease): the phone's profile names an
	// address where nothing answers, and dpc-cli finds its hub on the LAN.
	hubJSON := filepath.Join(phone, "hub.json")
	b, err := os.ReadFile(hubJSON)
	if err != nil {
		t.Fatal(err)
	}
	var prof map[string]any
	if err := json.Unmarshal(b, &prof); err != nil {
		t.Fatal(err)
	}
	prof["urls"] = []string{"tls://127.0.0.1:1"}
	if b, err = json.Marshal(prof); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hubJSON, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cliIn(t, phone, "status"); code != 0 {
		t.Fatalf("the phone whose profile's address is stale: exit %d: %s", code, errOut)
	}

	// A second hub: no guessing without a CA, the right one with it.
	hubB, _, _ := announcingHub(t, "hub-b")
	code, _, errOut = cliIn(t, empty, "status")
	if code != exitUsage || !strings.Contains(errOut, "hub-a") || !strings.Contains(errOut, "hub-b") || !strings.Contains(errOut, "--nats") {
		t.Errorf("two hubs, no CA: exit %d, want %d and both listed with a hint at --nats: %s", code, exitUsage, errOut)
	}
	if code, _, errOut := cliIn(t, empty, "--creds", credsA, "--tls-ca", caA, "status"); code != 0 {
		t.Errorf("two hubs, hub-a's CA: exit %d: %s", code, errOut)
	}

	// A hub that stops is no longer listed.
	if err := hubB.Stop(waitLong); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 20*time.Second, func() bool {
		_, listed := hubsFound(t, empty)["hub-b"]
		return !listed
	}, "hub-b gone from dpc-cli hubs after it stopped")
}
