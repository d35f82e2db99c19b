package hubconn

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// What a command may pass on to the processes it starts: the hub's address
// and the CA to trust it with, never its own user, password or client
// certificate.
func TestHubFlags_PublicEnviron(t *testing.T) {
	t.Setenv("DPC_HOME", t.TempDir()) // no profile
	f := HubFlags{NATS: "tls://agent:secret@hub:4222", Creds: "/id.creds", TLSCA: "/ca.pem"}
	want := map[string]string{"NATS_URL": "tls://hub:4222", "DPC_TLS_CA": "/ca.pem"}
	if got := f.PublicEnviron(); !maps.Equal(got, want) {
		t.Fatalf("PublicEnviron() = %v, want %v", got, want)
	}
	if got := (HubFlags{NATS: "nats://hub:4222"}).PublicEnviron(); len(got) != 1 {
		t.Fatalf("unset flags must not be passed on as empty variables: %v", got)
	}
}

func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://hub:4222":                          "nats://hub:4222",
		"nats://u:p@hub:4222":                      "nats://hub:4222",
		"nats://tok@hub:4222,tls://u:p@b:4223/x?y": "nats://hub:4222,tls://b:4223/x?y",
		"u:p@hub:4222":                             "hub:4222",
		"nats://u:p@w@hub":                         "nats://hub",
		"":                                         "",
	} {
		if got := PublicURL(in); got != want {
			t.Errorf("PublicURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// --help says which hub --nats defaults to here, and why.
func TestDefaultHub(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DPC_HOME", dir)
	if got, want := DefaultHub(), "the hub found on the LAN, else nats://127.0.0.1:4222; no DPC profile in "+dir+" yet"; got != want {
		t.Errorf("no profile: %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "hub.json"), []byte(`{"urls": ["tls://u:p@hub.lan:4222", "tls://nas:4222"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultHub(), "tls://hub.lan:4222,tls://nas:4222, from the DPC profile in "+dir; got != want {
		t.Errorf("profile: %q, want %q", got, want)
	}
	t.Setenv("DPC_HOME", "none")
	if got, want := HelpVars()["hub_default"], "the hub found on the LAN, else nats://127.0.0.1:4222; this machine has no DPC profile"; got != want {
		t.Errorf("DPC_HOME=none: %q, want %q", got, want)
	}
}
