package trust

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// InstanceIssuer gives each service instance an agent starts credentials
// of its own: a fresh key, and a user JWT for service:<its service>
// signed with the agent's signing key, which the hub's account admits
// with exactly that role's permissions. The instance reads them from a
// file only it and the agent can read, removed when it exits; the agent's
// own credentials never reach it.
type InstanceIssuer struct {
	// Key is the agent's signing key; Account the hub's DPC account.
	Key     nkeys.KeyPair
	Account string
	// CAFile is the hub's CA, which the instance trusts the hub with.
	CAFile string
	// Dir is a private directory for the credentials files.
	Dir string
}

// Issue makes credentials for instance id of service: the environment
// that points the instance at them (DPC_CREDS, DPC_TLS_CA; DPC_HOME=none,
// so that it cannot fall back on the identity of the user it runs as),
// and the cleanup that removes them.
func (i *InstanceIssuer) Issue(_ context.Context, service, id string) (map[string]string, func(), error) {
	role, err := ParseRole(ServicePrefix + service)
	if err != nil {
		return nil, nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, nil, err
	}
	pk, _ := kp.PublicKey()
	userJWT, err := IssueUserWith(i.Key, i.Account, role, id, pk)
	if err != nil {
		return nil, nil, err
	}
	seed, _ := kp.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(i.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("trust: instance credentials: %w", err)
	}
	file := filepath.Join(i.Dir, id+".creds")
	if err := WriteSecret(file, creds); err != nil {
		return nil, nil, err
	}
	env := map[string]string{"DPC_CREDS": file, EnvHome: NoProfile}
	if i.CAFile != "" {
		env["DPC_TLS_CA"] = i.CAFile
	}
	return env, func() { _ = os.Remove(file) }, nil
}
