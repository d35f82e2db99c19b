package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dpc-project/dpc/broker"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// securityEvents bounds the refusals waiting to be reported: a client
// that provokes them by the thousand gets the rest dropped (and counted),
// not a goroutine each.
const securityEvents = 256

// securityEvent hears a client the server refused. The server calls it
// from its own goroutines, possibly under its locks, so the work (finding
// who the client is) happens on the reporting goroutine.
func (h *Hub) securityEvent(ev broker.SecurityEvent) {
	select {
	case h.secEvents <- ev:
	default:
		h.metrics.denialsDropped.Inc()
	}
}

// reportSecurityEvents reports refusals until ctx ends.
func (h *Hub) reportSecurityEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-h.secEvents:
			h.reportSecurityEvent(ev)
		}
	}
}

// reportSecurityEvent logs one line naming the identity and subject, and
// counts the event. Refused logins come from the server's system events
// instead (watchLogins), which carry the credentials the client showed.
func (h *Hub) reportSecurityEvent(ev broker.SecurityEvent) {
	if ev.Kind == "authentication" {
		return
	}
	key, name := ev.User, ""
	if srv := h.server(); srv != nil && ev.CID != 0 {
		if cz, err := srv.NATS().Connz(&server.ConnzOptions{CID: ev.CID, Username: true}); err == nil && len(cz.Conns) == 1 {
			key, name = cz.Conns[0].AuthorizedUser, cz.Conns[0].NameTag
		}
	}
	role := "unknown"
	if id := h.identityByKey(key); id != nil {
		name, role = id.Name, string(id.Role)
		if id.Role.Service() != "" {
			role = "service"
		}
	} else if name == "hub" {
		role = "hub"
	}
	h.metrics.denials.WithLabelValues(role, ev.Op).Inc()
	h.log.Warn("security: permission denied", "identity", name, "role", role, "key", key, "op", ev.Op, "subject", ev.Subject, "queue", ev.Queue, "addr", ev.Addr)
}

// identityByKey looks an identity up in the registry (nil if unknown:
// e.g. an instance an agent started, whose key only the agent knows).
func (h *Hub) identityByKey(key string) *Identity {
	h.srvMu.Lock()
	reg := h.reg
	h.srvMu.Unlock()
	if key == "" || reg == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, err := reg.kv.Get(ctx, idKey(key))
	if err != nil {
		return nil
	}
	var id Identity
	if json.Unmarshal(e.Value(), &id) != nil {
		return nil
	}
	return &id
}

// watchLogins logs and counts every refused login, from the server's
// system events: who (by the key in the JWT the client showed, if any),
// from where, as which client program, and why.
func (h *Hub) watchLogins() error {
	userJWT, seed, err := h.auth.SystemUser()
	if err != nil {
		return err
	}
	nc, err := nats.Connect("", nats.InProcessServer(h.srv.NATS()), nats.Name("hub-system"), nats.UserJWTAndSeed(userJWT, string(seed)))
	if err != nil {
		return fmt.Errorf("system account: %w", err)
	}
	h.sysNC = nc
	_, err = nc.Subscribe("$SYS.SERVER.*.CLIENT.AUTH.ERR", func(m *nats.Msg) {
		var ev server.DisconnectEventMsg
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		key, name := ev.Client.User, ""
		if uc, err := jwt.DecodeUserClaims(ev.Client.Jwt); err == nil {
			key = uc.Subject
		}
		if id := h.identityByKey(key); id != nil {
			name = id.Name
			if id.Revoked != nil {
				name += " (revoked)"
			}
		}
		h.metrics.authFailures.Inc()
		h.log.Warn("security: login refused", "identity", name, "key", key, "addr", ev.Client.Host, "client", ev.Client.Name, "reason", ev.Reason)
	})
	return err
}
