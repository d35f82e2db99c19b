package trust

import "time"

// What the hub's identity services take and answer (docs/PROTOCOL.md §13).
// The devices service (owner only): add, list, revoke. The pairing
// service: pair, the one function a client without credentials reaches.

// Service names and functions.
const (
	DevicesService = "devices"
	PairingService = "pairing"
	FnAdd          = "add"
	FnList         = "list"
	FnRevoke       = "revoke"
	FnPair         = "pair"
	FnAgentKey     = "agentKey"
	// BodiesService deletes large-body objects for their readers.
	BodiesService = "bodies"
	FnDelete      = "delete"
)

// AddRequest asks for a pairing code for a new identity.
type AddRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// AddReply is the code to give the new device.
type AddReply struct {
	Code    string    `json:"code"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
	// URLs are the addresses the hub listens on, for `dpc-cli pair --hub`.
	URLs []string `json:"urls"`
	// Web are the web app's pairing links, the code in their fragment
	// (https://nas:8443/#pair=CODE), when the hub serves it (--web).
	Web []string `json:"web,omitempty"`
}

// RevokeRequest names the identity to revoke.
type RevokeRequest struct {
	Name string `json:"name"`
}

// IdentityInfo is one identity, as list and revoke show it.
type IdentityInfo struct {
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	PublicKey string     `json:"public_key"`
	Created   time.Time  `json:"created"`
	Revoked   *time.Time `json:"revoked,omitempty"`
}

// PairRequest is a new device's: the code it was given, its public key,
// and its signature of the code's proof (Code.Proof) with that key.
type PairRequest struct {
	Code      string `json:"code"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"` // base64 (standard, padded)
}

// AgentKeyRequest is a paired agent's, once connected as itself: the
// public key of the signing key it signs its instances' credentials with,
// signed with its identity key (AgentKeyProof). A new key replaces the
// old one, cutting off the instances the old one admitted.
type AgentKeyRequest struct {
	PublicKey string `json:"public_key"`
	AgentKey  string `json:"agent_key"`
	Signature string `json:"signature"` // base64 (standard, padded)
}

// AgentKeyProof is what an agent signs to register its signing key.
func AgentKeyProof(agentKey string) []byte { return []byte("dpc-agent-key:" + agentKey) }

// PairReply is the new identity's credentials (its private key never left
// it) and how to reach the hub.
type PairReply struct {
	Name    string   `json:"name"`
	Role    Role     `json:"role"`
	JWT     string   `json:"jwt"`
	Account string   `json:"account"`
	CAPEM   string   `json:"ca_pem"`
	URLs    []string `json:"urls"`
}
