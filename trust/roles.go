package trust

import (
	"fmt"
	"strings"
	"time"

	"github.com/dpc-project/dpc/logstream"
	"github.com/dpc-project/dpc/notes"
	"github.com/dpc-project/dpc/omq"
	"github.com/nats-io/jwt/v2"
)

// Role is what an identity may do; the NATS server enforces it. A role is
// one of the constants below, or ServicePrefix followed by a service name
// (service:tst).
type Role string

// The roles.
const (
	// RoleOwner may do everything, including managing identities.
	RoleOwner Role = "owner"
	// RoleDevice calls functions (unicast, multi, one instance, durable)
	// and reads the catalog; it serves nothing and reaches no JetStream
	// asset except the durable lane's stream and large bodies.
	RoleDevice Role = "device"
	// RoleAgent serves the agent service (spawn, stop, list) and mints
	// credentials for the instances it starts with a signing key of its
	// own, scoped to the service role.
	RoleAgent Role = "agent"
	// RoleProvisioner reads every service's statistics, calls the agents,
	// hears the wakes of services scaled to zero and keeps its history
	// bucket.
	RoleProvisioner Role = "provisioner"
	// ServicePrefix starts a service role: service:NAME serves NAME only.
	ServicePrefix = "service:"
)

// roleHub is the hub's own identity (its in-process connection): not a
// role anyone pairs with.
const roleHub Role = "hub"

// Reserved services are served by the hub itself (hub, catalog, devices,
// pairing, bodies, deadletters, logs) or by agents (agent); no service
// identity may serve them.
var reservedServices = []string{"hub", "catalog", "devices", "pairing", "bodies", "agent", DeadLettersService, logstream.Service}

// Reserved says whether service is one no service:NAME identity may serve.
func Reserved(service string) bool {
	for _, r := range reservedServices {
		if strings.EqualFold(r, service) {
			return true
		}
	}
	return false
}

// ParseRole checks a role given by a person: owner, device, agent,
// provisioner or service:NAME for a service that is not reserved.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOwner, RoleDevice, RoleAgent, RoleProvisioner:
		return r, nil
	}
	if name, ok := strings.CutPrefix(s, ServicePrefix); ok {
		if !omq.ValidName(name) {
			return "", fmt.Errorf("role %q: service name %q must be letters, digits, '-' and '_'", s, name)
		}
		if Reserved(name) {
			return "", fmt.Errorf("role %q: %s is served by the hub or its agents, not by a service identity", s, name)
		}
		return Role(s), nil
	}
	return "", fmt.Errorf("unknown role %q (want owner, device, agent, provisioner or service:NAME)", s)
}

// Service is the service a service:NAME role serves, or "".
func (r Role) Service() string {
	name, _ := strings.CutPrefix(string(r), ServicePrefix)
	if name == string(r) {
		return ""
	}
	return name
}

// scopeRole is the signing-key scope that signs r's users: every
// service:NAME shares the "service" scope, whose subjects come from the
// user's JWT name.
func (r Role) scopeRole() Role {
	if r.Service() != "" {
		return "service"
	}
	return r
}

// InboxPrefix is the only reply-subject prefix an identity may subscribe
// to: _INBOX.<its public key>. A client must use it (nats.go:
// nats.CustomInboxPrefix; the nats CLI: --inbox-prefix) or its requests
// get no replies.
func InboxPrefix(publicKey string) string { return "_INBOX." + publicKey }

// Names of the JetStream assets roles are given access to.
const (
	asyncStream    = "DPC_ASYNC"
	bodiesBucket   = "DPC_BODIES"
	historyBucket  = "DPC_PROVISIONER_HISTORY"
	responseExpiry = 15 * time.Minute
)

// wakeSubjects are the wakes of every service (omq publishes one while a
// call waits for an instance): callers publish them, only the provisioner
// hears them.
const wakeSubjects = "dpc.wake.*"

// Subjects every role that calls functions may publish to: calls of every
// kind, service discovery and statistics, the durable lane's stream info
// (omq checks it before a durable send) and large bodies as objects.
// Large-body access is by object name, 128 random bits only the call's
// parties see: listing the bucket, reading by sequence and purging are not
// granted.
func callerPub() []string {
	return []string{
		"dpc.svc.>", "dpc.all.>", "dpc.one.>", "dpc.async.>",
		// A call waiting for an instance asks for one (scale from zero).
		wakeSubjects,
		"$SRV.>",
		"$JS.API.STREAM.INFO." + asyncStream,
		"$JS.API.STREAM.INFO.OBJ_" + bodiesBucket,
		"$O." + bodiesBucket + ".C.*",
		"$O." + bodiesBucket + ".M.*",
		"$JS.API.DIRECT.GET.OBJ_" + bodiesBucket + ".$O." + bodiesBucket + ".M.*",
		"$JS.API.CONSUMER.CREATE.OBJ_" + bodiesBucket + ".*.$O." + bodiesBucket + ".C.*",
		"$JS.API.CONSUMER.MSG.NEXT.OBJ_" + bodiesBucket + ".*",
		"$JS.API.CONSUMER.DELETE.OBJ_" + bodiesBucket + ".*",
		"$JS.FC.OBJ_" + bodiesBucket + ".>",
	}
}

// callerPubDeny keeps callers away from the functions only the owner or
// the provisioner may call: identity management, dead letters, and the
// agents (spawn, stop, list).
func callerPubDeny() []string {
	return []string{"dpc.*.devices.>", "dpc.*.agent.>", "dpc.*.pairing.>", "dpc.*." + DeadLettersService + ".>"}
}

// reservedSubDeny keeps service identities from serving what the hub and
// the agents serve, whatever name their JWT carries.
func reservedSubDeny() []string {
	var out []string
	for _, s := range reservedServices {
		out = append(out, "dpc.*."+s+".>", "$SRV.*."+s, "$SRV.*."+s+".>")
	}
	return out
}

// logsPub is where a role publishes its own log records
// (dpc.log.<kind>.<name>.<instance>): under its kind and its name only,
// any instance. Reading them is the hub's: nobody but the owner may
// subscribe to dpc.log.> or reach the DPC_LOGS stream, and the hub's logs
// service answers the owner and devices.
func logsPub(kind, name string) string {
	return logstream.SubjectPrefix + "." + kind + "." + name + ".*"
}

// serviceLogsDeny keeps services from reading the logs through the hub:
// one service's records are not another's business (devices, the user's
// own machines, may).
func serviceLogsDeny() []string {
	return []string{"dpc.*." + logstream.Service + ".>"}
}

// serves are the subscriptions an instance of service needs: its queue
// group's subjects, multi calls, calls to one instance, and the NATS
// service protocol for its name and for everyone.
func serves(service string) []string {
	return []string{
		"dpc.svc." + service + ".*", "dpc.all." + service + ".*", "dpc.one." + service + ".>",
		"$SRV.PING", "$SRV.INFO", "$SRV.STATS",
		"$SRV.*." + service, "$SRV.*." + service + ".>",
	}
}

// durableConsumer is what an instance of service needs for the durable
// lane: its own consumer, fetching, and acknowledging. The create subject
// names the consumer's filter and the server refuses a body whose filter
// differs, so granting the one filter (not ".>") keeps a service from
// making its consumer read another service's calls.
func durableConsumer(service string) []string {
	c := asyncStream + ".omq_" + service
	return []string{
		"$JS.API.CONSUMER.CREATE." + c + ".dpc.async." + service + ".*",
		"$JS.API.CONSUMER.INFO." + c,
		"$JS.API.CONSUMER.MSG.NEXT." + c,
		"$JS.ACK." + c + ".>",
	}
}

// deadLetters is where an instance of service writes the durable calls of
// its service that cannot succeed (omq's dead letters): its own subjects
// in the dead-letter stream, and only those. Reading the stream is the
// hub's (and the owner's) alone.
func deadLetters(service string) []string {
	return []string{"dpc.dead." + service + ".>"}
}

// Template placeholders the server fills in per user (scoped signing keys).
const (
	tmplKey  = "{{subject()}}"
	tmplName = "{{name()}}"
)

// permissions is the role table: what the NATS server lets each role
// publish and subscribe to. docs/SECURITY.md shows it; trust's tests check
// each row against a real server.
func permissions(r Role) (jwt.Permissions, error) {
	inbox := InboxPrefix(tmplKey) + ".>"
	var p jwt.Permissions
	switch r {
	case roleHub, RoleOwner:
		p.Pub.Allow.Add(">")
		p.Sub.Allow.Add(">")
	case RoleDevice:
		p.Pub.Allow.Add(callerPub()...)
		p.Pub.Deny.Add(callerPubDeny()...)
		// Notes' change events: the user's notes are the devices' (they
		// reach them through the hub's functions); services' they are not.
		p.Sub.Allow.Add(inbox, notes.EventSubjectAll)
	case "service":
		p.Pub.Allow.Add(callerPub()...)
		p.Pub.Allow.Add(durableConsumer(tmplName)...)
		p.Pub.Allow.Add(deadLetters(tmplName)...)
		p.Pub.Allow.Add(logsPub(logstream.KindService, tmplName))
		p.Pub.Deny.Add(callerPubDeny()...)
		p.Pub.Deny.Add(serviceLogsDeny()...)
		p.Sub.Allow.Add(serves(tmplName)...)
		p.Sub.Allow.Add(inbox)
		p.Sub.Deny.Add(reservedSubDeny()...)
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseExpiry}
	case RoleAgent:
		// An agent's records go under its identity's name (agent-<id> when
		// it enrolled itself).
		p.Pub.Allow.Add("$SRV.>", "dpc.svc."+PairingService+"."+FnAgentKey, logsPub(logstream.KindAgent, tmplName))
		p.Sub.Allow.Add(serves("agent")...)
		p.Sub.Allow.Add(inbox)
		p.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: responseExpiry}
	case RoleProvisioner:
		p.Pub.Allow.Add(
			"dpc.svc.agent.>", "dpc.all.agent.>", "dpc.one.agent.>",
			"dpc.svc.catalog.>",
			"$SRV.>",
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO."+asyncStream,
			"$JS.API.STREAM.CREATE.KV_"+historyBucket,
			"$JS.API.STREAM.INFO.KV_"+historyBucket,
			"$JS.API.DIRECT.GET.KV_"+historyBucket+".>",
			"$JS.API.STREAM.MSG.GET.KV_"+historyBucket,
			"$KV."+historyBucket+".>",
			// Several provisioners take turns (a lease): one name, an
			// instance each.
			logsPub(logstream.KindProvisioner, logstream.KindProvisioner),
		)
		p.Sub.Allow.Add(inbox, wakeSubjects)
	default:
		return p, fmt.Errorf("trust: no permissions for role %q", r)
	}
	return p, nil
}
