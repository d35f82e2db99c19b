package trust

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// agentKeyFile holds an agent's signing key seed in its profile.
const agentKeyFile = "agent.nk"

// AgentKeyFile is where an agent's profile keeps its signing key.
func (p *Profile) AgentKeyFile() string { return filepath.Join(p.dir, agentKeyFile) }

// Pair makes this machine an identity of the hub at url: it makes a key
// pair here (the private key never leaves), connects over TLS that the
// code pins to the hub's CA (any other machine answering is refused),
// proves it holds the key, and saves the credentials the hub issues as
// the profile in dir. It replaces a profile already there.
func Pair(ctx context.Context, url string, code Code, dir string) (*Profile, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pk, _ := kp.PublicKey()
	sig, err := kp.Sign(code.Proof(pk))
	if err != nil {
		return nil, err
	}
	var ca *x509.Certificate
	nc, err := nats.Connect(url,
		nats.Name("dpc-pair"),
		nats.Secure(PinnedTLS(code, func(c *x509.Certificate) { ca = c })),
		nats.NoReconnect(),
		nats.Timeout(10*time.Second))
	if err != nil {
		switch {
		case errors.Is(err, ErrPinMismatch):
			return nil, err
		case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrMaxAccountConnectionsExceeded):
			return nil, fmt.Errorf("%w: the hub at %s is not pairing now: the code has expired or was used", ErrPairingRefused, url)
		}
		return nil, fmt.Errorf("pair: cannot reach the hub at %s: %w", url, err)
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		return nil, err
	}
	req := PairRequest{Code: code.String(), PublicKey: pk, Signature: base64.StdEncoding.EncodeToString(sig)}
	var rep PairReply
	if err := node.Lookup(PairingService).Call(ctx, FnPair, req, &rep); err != nil {
		var oe *omq.Error
		if errors.As(err, &oe) && (oe.Code == 403 || oe.Code == 409 || oe.Code == 429) {
			return nil, fmt.Errorf("%w: %s", ErrPairingRefused, oe.Description)
		}
		return nil, fmt.Errorf("pair: %w", err)
	}
	caPEM := []byte(rep.CAPEM)
	got, err := ParseCAPEM(caPEM)
	if err != nil || ca == nil || !got.Equal(ca) {
		return nil, fmt.Errorf("pair: the hub sent a CA other than the one it presented")
	}
	seed, _ := kp.Seed()
	p, err := SaveProfile(dir, Profile{URLs: []string{url}, Name: rep.Name, Role: rep.Role, PublicKey: pk, Account: rep.Account}, rep.JWT, seed, caPEM)
	if err != nil {
		return nil, err
	}
	if rep.Role == RoleAgent {
		if _, err := RegisterAgentKey(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// RegisterAgentKey makes the signing key an agent signs its instances'
// credentials with (kept in its profile; made if missing) and has the hub
// admit it. It returns the key.
func RegisterAgentKey(ctx context.Context, p *Profile) (nkeys.KeyPair, error) {
	seed, err := os.ReadFile(p.AgentKeyFile())
	var agentKP nkeys.KeyPair
	switch {
	case err == nil:
		agentKP, err = nkeys.FromSeed(seed)
	case errors.Is(err, os.ErrNotExist):
		if agentKP, err = nkeys.CreateAccount(); err == nil {
			seed, _ = agentKP.Seed()
			err = WriteSecret(p.AgentKeyFile(), seed)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("agent signing key: %w", err)
	}
	c := Connection{URLs: p.URLs, CredsFile: p.CredsFile(), CAFile: p.CAFile()}
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.URL(), append(opts, nats.Name("dpc-agent-key"), nats.NoReconnect())...)
	if err != nil {
		return nil, fmt.Errorf("agent signing key: cannot reach the hub: %w", err)
	}
	defer nc.Close()
	node, err := omq.New(nc)
	if err != nil {
		return nil, err
	}
	idKP, err := c.keyPair()
	if err != nil {
		return nil, err
	}
	sig, err := idKP.Sign(AgentKeyProof(pub(agentKP)))
	if err != nil {
		return nil, err
	}
	req := AgentKeyRequest{PublicKey: p.PublicKey, AgentKey: pub(agentKP), Signature: base64.StdEncoding.EncodeToString(sig)}
	if err := node.Lookup(PairingService).Call(ctx, FnAgentKey, req, nil); err != nil {
		return nil, fmt.Errorf("agent signing key: %w", err)
	}
	return agentKP, nil
}

// ErrPairingRefused: the hub did not take the code (wrong, used, expired,
// or pairing closed).
var ErrPairingRefused = errors.New("pairing refused")
