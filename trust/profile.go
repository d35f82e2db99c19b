package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// A profile is how one machine reaches its hub as one identity: the hub's
// addresses, the identity's NATS credentials (user JWT and key seed, the
// standard .creds file) and the hub's CA certificate. It lives in the
// user's configuration directory, where every DPC command looks for it.

// Files of a profile directory.
const (
	profileFile = "hub.json"
	credsFile   = "identity.creds"
	caFile      = "hub-ca.pem"
)

// EnvHome overrides where profiles live; NoProfile there means none.
const EnvHome = "DPC_HOME"

// NoProfile as DPC_HOME means this process has no profile: it reaches a
// hub only with what its flags and environment say (dpc-agent starts its
// instances so, lest they take the identity of the user they run as).
const NoProfile = "none"

// Profile describes the identity a profile directory holds.
type Profile struct {
	// URLs are the hub's client URLs (tls://host:4222).
	URLs      []string `json:"urls"`
	Name      string   `json:"name"`
	Role      Role     `json:"role"`
	PublicKey string   `json:"public_key"`
	// Hub is the fingerprint of the hub's CA (hex), to tell hubs apart.
	Hub string `json:"hub"`
	// Account is the hub's DPC account (an agent signs its instances'
	// credentials for it).
	Account string `json:"account,omitempty"`

	dir string
}

// ProfileDir is $DPC_HOME, else the user's configuration directory's
// dpc/ ($XDG_CONFIG_HOME/dpc or ~/.config/dpc on Linux).
func ProfileDir() (string, error) {
	if d := os.Getenv(EnvHome); d == NoProfile {
		return "", fmt.Errorf("%w (%s=%s)", ErrNoProfile, EnvHome, NoProfile)
	} else if d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("trust: no configuration directory (set %s): %w", EnvHome, err)
	}
	return filepath.Join(base, "dpc"), nil
}

// ErrNoProfile: this machine has not been paired (and runs no hub).
var ErrNoProfile = errors.New("trust: no DPC identity on this machine")

// LoadProfile reads the profile in dir.
func LoadProfile(dir string) (*Profile, error) {
	b, err := os.ReadFile(filepath.Join(dir, profileFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s; pair it with: dpc-cli pair CODE --hub URL)", ErrNoProfile, filepath.Join(dir, profileFile))
	}
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("trust: %s: %w", filepath.Join(dir, profileFile), err)
	}
	p.dir = dir
	return &p, nil
}

// CredsFile is the identity's NATS credentials file.
func (p *Profile) CredsFile() string { return filepath.Join(p.dir, credsFile) }

// CAFile is the hub's CA certificate.
func (p *Profile) CAFile() string { return filepath.Join(p.dir, caFile) }

// Dir is where the profile lives.
func (p *Profile) Dir() string { return p.dir }

// SaveProfile writes a profile into dir: p, the credentials (userJWT and
// the identity's seed) and the hub's CA, all mode 0600. It replaces what
// was there.
func SaveProfile(dir string, p Profile, userJWT string, seed []byte, caPEM []byte) (*Profile, error) {
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return nil, fmt.Errorf("trust: credentials: %w", err)
	}
	ca, err := ParseCAPEM(caPEM)
	if err != nil {
		return nil, err
	}
	fp := Fingerprint(ca.Raw)
	p.Hub = fmt.Sprintf("%x", fp[:])
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{credsFile, creds}, {caFile, caPEM}, {profileFile, append(b, '\n')}} {
		if err := WriteSecret(filepath.Join(dir, f.name), f.data); err != nil {
			return nil, err
		}
	}
	p.dir = dir
	return &p, nil
}

// Connection says how to reach the hub as one identity. Empty fields are
// left to the NATS defaults (a plain server without authentication).
type Connection struct {
	URLs      []string
	CredsFile string
	CAFile    string
}

// Options are the nats.go options for c: the credentials, TLS that trusts
// only the hub's CA, and the identity's own inbox prefix (the only one its
// permissions let it subscribe to).
func (c Connection) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if c.CredsFile != "" {
		b, err := os.ReadFile(c.CredsFile)
		if err != nil {
			return nil, fmt.Errorf("trust: credentials: %w", err)
		}
		userJWT, err := jwt.ParseDecoratedJWT(b)
		if err != nil {
			return nil, fmt.Errorf("trust: credentials %s: %w", c.CredsFile, err)
		}
		uc, err := jwt.DecodeUserClaims(userJWT)
		if err != nil {
			return nil, fmt.Errorf("trust: credentials %s: %w", c.CredsFile, err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile), nats.CustomInboxPrefix(InboxPrefix(uc.Subject)))
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("trust: hub CA: %w", err)
		}
		ca, err := ParseCAPEM(b)
		if err != nil {
			return nil, fmt.Errorf("trust: hub CA %s: %w", c.CAFile, err)
		}
		opts = append(opts, nats.Secure(ClientTLS(ca)))
	}
	return opts, nil
}

// URL is the URLs joined as nats.Connect takes them.
func (c Connection) URL() string { return strings.Join(c.URLs, ",") }

// Resolve fills what the caller left empty from the profile in dir (if
// there is one): the way every DPC command finds its hub. A flag or
// environment variable the user set wins over the profile.
func (c Connection) Resolve(dir string) (Connection, error) {
	if c.CredsFile != "" && c.CAFile != "" && len(c.URLs) > 0 {
		return c, nil
	}
	p, err := LoadProfile(dir)
	if errors.Is(err, ErrNoProfile) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if len(c.URLs) == 0 {
		c.URLs = p.URLs
	}
	if c.CredsFile == "" {
		c.CredsFile = p.CredsFile()
	}
	if c.CAFile == "" {
		c.CAFile = p.CAFile()
	}
	return c, nil
}

// keyPair reads the identity's key from its credentials file.
func (c Connection) keyPair() (nkeys.KeyPair, error) {
	b, err := os.ReadFile(c.CredsFile)
	if err != nil {
		return nil, fmt.Errorf("trust: credentials: %w", err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("trust: credentials %s: %w", c.CredsFile, err)
	}
	return kp, nil
}
