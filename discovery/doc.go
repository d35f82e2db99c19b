// Package discovery finds DPC hubs on the local network with DNS-SD over
// multicast DNS (RFC 6763, RFC 6762): a hub announces itself as an
// instance of the service type "_dpc._tcp" (Announce), and a client
// browses for the instances that answer (Browse).
//
// Discovery gives only an address. The announcement carries the SHA-256
// fingerprint of the hub's CA so that a client can pick the hub it paired
// with among several, but anyone on the LAN can announce anything: trust
// still comes from pairing, and a client connects only to a hub whose TLS
// certificate chains to the CA it pinned. A forged announcement can at
// most point a client at a machine it then refuses.
//
// The mDNS responder and querier are github.com/hashicorp/mdns; this
// package adds what DPC needs on top: the TXT keys and their validation,
// bounds on what a browse keeps, announcements at start and goodbye
// packets (TTL 0) at the end, and records that can change while
// announcing (a new CA after SIGHUP).
package discovery
