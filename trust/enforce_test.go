package trust_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// hub is a real embedded server under an Authority, with TLS from the
// authority's own CA, as dpc-hub runs it.
type hub struct {
	t     *testing.T
	a     *trust.Authority
	srv   *broker.Server
	tls   trust.HubTLS
	dir   string
	state trust.AccountState
}

func startHub(t *testing.T) *hub {
	t.Helper()
	dir := t.TempDir()
	a, err := trust.NewAuthority()
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{t: t, a: a, dir: dir, tls: trust.HubTLSIn(filepath.Join(dir, "tls")), state: trust.AccountState{Storage: 1 << 30, Memory: 64 << 20}}
	if _, err := h.tls.Ensure([]string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	tr, err := a.BrokerTrust(h.state, false)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = brokertest.Start(t, func(c *broker.Config) {
		c.StoreDir = filepath.Join(dir, "store")
		c.Trust = tr
		c.TLS = &broker.TLSConfig{CertFile: h.tls.CertFile, KeyFile: h.tls.KeyFile}
		if os.Getenv("TRUST_DEBUG") != "" {
			c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c.Debug = true
		}
	})
	return h
}

// identity issues a key and credentials for role, as pairing does, and
// returns how to connect with them.
func (h *hub) identity(r trust.Role, name string) (trust.Connection, string) {
	h.t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		h.t.Fatal(err)
	}
	pk, _ := kp.PublicKey()
	userJWT, err := h.a.IssueUser(r, name, pk)
	if err != nil {
		h.t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return h.creds(userJWT, seed), pk
}

func (h *hub) creds(userJWT string, seed []byte) trust.Connection {
	h.t.Helper()
	b, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		h.t.Fatal(err)
	}
	f := filepath.Join(h.t.TempDir(), "id.creds")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return trust.Connection{URLs: []string{h.srv.ClientURL()}, CredsFile: f, CAFile: h.tls.CAFile}
}

// client is a connection that records the server's asynchronous errors
// (permission violations arrive that way).
type client struct {
	*nats.Conn
	errs chan error
}

func (h *hub) connect(c trust.Connection, extra ...nats.Option) (*client, error) {
	h.t.Helper()
	opts, err := c.Options()
	if err != nil {
		h.t.Fatal(err)
	}
	cl := &client{errs: make(chan error, 64)}
	opts = append(opts, nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case cl.errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(c.URL(), append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	h.t.Cleanup(nc.Close)
	cl.Conn = nc
	return cl, nil
}

func (h *hub) mustConnect(c trust.Connection) *client {
	h.t.Helper()
	cl, err := h.connect(c)
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	return cl
}

// denied runs action and waits for the server to refuse it.
func (cl *client) denied(t *testing.T, what string, action func() error) {
	t.Helper()
	if err := action(); err != nil {
		if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "Permissions Violation") {
			return
		}
	}
	_ = cl.Flush()
	select {
	case err := <-cl.errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: want a permissions violation, got %v", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s: the server allowed it", what)
	}
}

// allowed runs action and checks that the server did not refuse it.
func (cl *client) allowed(t *testing.T, what string, action func() error) {
	t.Helper()
	if err := action(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := cl.Flush(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case err := <-cl.errs:
		t.Fatalf("%s: refused: %v", what, err)
	case <-time.After(100 * time.Millisecond):
	}
}

func sub(cl *client, subject string) func() error {
	return func() error { _, err := cl.SubscribeSync(subject); return err }
}

func queueSub(cl *client, subject, queue string) func() error {
	return func() error { _, err := cl.QueueSubscribeSync(subject, queue); return err }
}

func pub(cl *client, subject string) func() error {
	return func() error { return cl.Publish(subject, []byte("x")) }
}

// serveAdd answers dpc.svc.tst.add as a service:tst instance would.
func serveAdd(t *testing.T, cl *client, answer string) {
	t.Helper()
	if _, err := cl.QueueSubscribe("dpc.svc.tst.*", "tst", func(m *nats.Msg) { _ = m.Respond([]byte(answer)) }); err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A client with no credentials is refused while pairing is closed.
func TestTrust_UnknownClientRefused(t *testing.T) {
	h := startHub(t)
	_, err := h.connect(trust.Connection{URLs: []string{h.srv.ClientURL()}, CAFile: h.tls.CAFile})
	if err == nil {
		t.Fatal("a client without credentials connected")
	}
	// Nor does a key the hub never signed get in.
	other, _ := trust.NewAuthority()
	kp, _ := nkeys.CreateUser()
	pk, _ := kp.PublicKey()
	forged, _ := other.IssueUser(trust.RoleOwner, "mallory", pk)
	seed, _ := kp.Seed()
	if _, err := h.connect(h.creds(forged, seed)); err == nil {
		t.Fatal("credentials from another authority were accepted")
	}
	// Without TLS nothing gets as far as authentication.
	c, _ := h.identity(trust.RoleOwner, "owner")
	c.CAFile = ""
	if _, err := h.connect(c); err == nil {
		t.Fatal("connected without trusting the hub's CA")
	}
}

// A device calls functions and reads its own replies, and nothing else.
func TestTrust_DeviceLeastPrivilege(t *testing.T) {
	h := startHub(t)
	svcConn, _ := h.identity("service:tst", "tst-1")
	svc := h.mustConnect(svcConn)
	serveAdd(t, svc, "5")
	devConn, _ := h.identity(trust.RoleDevice, "phone")
	dev := h.mustConnect(devConn)

	msg, err := dev.Request("dpc.svc.tst.add", []byte("[2,3]"), 2*time.Second)
	if err != nil || string(msg.Data) != "5" {
		t.Fatalf("device call: %v %v", err, msg)
	}

	dev.denied(t, "device joins tst's queue group", queueSub(dev, "dpc.svc.tst.*", "tst"))
	dev.denied(t, "device subscribes to dpc.>", sub(dev, "dpc.>"))
	dev.denied(t, "device subscribes to everyone's inboxes", sub(dev, "_INBOX.>"))
	dev.denied(t, "device uses the JetStream API", pub(dev, "$JS.API.STREAM.LIST"))
	dev.denied(t, "device deletes a stream", pub(dev, "$JS.API.STREAM.DELETE.DPC_ASYNC"))
	dev.denied(t, "device reads the notes bucket", pub(dev, "$JS.API.DIRECT.GET.KV_DPC_NOTES.$KV.DPC_NOTES.x"))
	dev.denied(t, "device calls spawn", pub(dev, "dpc.one.agent.nas.spawn"))
	dev.denied(t, "device manages identities", pub(dev, "dpc.svc.devices.add"))
	dev.denied(t, "device answers a $SRV.PING", sub(dev, "$SRV.PING"))

	// Another identity's replies stay its own.
	dev2Conn, dev2Key := h.identity(trust.RoleDevice, "laptop")
	_ = h.mustConnect(dev2Conn)
	dev.denied(t, "device reads another's inbox", sub(dev, trust.InboxPrefix(dev2Key)+".>"))
}

// A service identity serves its own service only.
func TestTrust_ServiceServesOnlyItself(t *testing.T) {
	h := startHub(t)
	c, _ := h.identity("service:tst", "tst-1")
	svc := h.mustConnect(c)
	svc.allowed(t, "tst joins its queue group", queueSub(svc, "dpc.svc.tst.*", "tst"))
	svc.allowed(t, "tst takes multi calls", sub(svc, "dpc.all.tst.*"))
	svc.allowed(t, "tst takes calls to one instance", sub(svc, "dpc.one.tst.tst-1.*"))
	svc.allowed(t, "tst answers $SRV.PING", sub(svc, "$SRV.PING"))
	svc.allowed(t, "tst answers $SRV.INFO.tst.id", sub(svc, "$SRV.INFO.tst.tst-1"))
	svc.denied(t, "tst serves hub", queueSub(svc, "dpc.svc.hub.*", "hub"))
	svc.denied(t, "tst serves textutil", queueSub(svc, "dpc.svc.textutil.*", "textutil"))
	svc.denied(t, "tst answers $SRV.INFO.hub", sub(svc, "$SRV.INFO.hub.x"))
	svc.denied(t, "tst deletes a stream", pub(svc, "$JS.API.STREAM.DELETE.DPC_ASYNC"))
	svc.denied(t, "tst creates another service's consumer", pub(svc, "$JS.API.CONSUMER.CREATE.DPC_ASYNC.omq_textutil.dpc.async.textutil.*"))
	svc.denied(t, "tst publishes into an inbox", pub(svc, "_INBOX.x.y"))
}

// The hub's own identity has JetStream; a device reaches only the
// durable lane's stream.
func TestTrust_JetStream(t *testing.T) {
	h := startHub(t)
	hubNC, err := h.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer hubNC.Close()
	js, _ := jetstream.New(hubNC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DPC_ASYNC", Subjects: []string{"dpc.async.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatalf("hub creates the durable stream: %v", err)
	}
	devConn, _ := h.identity(trust.RoleDevice, "phone")
	dev := h.mustConnect(devConn)
	djs, _ := jetstream.New(dev.Conn)
	if _, err := djs.Publish(ctx, "dpc.async.tst.add", []byte("[1,2]")); err != nil {
		t.Fatalf("device durable send: %v", err)
	}
	if _, err := djs.Stream(ctx, "DPC_ASYNC"); err != nil {
		t.Fatalf("device stream info: %v", err)
	}
}

// Revoking an identity closes its open connection at once and keeps it
// out.
func TestTrust_RevocationClosesConnection(t *testing.T) {
	h := startHub(t)
	c, pk := h.identity(trust.RoleDevice, "phone")
	closed := make(chan struct{})
	dev, err := h.connect(c, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	_ = dev
	// Revocation is by issue time, in whole seconds: a JWT issued in the
	// second of its revocation is revoked too.
	h.state.Revoked = append(h.state.Revoked, trust.Revoked{PublicKey: pk, At: time.Now()})
	acc, err := h.a.DPCAccountJWT(h.state)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := h.srv.UpdateAccount(acc); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Logf("closed %s after the revocation", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("the revoked device's connection is still open after 1s")
	}
	if _, err := h.connect(c); err == nil {
		t.Fatal("a revoked device reconnected")
	}
}

// Without credentials a client lands in the pairing account while pairing
// is open, where it may send to the pairing function and nothing else.
func TestTrust_PairingAccount(t *testing.T) {
	h := startHub(t)
	open, err := h.a.PairingAccountJWT(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.UpdateAccount(open); err != nil {
		t.Fatal(err)
	}
	hubNC, _ := h.srv.Connect()
	defer hubNC.Close()
	if _, err := hubNC.Subscribe(trust.PairSubject, func(m *nats.Msg) { _ = m.Respond([]byte("paired")) }); err != nil {
		t.Fatal(err)
	}
	_ = hubNC.Flush()

	guest, err := h.connect(trust.Connection{URLs: []string{h.srv.ClientURL()}, CAFile: h.tls.CAFile})
	if err != nil {
		t.Fatalf("guest while pairing is open: %v", err)
	}
	msg, err := guest.Request(trust.PairSubject, []byte("{}"), 2*time.Second)
	if err != nil || string(msg.Data) != "paired" {
		t.Fatalf("guest's pair request: %v", err)
	}
	guest.denied(t, "guest calls a function", pub(guest, "dpc.svc.tst.add"))
	guest.denied(t, "guest uses JetStream", pub(guest, "$JS.API.INFO"))

	closed, _ := h.a.PairingAccountJWT(false)
	if err := h.srv.UpdateAccount(closed); err != nil {
		t.Fatal(err)
	}
	brokertest.Eventually(t, 2*time.Second, guest.IsClosed, "the guest's connection closed when pairing closed")
}
