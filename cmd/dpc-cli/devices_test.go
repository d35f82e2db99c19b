package main

import (
	"path/filepath"
	"testing"
)

// `devices add --write-creds` ends with how to use the file, for the role
// it was made for: a service's identity runs dpc-service, a device's calls
// functions with the nats CLI.
func TestDevices_WriteCredsSaysHowToUseThem(t *testing.T) {
	t.Parallel()
	h := startHub(t, -1, t.TempDir())
	dir := t.TempDir()
	svc := filepath.Join(dir, "tst.creds")
	check(t, h.url, 0, []string{"Run the service with it:", "dpc-service tst --nats", "--creds " + svc}, nil,
		"devices", "add", "tst-box", "--role", "service:tst", "--write-creds", svc)
	dev := filepath.Join(dir, "phone.creds")
	check(t, h.url, 0, []string{"With the nats CLI:", "--creds " + dev, "req dpc.svc.tst.add"}, nil,
		"devices", "add", "phone", "--write-creds", dev)
}
