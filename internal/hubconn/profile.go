package hubconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dpc-project/dpc/discovery"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// DefaultURL is where commands look for a hub when neither a flag, NATS_URL
// nor this machine's DPC profile says.
const DefaultURL = "nats://127.0.0.1:4222"

// Resolve is how every DPC command finds its hub and proves who it is:
// what the user gave (flags, or their environment variables: NATS_URL,
// DPC_CREDS, DPC_TLS_CA) wins, the rest comes from this machine's DPC
// profile (trust.ProfileDir: written by the hub for its owner, or by
// `dpc-cli pair`). It returns the URL(s) to connect to and the options
// that carry the credentials, the hub's CA and the identity's inbox
// prefix.
func Resolve(urls, creds, ca string) (string, []nats.Option, error) {
	c, err := ResolveConnection(urls, creds, ca)
	if err != nil {
		return "", nil, err
	}
	opts, err := c.Options()
	if err != nil {
		return "", nil, fmt.Errorf("hub credentials: %w", err)
	}
	return c.URL(), opts, nil
}

// ResolveConnection is Resolve before the options are made: what it found
// (a CredsFile of "" means no credentials).
//
// The hub's address comes from, in order: urls (--nats, NATS_URL); the
// profile's hubs (what pairing wrote: a long-running command retries them
// forever, and dpc-cli asks Moved only when they do not answer); a hub
// found on the LAN by DNS-SD (Discover: the one with the CA this machine
// trusts, or else the only one); DefaultURL.
func ResolveConnection(urls, creds, ca string) (trust.Connection, error) {
	c, err := resolveConnection(urls, creds, ca)
	return c.Connection, err
}

// connection is a resolved connection and whether its URLs were found on
// the LAN.
type connection struct {
	trust.Connection
	discovered bool
}

func resolveConnection(urls, creds, ca string) (connection, error) {
	c := trust.Connection{CredsFile: creds, CAFile: ca}
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.URLs = append(c.URLs, u)
		}
	}
	dir, err := trust.ProfileDir()
	if err == nil {
		if c, err = c.Resolve(dir); err != nil {
			return connection{Connection: c}, err
		}
	}
	var found bool
	if len(c.URLs) == 0 {
		var pin func([32]byte) bool
		if c.CAFile != "" {
			if pin, err = pinCA(c.CAFile); err != nil {
				return connection{Connection: c}, err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), discovery.DefaultTimeout)
		defer cancel()
		if c.URLs, err = Discover(ctx, pin); err != nil {
			return connection{Connection: c}, err
		}
		found = len(c.URLs) > 0
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{DefaultURL}
	}
	return connection{Connection: c, discovered: found}, nil
}

// HelpVars are the kong variables of HubFlags' help (kong.Vars): with
// them --help shows the hub that --nats defaults to on this machine
// (DefaultHub); without them, how that default is found.
func HelpVars() map[string]string {
	return map[string]string{"hub_default": DefaultHub()}
}

// DefaultHub says where a command connects when neither --nats nor
// NATS_URL says: the hub(s) of this machine's DPC profile, else the hub
// found on the LAN, else DefaultURL — and why, for --help.
func DefaultHub() string {
	const lan = "the hub found on the LAN, else " + DefaultURL
	dir, err := trust.ProfileDir()
	if err != nil {
		return lan + "; this machine has no DPC profile"
	}
	p, err := trust.LoadProfile(dir)
	switch {
	case errors.Is(err, trust.ErrNoProfile):
		return fmt.Sprintf("%s; no DPC profile in %s yet", lan, dir)
	case err != nil:
		return fmt.Sprintf("this machine's DPC profile, which cannot be read (%v)", err)
	case len(p.URLs) == 0:
		return fmt.Sprintf("%s; the DPC profile in %s names no hub", lan, dir)
	}
	return fmt.Sprintf("%s, from the DPC profile in %s", PublicURL(strings.Join(p.URLs, ",")), dir)
}

// CredsName is the name in a credentials file's user JWT: what the
// hub's permission templates ({{name()}}) see.
func CredsName(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	tok, err := jwt.ParseDecoratedJWT(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return uc.Name, nil
}
