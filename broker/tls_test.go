package broker_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/dpc-project/dpc/broker/brokertest"
	"github.com/nats-io/nats.go"
)

// testPKI is a throw-away CA with one server and one client certificate,
// written as PEM files.
type testPKI struct {
	CAFile                    string
	ServerCert, ServerKey     string
	ClientCert, ClientKey     string
	StrangerCert, StrangerKey string // a client certificate from another CA
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caCert, caKey := makeCA(t, "dpc test CA")
	otherCert, otherKey := makeCA(t, "some other CA")
	p := testPKI{CAFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.CAFile, "CERTIFICATE", caCert.Raw)

	p.ServerCert, p.ServerKey = makeLeaf(t, dir, "server", caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "dpc-hub"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCert, p.ClientKey = makeLeaf(t, dir, "client", caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "dpc-device"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.StrangerCert, p.StrangerKey = makeLeaf(t, dir, "stranger", otherCert, otherKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "stranger"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func template(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	return tmpl
}

func makeCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func makeLeaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl = template(t, tmpl)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// connectTLS dials srv over TCP, returning the error instead of failing.
func connectTLS(srv *broker.Server, opts ...nats.Option) error {
	opts = append(opts, nats.Timeout(5*time.Second), nats.NoReconnect())
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	// With TLS 1.3 a refused client certificate shows only after the
	// handshake, so make a round trip before calling it connected.
	return nc.Flush()
}

// plaintextAnswered speaks the NATS protocol without TLS and reports whether
// the server answered PING with PONG.
func plaintextAnswered(t *testing.T, srv *broker.Server) bool {
	t.Helper()
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read INFO: %v", err)
	}
	if !strings.Contains(info, `"tls_required":true`) {
		t.Errorf("INFO does not demand TLS: %s", info)
	}
	if _, err := io.WriteString(conn, "CONNECT {\"verbose\":false}\r\nPING\r\n"); err != nil {
		return false
	}
	rest, _ := io.ReadAll(r) // the server hangs up
	return strings.Contains(string(rest), "PONG")
}

func TestServer_TLS(t *testing.T) {
	pki := newTestPKI(t)
	trustCA := nats.RootCAs(pki.CAFile)
	tests := []struct {
		name          string
		verifyClients bool
		opts          []nats.Option
		ok            bool
	}{
		{"client not trusting the CA", false, nil, false},
		{"client trusting the CA", false, []nats.Option{trustCA}, true},
		{"no client cert when verifying", true, []nats.Option{trustCA}, false},
		{"client cert from another CA", true, []nats.Option{trustCA, nats.ClientCert(pki.StrangerCert, pki.StrangerKey)}, false},
		{"client cert from the CA", true, []nats.Option{trustCA, nats.ClientCert(pki.ClientCert, pki.ClientKey)}, true},
	}
	servers := map[bool]*broker.Server{}
	for _, verify := range []bool{false, true} {
		servers[verify] = brokertest.Start(t, func(c *broker.Config) {
			c.JetStream = false
			c.TLS = &broker.TLSConfig{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CAFile, VerifyClients: verify}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := connectTLS(servers[tt.verifyClients], tt.opts...)
			if tt.ok && err != nil {
				t.Fatalf("connect: %v", err)
			}
			// The refusal reads "certificate required" or, when the
			// server hangs up before the alert arrives, "connection closed".
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "tls")) {
				t.Fatalf("connect: %v, want refused during TLS", err)
			}
		})
	}
	for verify, srv := range servers {
		if !strings.HasPrefix(srv.ClientURL(), "tls://") {
			t.Errorf("VerifyClients=%v: ClientURL() = %q, want tls://", verify, srv.ClientURL())
		}
		if plaintextAnswered(t, srv) {
			t.Errorf("VerifyClients=%v: server answered a plaintext client", verify)
		}
		// The host program's own connection needs no certificate.
		nc := inProcess(t, srv)
		if err := nc.Flush(); err != nil {
			t.Errorf("VerifyClients=%v: in-process connection: %v", verify, err)
		}
	}
}

func TestStart_TLSBadFiles(t *testing.T) {
	pki := newTestPKI(t)
	cfg := brokertest.Config(t.TempDir())
	cfg.TLS = &broker.TLSConfig{CertFile: pki.ServerCert, KeyFile: filepath.Join(t.TempDir(), "missing.pem")}
	srv, err := broker.Start(t.Context(), cfg)
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start succeeded with a missing key file")
	}
	if !strings.Contains(err.Error(), "TLS") {
		t.Errorf("Start() = %v, want it to blame TLS", err)
	}
}
