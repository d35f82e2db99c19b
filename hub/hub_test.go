package hub

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/internal/proctest"
	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"
)

type testHub struct {
	*Hub
	profile string
	log     *proctest.Buffer
}

// startHub runs a hub on loopback with random ports; its owner's
// credentials go to a profile directory of the test's own.
func startHub(t *testing.T) *testHub {
	t.Helper()
	return startHubWith(t, func(cfg *Config, lb *proctest.Buffer) {
		cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
}

// startHubWith is startHub with the changes of change applied to its
// config, which must set the logger (writing to lb).
func startHubWith(t *testing.T, change func(cfg *Config, lb *proctest.Buffer)) *testHub {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort, cfg.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
	cfg.DataDir = t.TempDir()
	cfg.ProfileDir = filepath.Join(t.TempDir(), "owner")
	lb := &proctest.Buffer{}
	change(&cfg, lb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return &testHub{Hub: h, profile: cfg.ProfileDir, log: lb}
}

// connect connects with the profile in dir, as DPC's commands do.
func connect(t *testing.T, dir string, extra ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	c, err := trust.Connection{}.Resolve(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) == 0 {
		t.Fatalf("no profile in %s", dir)
	}
	return connectWith(t, c, extra...)
}

// connectWith connects as c says.
func connectWith(t *testing.T, c trust.Connection, extra ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URL(), append(append(opts, nats.NoReconnect()), extra...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func node(t *testing.T, nc *nats.Conn) *omq.Node {
	t.Helper()
	n, err := omq.New(nc, omq.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// add asks the hub for a pairing code as its owner.
func (h *testHub) add(t *testing.T, name, role string) trust.Code {
	t.Helper()
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatalf("owner connect: %v", err)
	}
	var rep trust.AddReply
	if err := node(t, nc).Lookup(trust.DevicesService).Call(ctxT(t), trust.FnAdd, trust.AddRequest{Name: name, Role: role}, &rep); err != nil {
		t.Fatalf("devices.add: %v", err)
	}
	code, err := trust.ParseCode(rep.Code)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// The owner's credentials are installed at the first start and work with
// nothing else given.
func TestHub_OwnerOnDefaults(t *testing.T) {
	h := startHub(t)
	for _, f := range []string{"hub.json", "identity.creds", "hub-ca.pem"} {
		st, err := os.Stat(filepath.Join(h.profile, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatalf("owner connect: %v", err)
	}
	if err := node(t, nc).Lookup("hub").Call(ctxT(t), "nopKserv", nil, nil); err != nil {
		t.Fatalf("hub.nopKserv as owner: %v", err)
	}
	// Nothing unauthenticated gets in.
	if _, err := nats.Connect(h.ClientURL(), nats.Secure(trust.ClientTLS(caOf(t, h)))); err == nil {
		t.Fatal("a client without credentials connected")
	}
}

func caOf(t *testing.T, h *testHub) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(h.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := trust.ParseCAPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// A device paired with a code calls functions, cannot manage identities,
// and is cut off within a second of its revocation.
func TestHub_PairCallRevoke(t *testing.T) {
	h := startHub(t)
	code := h.add(t, "phone", "device")
	phoneDir := t.TempDir()
	p, err := trust.Pair(ctxT(t), h.LocalURL(), code, phoneDir)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if p.Name != "phone" || p.Role != trust.RoleDevice {
		t.Fatalf("paired as %q %q", p.Name, p.Role)
	}
	closed := make(chan struct{})
	nc, err := connect(t, phoneDir, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("phone connect: %v", err)
	}
	phone := node(t, nc)
	if err := phone.Lookup("hub").Call(ctxT(t), "nopKserv", nil, nil); err != nil {
		t.Fatalf("phone calls hub.nopKserv: %v", err)
	}
	// The code was single use.
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), code, t.TempDir()); !errors.Is(err, trust.ErrPairingRefused) {
		t.Fatalf("second use of a code: %v, want refused", err)
	}
	// A device may not manage identities: the server drops the request,
	// logs who tried, and counts it.
	err = phone.Lookup(trust.DevicesService).Call(ctxT(t), trust.FnAdd, trust.AddRequest{Name: "x", Role: "owner"}, nil, omq.Timeout(500*time.Millisecond))
	if err == nil {
		t.Fatal("a device made a pairing code")
	}
	brokertest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(h.log.String(), `msg="security: permission denied" identity=phone role=device`) &&
			testutil.ToFloat64(h.metrics.denials.WithLabelValues("device", "publish")) >= 1
	}, "the denial logged with the identity and counted")

	owner, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var revoked trust.IdentityInfo
	if err := node(t, owner).Lookup(trust.DevicesService).Call(ctxT(t), trust.FnRevoke, trust.RevokeRequest{Name: "phone"}, &revoked); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	select {
	case <-closed:
		t.Logf("phone's connection closed %s after the revoke call began", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("the revoked phone is still connected after 1s")
	}
	if _, err := connect(t, phoneDir); err == nil {
		t.Fatal("a revoked device reconnected")
	}
	brokertest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(h.log.String(), `msg="security: login refused" identity="phone (revoked)"`) && testutil.ToFloat64(h.metrics.authFailures) >= 1
	}, "the refused login logged and counted")
}

// An expired code is refused, and with no code pending the hub admits no
// connection without credentials at all.
func TestHub_ExpiredCode(t *testing.T) {
	h := startHub(t)
	code, err := trust.NewCode(h.caFP)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.reg.addCode(ctxT(t), code.SecretID(), pendingCode{Name: "late", Role: trust.RoleDevice, Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), code, t.TempDir()); !errors.Is(err, trust.ErrPairingRefused) {
		t.Fatalf("expired code: %v, want refused", err)
	}
	// A live code for a name, then the same code with its secret changed.
	good := h.add(t, "laptop", "device")
	bad, _ := trust.ParseCode("00000-000" + good.String()[9:])
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), bad, t.TempDir()); !errors.Is(err, trust.ErrPairingRefused) {
		t.Fatalf("wrong secret: %v, want refused", err)
	}
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), good, t.TempDir()); err != nil {
		t.Fatalf("the right code after a wrong one: %v", err)
	}
}

// Another machine answering at the hub's address is refused: by a paired
// device (its TLS trusts only its hub's CA) and by one pairing (the code
// pins the CA).
func TestHub_ImpersonatorRefused(t *testing.T) {
	real, fake := startHub(t), startHub(t)
	code := real.add(t, "phone", "device")
	if _, err := trust.Pair(ctxT(t), fake.LocalURL(), code, t.TempDir()); !errors.Is(err, trust.ErrPinMismatch) {
		t.Fatalf("pairing against another hub: %v, want a pin mismatch", err)
	}
	// The owner of the real hub pointed at the fake one.
	c, err := trust.Connection{URLs: []string{fake.LocalURL()}}.Resolve(real.profile)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := c.Options()
	if nc, err := nats.Connect(c.URL(), append(opts, nats.NoReconnect())...); err == nil {
		nc.Close()
		t.Fatal("a paired client connected to another hub")
	}
}

// An agent signs credentials for the instances it starts, scoped to their
// service; revoking the agent cuts them off too.
func TestHub_AgentInstances(t *testing.T) {
	h := startHub(t)
	code := h.add(t, "nas", "agent")
	dir := t.TempDir()
	p, err := trust.Pair(ctxT(t), h.LocalURL(), code, dir)
	if err != nil {
		t.Fatalf("pair agent: %v\n%s", err, h.log.String())
	}
	seed, err := os.ReadFile(p.AgentKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := nkeys.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := nkeys.CreateUser()
	childPK, _ := child.PublicKey()
	childJWT, err := trust.IssueUserWith(agentKey, p.Account, "service:tst", "tst-nas-1", childPK)
	if err != nil {
		t.Fatal(err)
	}
	childSeed, _ := child.Seed()
	childDir := t.TempDir()
	caPEM, _ := os.ReadFile(p.CAFile())
	if _, err := trust.SaveProfile(childDir, trust.Profile{URLs: p.URLs, Name: "tst-nas-1", Role: "service:tst", PublicKey: childPK}, childJWT, childSeed, caPEM); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, err := connect(t, childDir, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("instance connect: %v", err)
	}
	inst := node(t, nc)
	if _, err := inst.Bind(ctxT(t), "tst", omq.Handlers{"nop": omq.HandlerFunc(func(context.Context, *omq.Request) (any, error) { return 1, nil })}); err != nil {
		t.Fatalf("instance binds tst: %v", err)
	}
	owner, _ := connect(t, h.profile)
	var got int
	if err := node(t, owner).Lookup("tst").Call(ctxT(t), "nop", nil, &got); err != nil || got != 1 {
		t.Fatalf("call to the agent's instance: %v %d", err, got)
	}
	// It may not serve the hub's functions.
	errs := make(chan error, 4)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	if _, err := nc.QueueSubscribeSync("dpc.svc.hub.*", "hub"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("want a permissions violation, got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("an agent's instance subscribed to the hub's functions")
	}
	if err := node(t, owner).Lookup(trust.DevicesService).Call(ctxT(t), trust.FnRevoke, trust.RevokeRequest{Name: "nas"}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("an instance of a revoked agent is still connected after 1s")
	}
}

// /metrics can be exposed beyond loopback the standard way: an
// exporter-toolkit web config with basic auth (and TLS).
func TestHub_MetricsWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort = "127.0.0.1", broker.RandomPort, 0
	cfg.Metrics, cfg.MetricsWebConfig = "127.0.0.1:0", web
	cfg.DataDir, cfg.ProfileDir = t.TempDir(), t.TempDir()
	h, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	url := h.MetricsURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("metrics URL %s", url)
	}
	get := func(user, pass string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	if code := get("prom", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong password: %d, want 401", code)
	}
	if code := get("prom", "s3cret"); code != http.StatusOK {
		t.Fatalf("/metrics with the password: %d, want 200", code)
	}
}

// With a certificate of the owner's (--tls-cert), devices pin and trust
// the CA that ends its chain: the owner connects, and a device pairs.
func TestHub_OwnCertificate(t *testing.T) {
	own := trust.HubTLSIn(t.TempDir())
	if _, err := own.Ensure([]string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort, cfg.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
	cfg.DataDir, cfg.ProfileDir = t.TempDir(), filepath.Join(t.TempDir(), "owner")
	cfg.TLSCert, cfg.TLSKey = own.CertFile, own.KeyFile
	hb, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close(context.Background())
	h := &testHub{Hub: hb, profile: cfg.ProfileDir, log: &proctest.Buffer{}}
	want, _ := own.CAPEM()
	if got, _ := os.ReadFile(filepath.Join(h.profile, "hub-ca.pem")); string(got) != string(want) {
		t.Fatal("the owner's profile does not trust the CA of --tls-cert")
	}
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatalf("owner connect: %v", err)
	}
	if err := node(t, nc).Lookup("hub").Call(ctxT(t), "nopKserv", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Pair(ctxT(t), h.LocalURL(), h.add(t, "phone", "device"), t.TempDir()); err != nil {
		t.Fatalf("pair with a hub on its owner's certificate: %v", err)
	}
}

// A hub from before identities kept its notes in the server's global
// account; the first start with identities keeps them.
func TestHub_UpgradeKeepsNotes(t *testing.T) {
	data := t.TempDir()
	old := brokertest.Start(t, func(c *broker.Config) { c.StoreDir = data })
	nc := brokertest.Connect(t, old)
	js, _ := jetstream.New(nc)
	store, err := notes.Open(ctxT(t), js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Save(ctxT(t), "plan.txt", []byte("keep me"), 0); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	old.Shutdown()

	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort, cfg.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
	cfg.DataDir, cfg.ProfileDir = data, filepath.Join(t.TempDir(), "owner")
	hb, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close(context.Background())
	owner, err := connect(t, cfg.ProfileDir)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	if err := node(t, owner).Lookup("hub").Call(ctxT(t), "get", omq.Args("plan.txt", 0), &text); err != nil || text != "keep me" {
		t.Fatalf("the note from before identities: %q, %v", text, err)
	}
}

// A second hub on the same data directory refuses to start, naming the
// process that holds it; the first keeps serving.
func TestHub_DataDirLocked(t *testing.T) {
	h := startHub(t)
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.MonitorPort, cfg.Metrics = "127.0.0.1", broker.RandomPort, 0, ""
	cfg.DataDir, cfg.ProfileDir = h.cfg.DataDir, t.TempDir()
	_, err := Start(ctxT(t), cfg)
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second hub on one data directory: %v", err)
	}
	nc, err := connect(t, h.profile)
	if err != nil {
		t.Fatal(err)
	}
	if err := node(t, nc).Lookup("hub").Call(ctxT(t), "nopKserv", nil, nil); err != nil {
		t.Fatalf("the first hub after the refused second: %v", err)
	}
}
