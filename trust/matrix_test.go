package trust_test

import (
	"fmt"
	"testing"

	"github.com/dpc-project/dpc/trust"
)

// The role table of docs/SECURITY.md, checked against a real server: for
// every role, what it may and may not publish and subscribe to. Each row
// is one subject or JetStream API a role is granted or refused.
func TestTrust_RoleMatrix(t *testing.T) {
	h := startHub(t)
	type row struct {
		op, subject string
		// allowed lists the roles the server lets do it.
		allowed []trust.Role
	}
	const (
		owner = trust.RoleOwner
		dev   = trust.RoleDevice
		svc   = trust.Role("service:tst")
		agent = trust.RoleAgent
		prov  = trust.RoleProvisioner
	)
	callers := []trust.Role{owner, dev, svc}
	rows := []row{
		// Calls.
		{"pub", "dpc.svc.tst.add", callers},
		{"pub", "dpc.all.tst.add", callers},
		{"pub", "dpc.one.tst.x.add", callers},
		{"pub", "dpc.async.tst.add", callers},
		{"pub", "dpc.svc.hub.save", callers},
		{"pub", "dpc.svc.catalog.funcs", []trust.Role{owner, dev, svc, prov}},
		{"pub", "$SRV.PING.tst", []trust.Role{owner, dev, svc, agent, prov}},
		{"pub", "$SRV.STATS.tst", []trust.Role{owner, dev, svc, agent, prov}},
		// Waking a service scaled to zero: callers ask, only the
		// provisioner (and the owner) hears.
		{"pub", "dpc.wake.tst", callers},
		{"pub", "dpc.wake.tst.x", []trust.Role{owner}},
		{"sub", "dpc.wake.*", []trust.Role{owner, prov}},
		{"sub", "dpc.wake.tst", []trust.Role{owner, prov}},
		{"sub", "dpc.wake.tst.x", []trust.Role{owner}},
		// Identity management and the agents.
		{"pub", "dpc.svc.devices.add", []trust.Role{owner}},
		{"pub", "dpc.svc.pairing.pair", []trust.Role{owner}},
		{"pub", "dpc.svc.pairing.agentKey", []trust.Role{owner, agent}},
		{"pub", "dpc.one.agent.nas.spawn", []trust.Role{owner, prov}},
		{"pub", "dpc.all.agent.list", []trust.Role{owner, prov}},
		// Serving.
		{"sub", "dpc.svc.tst.*", []trust.Role{owner, svc}},
		{"sub", "dpc.all.tst.*", []trust.Role{owner, svc}},
		{"sub", "dpc.one.tst.x.*", []trust.Role{owner, svc}},
		{"sub", "dpc.svc.hub.*", []trust.Role{owner}},
		{"sub", "dpc.svc.catalog.*", []trust.Role{owner}},
		{"sub", "dpc.svc.textutil.*", []trust.Role{owner}},
		{"sub", "dpc.svc.agent.*", []trust.Role{owner, agent}},
		{"sub", "dpc.one.agent.nas.*", []trust.Role{owner, agent}},
		{"sub", "$SRV.PING", []trust.Role{owner, svc, agent}},
		{"sub", "$SRV.INFO.tst.x", []trust.Role{owner, svc}},
		{"sub", "$SRV.INFO.hub.x", []trust.Role{owner}},
		{"sub", "$SRV.INFO.agent.nas", []trust.Role{owner, agent}},
		{"sub", "dpc.>", []trust.Role{owner}},
		{"sub", "_INBOX.>", []trust.Role{owner}},
		{"pub", "_INBOX.someone.x", []trust.Role{owner}},
		// JetStream: the durable lane.
		{"pub", "$JS.API.STREAM.INFO.DPC_ASYNC", []trust.Role{owner, dev, svc, prov}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_ASYNC.omq_tst.dpc.async.tst.*", []trust.Role{owner, svc}},
		// Its own consumer reading another service's calls.
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_ASYNC.omq_tst.dpc.async.textutil.*", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_ASYNC.omq_tst.dpc.async.>", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.MSG.NEXT.DPC_ASYNC.omq_tst", []trust.Role{owner, svc}},
		{"pub", "$JS.ACK.DPC_ASYNC.omq_tst.1.1.1.1.1", []trust.Role{owner, svc}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_ASYNC.omq_hub.dpc.async.hub.*", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.DELETE.DPC_ASYNC.omq_tst", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.DELETE.DPC_ASYNC", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.PURGE.DPC_ASYNC", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.LIST", []trust.Role{owner}},
		// JetStream: dead letters. A service writes its own; only the hub
		// (and the owner) read them or manage them.
		{"pub", "dpc.dead.tst.add", []trust.Role{owner, svc}},
		// A forged max-deliveries advisory would make the hub move a
		// call that is still being served into the dead letters.
		{"pub", "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.DPC_ASYNC.omq_tst", []trust.Role{owner}},
		{"pub", "dpc.dead.other.add", []trust.Role{owner}},
		{"sub", "dpc.dead.tst.*", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.INFO.DPC_DEAD", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.CREATE.DPC_DEAD", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.MSG.GET.DPC_DEAD", []trust.Role{owner}},
		{"pub", "$JS.API.DIRECT.GET.DPC_DEAD", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_DEAD.x.dpc.dead.tst.>", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.MSG.DELETE.DPC_DEAD", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.PURGE.DPC_DEAD", []trust.Role{owner}},
		{"pub", "dpc.svc.deadletters.list", []trust.Role{owner}},
		{"pub", "dpc.one.deadletters.x.replay", []trust.Role{owner}},
		{"sub", "dpc.svc.deadletters.*", []trust.Role{owner}},
		{"sub", "$SRV.INFO.deadletters.x", []trust.Role{owner}},
		// JetStream: large bodies, by object name only.
		{"pub", "$O.DPC_BODIES.C.abc", callers},
		{"pub", "$O.DPC_BODIES.M.abc", callers},
		{"pub", "$JS.API.DIRECT.GET.OBJ_DPC_BODIES.$O.DPC_BODIES.M.abc", callers},
		{"pub", "$JS.API.CONSUMER.CREATE.OBJ_DPC_BODIES.x.$O.DPC_BODIES.C.abc", callers},
		{"pub", "$JS.API.CONSUMER.CREATE.OBJ_DPC_BODIES.x.$O.DPC_BODIES.M.>", []trust.Role{owner}},
		{"pub", "$JS.API.DIRECT.GET.OBJ_DPC_BODIES", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.MSG.GET.OBJ_DPC_BODIES", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.PURGE.OBJ_DPC_BODIES", []trust.Role{owner}},
		{"pub", "$JS.FC.OBJ_DPC_BODIES.x.y", callers},
		{"pub", "dpc.svc.bodies.delete", callers},
		{"sub", "dpc.svc.bodies.*", []trust.Role{owner}},
		{"pub", "$JS.API.INFO", []trust.Role{owner, prov}},
		// JetStream: the hub's own buckets.
		{"pub", "$JS.API.DIRECT.GET.KV_DPC_NOTES.$KV.DPC_NOTES.x", []trust.Role{owner}},
		{"pub", "$KV.DPC_NOTES.x", []trust.Role{owner}},
		{"pub", "$KV.DPC_IDENTITIES.x", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.INFO.KV_DPC_IDENTITIES", []trust.Role{owner}},
		// JetStream: the provisioner's history.
		{"pub", "$KV.DPC_PROVISIONER_HISTORY.work.1", []trust.Role{owner, prov}},
		{"pub", "$JS.API.STREAM.CREATE.KV_DPC_PROVISIONER_HISTORY", []trust.Role{owner, prov}},
		{"pub", "$JS.API.DIRECT.GET.KV_DPC_PROVISIONER_HISTORY.$KV.DPC_PROVISIONER_HISTORY.work.1", []trust.Role{owner, prov}},
		// JetStream: the catalog's services that may sleep: the hub's
		// alone, to read as to write.
		{"pub", "$KV.DPC_CATALOG.tst", []trust.Role{owner}},
		{"pub", "$JS.API.DIRECT.GET.KV_DPC_CATALOG.$KV.DPC_CATALOG.tst", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.MSG.GET.KV_DPC_CATALOG", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.INFO.KV_DPC_CATALOG", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.CREATE.KV_DPC_CATALOG.x.$KV.DPC_CATALOG.>", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.CREATE.KV_DPC_CATALOG", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.PURGE.KV_DPC_CATALOG", []trust.Role{owner}},
		{"sub", "$KV.DPC_CATALOG.>", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.CREATE.KV_OTHER", []trust.Role{owner}},
		// Logs: each role publishes its own records only; reading them is
		// through the hub's logs service (owner and devices), never the
		// stream or the subjects.
		{"pub", "dpc.log.service.tst.x", []trust.Role{owner, svc}},
		{"pub", "dpc.log.service.textutil.x", []trust.Role{owner}},
		{"pub", "dpc.log.service.tst.x.y", []trust.Role{owner}},
		{"pub", "dpc.log.agent.id-age.x", []trust.Role{owner, agent}},
		{"pub", "dpc.log.agent.nas.x", []trust.Role{owner}},
		{"pub", "dpc.log.provisioner.provisioner.x", []trust.Role{owner, prov}},
		{"pub", "dpc.log.hub.dpc-hub.x", []trust.Role{owner}},
		{"sub", "dpc.log.>", []trust.Role{owner}},
		{"sub", "dpc.log.service.tst.*", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.INFO.DPC_LOGS", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.MSG.GET.DPC_LOGS", []trust.Role{owner}},
		{"pub", "$JS.API.DIRECT.GET.DPC_LOGS", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_LOGS.x.dpc.log.>", []trust.Role{owner}},
		{"pub", "$JS.API.CONSUMER.CREATE.DPC_LOGS.x.dpc.log.service.tst.*", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.PURGE.DPC_LOGS", []trust.Role{owner}},
		{"pub", "$JS.API.STREAM.DELETE.DPC_LOGS", []trust.Role{owner}},
		{"pub", "dpc.svc.logs.query", []trust.Role{owner, dev}},
		{"pub", "dpc.one.logs.x.query", []trust.Role{owner, dev}},
		{"sub", "dpc.svc.logs.*", []trust.Role{owner}},
		{"sub", "$SRV.INFO.logs.x", []trust.Role{owner}},
		// Notes' change events: the hub publishes, devices (and the
		// owner) hear them.
		{"sub", "dpc.event.notes.*", []trust.Role{owner, dev}},
		{"sub", "dpc.event.notes.Shopping=20list", []trust.Role{owner, dev}},
		{"sub", "dpc.event.notes.>", []trust.Role{owner, dev}},
		{"sub", "dpc.event.>", []trust.Role{owner}},
		{"pub", "dpc.event.notes.todo", []trust.Role{owner}},
	}
	clients := map[trust.Role]*client{}
	for _, r := range []trust.Role{owner, dev, svc, agent, prov} {
		c, _ := h.identity(r, "id-"+string(r[:3]))
		clients[r] = h.mustConnect(c)
	}
	for _, rw := range rows {
		for r, cl := range clients {
			allowed := false
			for _, a := range rw.allowed {
				allowed = allowed || a == r
			}
			what := fmt.Sprintf("%s %s %s", r, rw.op, rw.subject)
			action := pub(cl, rw.subject)
			if rw.op == "sub" {
				action = sub(cl, rw.subject)
			}
			if allowed {
				cl.allowed(t, what, action)
			} else {
				cl.denied(t, what, action)
			}
		}
	}
}
