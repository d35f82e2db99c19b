package hub

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
)

// startWebHub is a hub with its web port on loopback.
func startWebHub(t *testing.T) *testHub {
	t.Helper()
	return startHubWith(t, func(cfg *Config, lb *proctest.Buffer) {
		cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
		cfg.Web = "127.0.0.1:0"
	})
}

// caTLS trusts only the hub's CA, as a phone that installed it does.
func caTLS(t *testing.T, h *testHub) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(caOf(t, h))
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// wsURL is the web port's /nats as a browser dials it.
func wsURL(h *testHub) string {
	return strings.Replace(h.WebURL(), "https://", "wss://", 1) + "/nats"
}

// The app is served over TLS with a certificate of the hub's CA, with a
// policy that keeps it to its own origin.
func TestWeb_ServesTheAppOverTLS(t *testing.T) {
	h := startWebHub(t)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: caTLS(t, h)}}
	res, err := c.Get(h.WebURL() + "/")
	if err != nil {
		t.Fatalf("GET / with the hub's CA: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("GET /: %d %.200s", res.StatusCode, body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	// devices.add gives the link that opens the page with the code.
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	var rep trust.AddReply
	if err := node(t, nc).Lookup(trust.DevicesService).Call(ctxT(t), trust.FnAdd, trust.AddRequest{Name: "phone", Role: "device"}, &rep); err != nil {
		t.Fatal(err)
	}
	if want := h.WebURL() + "/#pair=" + rep.Code; len(rep.Web) != 1 || rep.Web[0] != want {
		t.Fatalf("devices.add's web links %q, want [%s]", rep.Web, want)
	}
	// Without the CA the certificate is not trusted: the browser asks.
	plain := &http.Client{Timeout: 10 * time.Second}
	if _, err := plain.Get(h.WebURL() + "/"); err == nil {
		t.Fatal("the hub's certificate was trusted without its CA")
	}
}

// A browser that has not paired is a guest: with no code pending it
// cannot connect at all; with one pending it lands in the PAIRING
// account, where the server lets it request the pairing function only.
func TestWeb_GuestOverWebSocketOnlyPairs(t *testing.T) {
	h := startWebHub(t)
	opts := []nats.Option{nats.Secure(caTLS(t, h)), nats.NoReconnect(), nats.Timeout(5 * time.Second)}
	if nc, err := nats.Connect(wsURL(h), opts...); err == nil {
		nc.Close()
		t.Fatal("a guest connected over websocket with no pairing code pending")
	}
	code := h.add(t, "phone", "device")
	errs := make(chan error, 8)
	nc, err := nats.Connect(wsURL(h), append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))...)
	if err != nil {
		t.Fatalf("guest over websocket while a code is pending: %v", err)
	}
	defer nc.Close()
	// The pairing function answers (a wrong signature: refused by the
	// hub, which proves the request got through).
	rep, err := nc.Request("dpc.svc.pairing.pair", []byte(`{"code":"`+code.String()+`","public_key":"UXXX","signature":"AA=="}`), 5*time.Second)
	if err != nil {
		t.Fatalf("guest's pairing request: %v", err)
	}
	if rep.Header.Get("Nats-Service-Error-Code") == "" {
		t.Fatalf("a forged pairing was not refused: %s", rep.Data)
	}
	// Anything else is refused by the server.
	if _, err := nc.Request("dpc.svc.hub.list", nil, 2*time.Second); err == nil {
		t.Fatal("a guest called hub.list")
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("want a permissions violation, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not refuse the guest's publish")
	}
}

// A device's credentials over websocket get the device role: notes and
// the catalog work, identity management is refused by the server.
func TestWeb_DeviceOverWebSocketHasDeviceRole(t *testing.T) {
	h := startWebHub(t)
	dir := h.pair(t, "phone", "device")
	c, err := trust.Connection{}.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.URLs = []string{wsURL(h)}
	errs := make(chan error, 8)
	nc, err := connectWith(t, c, nats.Secure(caTLS(t, h)), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("device over websocket: %v", err)
	}
	n := node(t, nc)
	var rev uint64
	if err := n.Lookup("hub").Call(ctxT(t), "save", []any{"from-phone", "hello", 0}, &rev); err != nil || rev != 1 {
		t.Fatalf("hub.save as the device: %d %v", rev, err)
	}
	if err := n.Lookup(trust.DevicesService).Call(ctxT(t), trust.FnList, nil, nil); err == nil {
		t.Fatal("a device listed identities over websocket")
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "dpc.svc.devices") {
			t.Fatalf("want a permissions violation on dpc.svc.devices, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not refuse devices.list")
	}
}

// A page of another origin cannot open the hub's WebSocket.
func TestWeb_CrossOriginWebSocketRefused(t *testing.T) {
	h := startWebHub(t)
	h.add(t, "phone", "device") // so that a guest could connect at all
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: caTLS(t, h)}}
	upgrade := func(origin string) int {
		req, _ := http.NewRequest("GET", h.WebURL()+"/nats", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", origin)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := upgrade("https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("an upgrade from another origin: %d, want 403", code)
	}
	if code := upgrade(h.WebURL()); code != http.StatusSwitchingProtocols {
		t.Fatalf("an upgrade from the app's own origin: %d, want 101", code)
	}
}
