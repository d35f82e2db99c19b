package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// ensureOwner makes the owner's identity at the hub's first start and
// installs its credentials where this machine's DPC commands look
// (trust.ProfileDir), so that `dpc-cli call add 1 2` works with no flags.
// Later starts reinstall them if they were removed, and keep their hub
// address current.
func (h *Hub) ensureOwner(ctx context.Context) error {
	dir := h.cfg.ProfileDir
	if dir == "" {
		var err error
		if dir, err = trust.ProfileDir(); err != nil {
			h.log.Warn("no place for the owner's credentials on this machine", "err", err, "creds", h.cfg.ownerCreds())
			return nil
		}
	}
	userJWT, seed, err := h.ownerCreds(ctx)
	if errors.Is(err, errOwnerElsewhere) {
		h.log.Info("this hub joined hubs that have an owner already: the owner's credentials are on the hub that made them", "data", h.cfg.DataDir)
		return nil
	}
	if err != nil {
		return err
	}
	uc, err := jwt.DecodeUserClaims(userJWT)
	if err != nil {
		return err
	}
	caPEM := h.caPEM
	want := trust.Profile{URLs: []string{h.LocalURL()}, Name: uc.Name, Role: trust.RoleOwner, PublicKey: uc.Subject}
	if p, err := trust.LoadProfile(dir); err == nil {
		if p.Hub == fmt.Sprintf("%x", h.caFP[:]) && p.PublicKey == uc.Subject && len(p.URLs) == 1 && p.URLs[0] == want.URLs[0] {
			return nil // in place and current
		}
		if p.Hub != fmt.Sprintf("%x", h.caFP[:]) && p.Role != trust.RoleOwner {
			// This machine is paired with another hub as a device: never
			// overwrite that.
			h.log.Warn("this machine's DPC profile belongs to another hub; the owner's credentials for this hub are only in the data directory",
				"profile", p.Dir(), "creds", h.cfg.ownerCreds())
			return nil
		}
	} else if !errors.Is(err, trust.ErrNoProfile) {
		h.log.Warn("unreadable DPC profile; replacing it", "dir", dir, "err", err)
	}
	if _, err := trust.SaveProfile(dir, want, userJWT, seed, caPEM); err != nil {
		return fmt.Errorf("installing the owner's credentials: %w", err)
	}
	h.log.Info("owner credentials installed for this machine", "dir", dir, "hub", want.URLs[0])
	return nil
}

// ownerCreds returns the owner's credentials, making the owner identity
// if there is none.
func (h *Hub) ownerCreds(ctx context.Context) (string, []byte, error) {
	b, err := os.ReadFile(h.cfg.ownerCreds())
	if err == nil {
		userJWT, jerr := jwt.ParseDecoratedJWT(b)
		kp, kerr := jwt.ParseDecoratedUserNKey(b)
		if jerr != nil || kerr != nil {
			return "", nil, fmt.Errorf("%s: not a credentials file", h.cfg.ownerCreds())
		}
		seed, _ := kp.Seed()
		// A registry that does not list this owner (a hub that joined a
		// cluster after its first start alone) learns it again.
		if uc, err := jwt.DecodeUserClaims(userJWT); err == nil && h.identityByKey(uc.Subject) == nil {
			id := Identity{Name: uc.Name, Role: trust.RoleOwner, PublicKey: uc.Subject, Created: time.Unix(uc.IssuedAt, 0).UTC()}
			if err := h.reg.put(ctx, id); err != nil {
				return "", nil, err
			}
			h.log.Info("the owner made at this hub's first start is in the registry again", "name", uc.Name)
		}
		return userJWT, seed, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	// A hub given a copy of the identity to join a cluster makes no
	// owner: the hub that made the identity does, once.
	if _, err := os.Stat(h.cfg.firstHubMarker()); errors.Is(err, os.ErrNotExist) {
		return "", nil, errOwnerElsewhere
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, err
	}
	pk, _ := kp.PublicKey()
	name := "owner"
	if host, err := os.Hostname(); err == nil && host != "" {
		name = "owner-" + strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, strings.SplitN(host, ".", 2)[0])
	}
	userJWT, err := h.auth.IssueUser(trust.RoleOwner, name, pk)
	if err != nil {
		return "", nil, err
	}
	if err := h.reg.put(ctx, Identity{Name: name, Role: trust.RoleOwner, PublicKey: pk, Created: time.Now().UTC()}); err != nil {
		return "", nil, err
	}
	seed, _ := kp.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return "", nil, err
	}
	if err := trust.WriteSecret(h.cfg.ownerCreds(), creds); err != nil {
		return "", nil, err
	}
	h.log.Info("made the owner's identity", "name", name, "creds", h.cfg.ownerCreds())
	return userJWT, seed, nil
}

// cachedState is the account state last applied, so that the server
// starts with the revocations it had (before the registry can be read).
func (h *Hub) cachedState() (trust.AccountState, error) {
	st := trust.AccountState{Storage: h.cfg.MaxStore, Memory: h.cfg.MaxMemory}
	b, err := os.ReadFile(h.cfg.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		h.log.Warn("unreadable cached account state; starting from the registry", "file", h.cfg.stateFile(), "err", err)
	}
	st.Storage, st.Memory = h.cfg.MaxStore, h.cfg.MaxMemory
	return st, nil
}

// errOwnerElsewhere: the registry has an owner this hub did not make.
var errOwnerElsewhere = errors.New("the owner was made by another hub")
