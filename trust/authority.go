package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Authority holds a hub's signing keys: the NATS operator, the DPC account
// every identity lives in, the pairing account unknown clients land in,
// the system account, and one scoped signing key per role. Whoever holds
// it can admit anyone, so it lives in the hub's data directory with mode
// 0600 and nowhere else.
type Authority struct {
	operator, system, account, pairing nkeys.KeyPair
	scopes                             map[Role]nkeys.KeyPair
	// grown: LoadAuthority added a key the file lacked; save it.
	grown bool
}

// authorityFile is the on-disk form: nkey seeds.
type authorityFile struct {
	Operator string            `json:"operator"`
	System   string            `json:"system"`
	Account  string            `json:"account"`
	Pairing  string            `json:"pairing"`
	Scopes   map[string]string `json:"scopes"`
}

// scopedRoles are the roles with a signing key of their own.
var scopedRoles = []Role{roleHub, RoleOwner, RoleDevice, "service", RoleAgent, RoleProvisioner}

// NewAuthority makes fresh keys.
func NewAuthority() (*Authority, error) {
	a := &Authority{scopes: map[Role]nkeys.KeyPair{}}
	var err error
	mk := func(f func() (nkeys.KeyPair, error)) nkeys.KeyPair {
		if err != nil {
			return nil
		}
		var kp nkeys.KeyPair
		kp, err = f()
		return kp
	}
	a.operator = mk(nkeys.CreateOperator)
	a.system = mk(nkeys.CreateAccount)
	a.account = mk(nkeys.CreateAccount)
	a.pairing = mk(nkeys.CreateAccount)
	for _, r := range scopedRoles {
		a.scopes[r] = mk(nkeys.CreateAccount)
	}
	if err != nil {
		return nil, fmt.Errorf("trust: making keys: %w", err)
	}
	return a, nil
}

// LoadAuthority reads the keys from path.
func LoadAuthority(path string) (*Authority, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	var f authorityFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("trust: %s: %w", path, err)
	}
	a := &Authority{scopes: map[Role]nkeys.KeyPair{}}
	parse := func(what, seed string, want byte) nkeys.KeyPair {
		if err != nil {
			return nil
		}
		var kp nkeys.KeyPair
		kp, err = nkeys.FromSeed([]byte(seed))
		if err == nil && pub(kp)[0] != want {
			err = fmt.Errorf("not an %c… key", want)
		}
		if err != nil {
			err = fmt.Errorf("trust: %s: %s key: %w", path, what, err)
		}
		return kp
	}
	a.operator = parse("operator", f.Operator, 'O')
	a.system = parse("system", f.System, 'A')
	a.account = parse("account", f.Account, 'A')
	a.pairing = parse("pairing", f.Pairing, 'A')
	for _, r := range scopedRoles {
		s, ok := f.Scopes[string(r)]
		if !ok && err == nil {
			// A hub from before this role existed: add its key.
			var kp nkeys.KeyPair
			if kp, err = nkeys.CreateAccount(); err == nil {
				a.scopes[r] = kp
				a.grown = true
			}
			continue
		}
		a.scopes[r] = parse("scope "+string(r), s, 'A')
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Save writes the keys to path, mode 0600, atomically.
func (a *Authority) Save(path string) error {
	f := authorityFile{Scopes: map[string]string{}}
	seed := func(kp nkeys.KeyPair) string { s, _ := kp.Seed(); return string(s) }
	f.Operator, f.System, f.Account, f.Pairing = seed(a.operator), seed(a.system), seed(a.account), seed(a.pairing)
	for r, kp := range a.scopes {
		f.Scopes[string(r)] = seed(kp)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return WriteSecret(path, b)
}

// LoadOrCreateAuthority loads path, or makes and saves new keys if it does
// not exist. created says which.
func LoadOrCreateAuthority(path string) (a *Authority, created bool, err error) {
	a, err = LoadAuthority(path)
	if err == nil && a.grown {
		err = a.Save(path)
	}
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return a, false, err
	}
	if a, err = NewAuthority(); err != nil {
		return nil, false, err
	}
	if err := a.Save(path); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// WriteSecret writes b to path with mode 0600 (its directory 0700), via a
// temporary file and a rename so that a crash leaves the old or the new
// content, never half.
func WriteSecret(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("trust: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("trust: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("trust: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("trust: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	return nil
}

func pub(kp nkeys.KeyPair) string { p, _ := kp.PublicKey(); return p }

// AccountKey is the DPC account's public key.
func (a *Authority) AccountKey() string { return pub(a.account) }

// OperatorJWT is the self-signed operator the server trusts.
func (a *Authority) OperatorJWT() (string, error) {
	oc := jwt.NewOperatorClaims(pub(a.operator))
	oc.Name = "DPC"
	oc.SystemAccount = pub(a.system)
	return oc.Encode(a.operator)
}

// SystemAccountJWT is the NATS system account (server events, monitoring).
func (a *Authority) SystemAccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(pub(a.system))
	ac.Name = "SYS"
	return ac.Encode(a.operator)
}

// Revoked is one identity's key and when it was revoked: JWTs issued for
// it up to then are refused.
type Revoked struct {
	PublicKey string
	At        time.Time
}

// AccountState is what the DPC account's JWT depends on besides the keys:
// revoked identities, and the agents' signing keys.
type AccountState struct {
	Revoked []Revoked
	// AgentKeys are agents' public account signing keys: each signs the
	// credentials of the instances its agent starts, scoped to the service
	// role. Dropping one cuts off every instance it admitted.
	AgentKeys []string
	// Storage caps the account's JetStream file storage in bytes (-1: no
	// cap) and Memory its memory storage.
	Storage, Memory int64
}

// DPCAccountJWT is the account every identity lives in: JetStream on
// within the storage caps, one scoped signing key per role, the agents'
// keys, the revocations, and the pairing function exported to the
// pairing account.
func (a *Authority) DPCAccountJWT(st AccountState) (string, error) {
	ac := jwt.NewAccountClaims(pub(a.account))
	ac.Name = "DPC"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{DiskStorage: st.Storage, MemoryStorage: st.Memory, Streams: -1, Consumer: -1, MaxAckPending: -1}
	// Every identity holds its own key: bearer tokens would let a copied
	// JWT stand in for its owner.
	ac.Limits.DisallowBearer = true
	for _, r := range scopedRoles {
		sc, err := a.scope(r, pub(a.scopes[r]))
		if err != nil {
			return "", err
		}
		ac.SigningKeys.AddScopedSigner(sc)
	}
	keys := append([]string(nil), st.AgentKeys...)
	sort.Strings(keys)
	for _, k := range keys {
		if !nkeys.IsValidPublicAccountKey(k) {
			return "", fmt.Errorf("trust: agent signing key %q is not an account public key", k)
		}
		sc, err := a.scope("service", k)
		if err != nil {
			return "", err
		}
		ac.SigningKeys.AddScopedSigner(sc)
	}
	for _, r := range st.Revoked {
		ac.RevokeAt(r.PublicKey, r.At)
	}
	ac.Exports.Add(&jwt.Export{
		Name: "pairing", Subject: jwt.Subject(PairSubject), Type: jwt.Service, ResponseType: jwt.ResponseTypeSingleton,
	})
	return ac.Encode(a.operator)
}

// scope is a role's signing-key scope: the role's permissions as a
// template the server applies to every user the key signs.
func (a *Authority) scope(r Role, key string) (*jwt.UserScope, error) {
	p, err := permissions(r)
	if err != nil {
		return nil, err
	}
	sc := jwt.NewUserScope()
	sc.Key = key
	sc.Role = string(r)
	sc.Template.Permissions = p
	return sc, nil
}

// PairSubject is the one subject an unknown client may send to: the
// hub's pairing function.
const PairSubject = "dpc.svc.pairing.pair"

// Pairing account limits while pairing is open: a few connections, small
// messages, one subscription each (its inbox).
const (
	pairingConns   = 8
	pairingPayload = 16 << 10
	pairingSubs    = 2
)

// PairingAccountJWT is where clients without credentials land (the
// server's default sentinel): they may only call the pairing function,
// and only while open — otherwise the account admits no connection at
// all, and an open one is closed when pairing closes.
func (a *Authority) PairingAccountJWT(open bool) (string, error) {
	ac := jwt.NewAccountClaims(pub(a.pairing))
	ac.Name = "PAIRING"
	ac.Limits.Conn = 0
	if open {
		ac.Limits.Conn = pairingConns
	}
	ac.Limits.Payload = pairingPayload
	ac.Limits.Subs = pairingSubs
	ac.Limits.Data = -1
	ac.Limits.Imports = 1
	ac.Limits.Exports = 0
	ac.Limits.LeafNodeConn = 0
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{}
	ac.Imports.Add(&jwt.Import{Name: "pairing", Subject: jwt.Subject(PairSubject), Account: pub(a.account), Type: jwt.Service})
	return ac.Encode(a.operator)
}

// SentinelJWT is the bearer user of the pairing account that the server
// gives every client that presents no credentials.
func (a *Authority) SentinelJWT() (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	uc := jwt.NewUserClaims(pub(kp))
	uc.Name = "pairing-guest"
	uc.BearerToken = true
	uc.Pub.Allow.Add(PairSubject)
	uc.Sub.Allow.Add("_INBOX.>")
	return uc.Encode(a.pairing)
}

// IssueUser signs a user JWT for publicKey with role r's scoped key. name
// is the identity's name; for service:NAME roles the JWT's name is the
// service (the role's subjects come from it) and the identity's name goes
// in a tag.
func (a *Authority) IssueUser(r Role, name, publicKey string) (string, error) {
	return issueUser(a.scopes[r.scopeRole()], pub(a.account), r, name, publicKey)
}

// IssueUserWith signs a user JWT for publicKey with an agent's signing
// key: only service roles, which is what the account scopes agents' keys
// to.
func IssueUserWith(agentKey nkeys.KeyPair, account string, r Role, name, publicKey string) (string, error) {
	if r.Service() == "" {
		return "", fmt.Errorf("trust: an agent's key signs service identities only, not %q", r)
	}
	return issueUser(agentKey, account, r, name, publicKey)
}

func issueUser(signer nkeys.KeyPair, account string, r Role, name, publicKey string) (string, error) {
	if signer == nil {
		return "", fmt.Errorf("trust: no signing key for role %q", r)
	}
	if !nkeys.IsValidPublicUserKey(publicKey) {
		return "", fmt.Errorf("trust: %q is not a user public key", publicKey)
	}
	uc := jwt.NewUserClaims(publicKey)
	// A scoped key's users carry no permissions or limits of their own:
	// the scope's template is what the server applies.
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	uc.IssuerAccount = account
	uc.Name = name
	if svc := r.Service(); svc != "" {
		uc.Name = svc
		uc.Tags.Add("identity:" + name)
	}
	uc.Tags.Add("role:" + string(r))
	return uc.Encode(signer)
}

// BrokerTrust is the server configuration for this authority: the
// operator, the system, DPC and pairing accounts, the sentinel that puts
// clients without credentials in the pairing account, and a fresh user
// for the hub's own in-process connection, with every permission.
func (a *Authority) BrokerTrust(st AccountState, pairingOpen bool) (*broker.Trust, error) {
	op, err := a.OperatorJWT()
	if err != nil {
		return nil, err
	}
	sys, err := a.SystemAccountJWT()
	if err != nil {
		return nil, err
	}
	dpc, err := a.DPCAccountJWT(st)
	if err != nil {
		return nil, err
	}
	pairing, err := a.PairingAccountJWT(pairingOpen)
	if err != nil {
		return nil, err
	}
	sentinel, err := a.SentinelJWT()
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	hubJWT, err := a.IssueUser(roleHub, "hub", pub(kp))
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return &broker.Trust{
		Operator: op, Accounts: []string{sys, dpc, pairing}, DefaultSentinel: sentinel,
		ConnectJWT: hubJWT, ConnectSeed: seed,
	}, nil
}

// SystemUser is a fresh user of the system account, for the hub's own
// in-process connection there (server events: refused logins).
func (a *Authority) SystemUser() (userJWT string, seed []byte, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, err
	}
	uc := jwt.NewUserClaims(pub(kp))
	uc.Name = "hub-system"
	if userJWT, err = uc.Encode(a.system); err != nil {
		return "", nil, err
	}
	seed, _ = kp.Seed()
	return userJWT, seed, nil
}
