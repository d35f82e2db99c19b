package hubconn

import (
	"maps"
	"testing"
)

// An agent's instances reach the hub the way the agent does: every flag it
// was given, under the variable dpc-service reads it from.
func TestHubFlags_Environ(t *testing.T) {
	f := HubFlags{NATS: "tls://hub:4222", User: "svc", Password: "pw", TLSCA: "/ca.pem", TLSCert: "/c.pem", TLSKey: "/k.pem"}
	want := map[string]string{"NATS_URL": "tls://hub:4222", "DPC_USER": "svc", "DPC_PASSWORD": "pw",
		"DPC_TLS_CA": "/ca.pem", "DPC_TLS_CERT": "/c.pem", "DPC_TLS_KEY": "/k.pem"}
	if got := f.Environ(); !maps.Equal(got, want) {
		t.Fatalf("Environ() = %v, want %v", got, want)
	}
	if got := (HubFlags{NATS: "nats://hub:4222"}).Environ(); len(got) != 1 {
		t.Fatalf("unset flags must not be passed on as empty variables: %v", got)
	}
}
