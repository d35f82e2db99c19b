package hubconn

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/discovery/discoverytest"
	"github.com/dpc-project/dpc/trust"
)

// announce announces a hub on the test's namespace until the test ends.
func announce(t *testing.T, name string, port int, ca [32]byte) {
	t.Helper()
	an, err := discovery.Announce(context.Background(), discovery.Announcement{
		Name: name, Port: port, TLS: true, CA: ca, Interfaces: []string{discoverytest.Interface},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { an.Close() })
}

// parse parses args into a command that embeds HubFlags, as dpc-service,
// dpc-agent and dpc-provisioner do.
func parse(t *testing.T, args ...string) (HubFlags, error) {
	t.Helper()
	var cli struct {
		HubFlags `embed:""`
	}
	p, err := kong.New(&cli, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse(args)
	return cli.HubFlags, err
}

// With no --nats and no profile, a command's flags name the hub on the
// LAN: the only one, or the one with the CA it trusts; several without
// a CA to choose by is an error that lists them.
func TestHubFlags_FindHubOnTheLAN(t *testing.T) {
	if !discoverytest.Isolate(t) {
		return
	}
	t.Setenv("DPC_HOME", t.TempDir())
	t.Setenv("NATS_URL", "")
	tls := trust.HubTLSIn(t.TempDir())
	if _, err := tls.Ensure(nil); err != nil {
		t.Fatal(err)
	}
	fpHex, err := CAFingerprint(tls.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	var fp [32]byte
	b, _ := hex.DecodeString(fpHex)
	copy(fp[:], b)

	announce(t, "only", 4333, fp)
	f, err := parse(t)
	if err != nil || !strings.HasPrefix(f.NATS, "tls://127.0.0.1:4333") {
		t.Fatalf("one hub: --nats %q, %v; want tls://127.0.0.1:4333", f.NATS, err)
	}
	if f, _ := parse(t, "--nats", "tls://given:4222"); f.NATS != "tls://given:4222" {
		t.Errorf("--nats given became %q", f.NATS)
	}

	announce(t, "other", 4444, [32]byte{1})
	if _, err := parse(t); !errors.Is(err, ErrNoChoice) {
		t.Errorf("two hubs, no CA: err %v, want ErrNoChoice", err)
	}
	f, err = parse(t, "--tls-ca", tls.CAFile)
	if err != nil || !strings.HasPrefix(f.NATS, "tls://127.0.0.1:4333") {
		t.Errorf("two hubs, the CA of one: --nats %q, %v", f.NATS, err)
	}
}
