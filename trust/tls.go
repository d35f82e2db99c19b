package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// The hub's TLS identity: a CA of its own (the one thing a device pins)
// and a server certificate it signs. Clients verify the hub's chain
// against that CA only, and not the host name: the CA signs nothing but
// this hub's certificates, and a home hub's address changes with DHCP.

const (
	caValidity   = 20 * 365 * 24 * time.Hour
	certValidity = 2 * 365 * 24 * time.Hour
	// certRenewBefore: a server certificate this close to expiry is
	// replaced at start-up.
	certRenewBefore = 60 * 24 * time.Hour
)

// HubTLS is where a hub keeps its TLS files.
type HubTLS struct {
	CAFile, CAKeyFile, CertFile, KeyFile string
}

// HubTLSIn is the layout under dir.
func HubTLSIn(dir string) HubTLS {
	return HubTLS{
		CAFile: dir + "/ca.pem", CAKeyFile: dir + "/ca-key.pem",
		CertFile: dir + "/hub.pem", KeyFile: dir + "/hub-key.pem",
	}
}

// Ensure makes the CA if it is missing, and a server certificate if it is
// missing, expiring, or lacks one of hosts (names or IP addresses). The
// certificate file holds the chain, server certificate then CA, so that a
// client pinning the CA sees it in the handshake.
func (h HubTLS) Ensure(hosts []string) (changed bool, err error) {
	ca, caKey, err := loadPair(h.CAFile, h.CAKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		ca, caKey, err = newCA()
		if err == nil {
			err = writePair(h.CAFile, h.CAKeyFile, [][]byte{ca.Raw}, caKey)
		}
		changed = true
	}
	if err != nil {
		return false, fmt.Errorf("trust: hub CA: %w", err)
	}
	cert, _, err := loadPair(h.CertFile, h.KeyFile)
	if err == nil && !changed && cert.CheckSignatureFrom(ca) == nil &&
		time.Until(cert.NotAfter) > certRenewBefore && covers(cert, hosts) && slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return false, nil
	}
	leaf, key, err := newServerCert(ca, caKey, hosts)
	if err != nil {
		return false, fmt.Errorf("trust: hub certificate: %w", err)
	}
	if err := writePair(h.CertFile, h.KeyFile, [][]byte{leaf.Raw, ca.Raw}, key); err != nil {
		return false, fmt.Errorf("trust: hub certificate: %w", err)
	}
	return true, nil
}

// CAPEM is the CA certificate, as devices store it.
func (h HubTLS) CAPEM() ([]byte, error) { return os.ReadFile(h.CAFile) }

// DefaultHosts are the names and addresses a hub's certificate covers:
// localhost, the host name (and .local), and every address of this
// machine's interfaces.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
		if !strings.Contains(h, ".") {
			hosts = append(hosts, h+".local")
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	return hosts
}

func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "DPC hub CA " + host, Organization: []string{"DPC"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func newServerCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "DPC hub", Organization: []string{"DPC"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Client auth too: hubs of one cluster authenticate their routes
		// to each other with these certificates.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(certFile, keyFile string, chain [][]byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteSecret(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})); err != nil {
		return err
	}
	var cb []byte
	for _, der := range chain {
		cb = append(cb, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	// Certificates are public, but the directory is the hub's: 0600 too.
	return WriteSecret(certFile, cb)
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if _, serr := os.Stat(certFile); errors.Is(serr, os.ErrNotExist) {
			return nil, nil, serr
		}
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyFile)
	}
	return cert, key, nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes.
func Fingerprint(der []byte) [32]byte { return sha256.Sum256(der) }

// ParseCAPEM reads the first certificate of a PEM file's bytes.
func ParseCAPEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("trust: no certificate in PEM data")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// ClientTLS is the TLS configuration of a client that trusts exactly one
// hub CA: the server's chain must lead to ca; the host name it was
// reached by is not checked (see the top of this file).
func ClientTLS(ca *x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard check would also match the host name; the
		// verification below is the standard one without that.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool)
		},
	}
}

// PinnedTLS is the TLS configuration of a client pairing with a hub it
// knows only by a pairing code: the hub's chain must hold a CA whose
// fingerprint the code pins, and the server certificate must be signed by
// it. found receives that CA.
func PinnedTLS(code Code, found func(*x509.Certificate)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, c := range cs.PeerCertificates {
				if !c.IsCA || !code.Pins(Fingerprint(c.Raw)) {
					continue
				}
				pool := x509.NewCertPool()
				pool.AddCert(c)
				if err := verifyChain(cs.PeerCertificates, pool); err != nil {
					return err
				}
				found(c)
				return nil
			}
			return ErrPinMismatch
		},
	}
}

// ErrPinMismatch: the server's certificate is not the one the pairing code
// names — another machine answered at that address.
var ErrPinMismatch = errors.New("trust: the hub's certificate does not match the pairing code (is this the right hub?)")

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("trust: the hub sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("trust: the hub's certificate is not from the hub this device paired with: %w", err)
	}
	return nil
}

// ChainCAPEM is the CA certificate that ends the chain in a PEM file (a
// server certificate followed by its issuers), as PEM: what devices of a
// hub with a certificate of its owner's pin and trust.
func ChainCAPEM(certFile string) ([]byte, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	var ca []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		if c.IsCA {
			ca = pem.EncodeToMemory(blk)
		}
	}
	if ca == nil {
		return nil, errors.New("no CA certificate after the server's: append the CA that signed it (devices pin that CA)")
	}
	return ca, nil
}
