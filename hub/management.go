package hub

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dpc-project/dpc/omq"
	"github.com/dpc-project/dpc/trust"
	"github.com/nats-io/nkeys"
	"golang.org/x/time/rate"
)

// Identity management, as two omq services the hub serves:
//
//	devices  add, list, revoke   — the owner's (the server lets no other
//	                               role send to dpc.*.devices.>)
//	pairing  pair                — what a new device calls, from the
//	                               pairing account, with a code

type management struct {
	h *Hub
	// tries bounds pairing attempts, so that guessing a code's 40-bit
	// secret within its lifetime is hopeless.
	tries *rate.Limiter
}

// management is what the two services share: the hub, and the limit on
// pairing attempts.
func (h *Hub) management() *management {
	h.mgmtOnce.Do(func() { h.mgmt = &management{h: h, tries: rate.NewLimiter(5, 10)} })
	return h.mgmt
}

func (h *Hub) bindDevices(ctx context.Context) error {
	_, err := h.node.Bind(ctx, trust.DevicesService, devices{h.management()}, omq.NoDurable(),
		omq.Description("DPC identities: pairing codes, the list, revocation (owner only)"))
	return err
}

func (h *Hub) bindPairing(ctx context.Context) error {
	_, err := h.node.Bind(ctx, trust.PairingService, pairing{h.management()}, omq.NoDurable(),
		omq.Description("DPC pairing: a new device trades a code for its credentials"))
	return err
}

type devices struct{ m *management }
type pairing struct{ m *management }

// Add makes a pairing code for a new identity.
func (d devices) Add(ctx context.Context, req trust.AddRequest) (trust.AddReply, error) {
	h := d.m.h
	if err := checkIdentityName(req.Name); err != nil {
		return trust.AddReply{}, err
	}
	role, err := trust.ParseRole(req.Role)
	if err != nil {
		return trust.AddReply{}, omq.Errorf(omq.CodeBadArguments, "%v", err)
	}
	ids, err := h.reg.identities(ctx)
	if err != nil {
		return trust.AddReply{}, err
	}
	for _, id := range ids {
		if id.Revoked == nil && id.Name == req.Name {
			return trust.AddReply{}, omq.Errorf(409, "an identity called %q exists (%s); revoke it first or choose another name", req.Name, id.Role)
		}
	}
	if len(ids) >= maxIdentities {
		return trust.AddReply{}, omq.Errorf(507, "the hub keeps at most %d identities, revoked ones included", maxIdentities)
	}
	pending, err := h.reg.codes(ctx, time.Now())
	if err != nil {
		return trust.AddReply{}, err
	}
	if len(pending) >= maxPendingCodes {
		return trust.AddReply{}, omq.Errorf(429, "%d pairing codes are waiting to be used; wait until they expire", len(pending))
	}
	code, err := trust.NewCode(h.caFP)
	if err != nil {
		return trust.AddReply{}, err
	}
	exp := time.Now().Add(h.cfg.PairingTTL).UTC()
	if err := h.reg.addCode(ctx, code.SecretID(), pendingCode{Name: req.Name, Role: role, Expires: exp}); err != nil {
		return trust.AddReply{}, err
	}
	// Open pairing now rather than when the watch catches up, so the new
	// device can connect the moment it has the code.
	if err := h.apply(ctx); err != nil {
		return trust.AddReply{}, err
	}
	h.log.Info("pairing code made", "identity", req.Name, "role", role, "expires", exp)
	h.metrics.pairings.WithLabelValues("code").Inc()
	return trust.AddReply{Code: code.String(), Name: req.Name, Role: string(role), Expires: exp, URLs: h.AdvertisedURLs(), Web: h.webPairingLinks(code.String())}, nil
}

// List shows every identity, live ones first, then by name.
func (d devices) List(ctx context.Context) ([]trust.IdentityInfo, error) {
	ids, err := d.m.h.reg.identities(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]trust.IdentityInfo, 0, len(ids))
	for _, id := range ids {
		out = append(out, trust.IdentityInfo{Name: id.Name, Role: id.Role, PublicKey: id.PublicKey, Created: id.Created, Revoked: id.Revoked})
	}
	slices.SortFunc(out, func(a, b trust.IdentityInfo) int {
		if (a.Revoked == nil) != (b.Revoked == nil) {
			if a.Revoked == nil {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Revoke cuts an identity off: its open connections are closed before
// Revoke returns, and it cannot connect again. An agent's revocation also
// cuts off every instance it started.
func (d devices) Revoke(ctx context.Context, req trust.RevokeRequest) (trust.IdentityInfo, error) {
	h := d.m.h
	id, err := h.reg.active(ctx, req.Name)
	if err != nil {
		return trust.IdentityInfo{}, err
	}
	if id == nil {
		return trust.IdentityInfo{}, omq.Errorf(404, "no live identity called %q", req.Name)
	}
	if id.Role == trust.RoleOwner {
		ids, err := h.reg.identities(ctx)
		if err != nil {
			return trust.IdentityInfo{}, err
		}
		owners := 0
		for _, o := range ids {
			if o.Role == trust.RoleOwner && o.Revoked == nil {
				owners++
			}
		}
		if owners <= 1 {
			return trust.IdentityInfo{}, omq.Errorf(409, "%q is the last owner: pair another owner first, or nobody could manage this hub", req.Name)
		}
	}
	now := time.Now().UTC()
	id.Revoked = &now
	if err := h.reg.put(ctx, *id); err != nil {
		return trust.IdentityInfo{}, err
	}
	if err := h.apply(ctx); err != nil {
		return trust.IdentityInfo{}, err
	}
	h.log.Warn("identity revoked", "identity", id.Name, "role", id.Role, "key", id.PublicKey)
	h.metrics.pairings.WithLabelValues("revoked").Inc()
	return trust.IdentityInfo{Name: id.Name, Role: id.Role, PublicKey: id.PublicKey, Created: id.Created, Revoked: id.Revoked}, nil
}

// Pair trades a pairing code and a proof of key possession for
// credentials.
func (p pairing) Pair(ctx context.Context, req trust.PairRequest) (trust.PairReply, error) {
	h := p.m.h
	if !p.m.tries.Allow() {
		h.metrics.pairings.WithLabelValues("throttled").Inc()
		return trust.PairReply{}, omq.Errorf(429, "too many pairing attempts; try again in a few seconds")
	}
	fail := func(code int, format string, args ...any) (trust.PairReply, error) {
		h.log.Warn("pairing refused", "key", req.PublicKey, "why", fmt.Sprintf(format, args...))
		h.metrics.pairings.WithLabelValues("refused").Inc()
		return trust.PairReply{}, omq.Errorf(code, format, args...)
	}
	code, err := trust.ParseCode(req.Code)
	if err != nil {
		return fail(omq.CodeBadArguments, "%v", err)
	}
	if !code.Pins(h.caFP) {
		return fail(403, "this code is for another hub")
	}
	if !nkeys.IsValidPublicUserKey(req.PublicKey) {
		return fail(omq.CodeBadArguments, "public_key is not a user public key")
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil {
		return fail(omq.CodeBadArguments, "signature is not base64")
	}
	kp, err := nkeys.FromPublicKey(req.PublicKey)
	if err != nil || kp.Verify(code.Proof(req.PublicKey), sig) != nil {
		return fail(403, "the signature does not prove possession of the key")
	}
	pc, err := h.reg.takeCode(ctx, code.SecretID(), time.Now())
	if errors.Is(err, errBadCode) {
		return fail(403, "%v", err)
	}
	if err != nil {
		return trust.PairReply{}, err
	}
	if existing, err := h.reg.active(ctx, pc.Name); err != nil {
		return trust.PairReply{}, err
	} else if existing != nil {
		return fail(409, "an identity called %q was paired meanwhile", pc.Name)
	}
	userJWT, err := h.auth.IssueUser(pc.Role, pc.Name, req.PublicKey)
	if err != nil {
		return trust.PairReply{}, err
	}
	if err := h.reg.put(ctx, Identity{Name: pc.Name, Role: pc.Role, PublicKey: req.PublicKey, Created: time.Now().UTC()}); err != nil {
		return trust.PairReply{}, err
	}
	caPEM := h.caPEM
	h.log.Info("identity paired", "identity", pc.Name, "role", pc.Role, "key", req.PublicKey)
	h.metrics.pairings.WithLabelValues("paired").Inc()
	return trust.PairReply{Name: pc.Name, Role: pc.Role, JWT: userJWT, Account: h.auth.AccountKey(), CAPEM: string(caPEM), URLs: h.AdvertisedURLs()}, nil
}

// checkIdentityName: identity names show in lists and logs; the same
// rule as service names, and short.
func checkIdentityName(name string) error {
	if !omq.ValidName(name) || len(name) > 64 {
		return omq.Errorf(omq.CodeBadArguments, "identity name %q: use 1-64 letters, digits, '-' and '_'", name)
	}
	return nil
}

// AgentKey admits the signing key a paired agent signs its instances'
// credentials with. Only agents may send to it (the server enforces
// that); the signature shows which agent, as only it holds its key.
func (p pairing) AgentKey(ctx context.Context, req trust.AgentKeyRequest) error {
	h := p.m.h
	if !nkeys.IsValidPublicAccountKey(req.AgentKey) {
		return omq.Errorf(omq.CodeBadArguments, "agent_key is not an account public key")
	}
	kp, err := nkeys.FromPublicKey(req.PublicKey)
	if err != nil {
		return omq.Errorf(omq.CodeBadArguments, "public_key: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil || kp.Verify(trust.AgentKeyProof(req.AgentKey), sig) != nil {
		return omq.Errorf(403, "the signature does not match public_key")
	}
	id := h.identityByKey(req.PublicKey)
	if id == nil || id.Revoked != nil || id.Role != trust.RoleAgent {
		return omq.Errorf(403, "%s is not a live agent", req.PublicKey)
	}
	if id.AgentKey == req.AgentKey {
		return nil
	}
	id.AgentKey = req.AgentKey
	if err := h.reg.put(ctx, *id); err != nil {
		return err
	}
	if err := h.apply(ctx); err != nil {
		return err
	}
	h.log.Info("agent signing key admitted", "identity", id.Name, "agent_key", req.AgentKey)
	return nil
}
