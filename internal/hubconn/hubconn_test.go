package hubconn

import (
	"maps"
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
