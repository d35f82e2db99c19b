package discovery

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ServiceType is the DNS-SD service type of a DPC hub, in the domain
// Domain.
const (
	ServiceType = "_dpc._tcp"
	Domain      = "local."
)

// The TXT keys of an announcement (docs/PROTOCOL.md, "Finding the hub").
const (
	// KeyVersion is the protocol version: Version.
	KeyVersion = "v"
	// KeyTLS is "1" when clients must use TLS (a DPC hub always does).
	KeyTLS = "tls"
	// KeyCA is the SHA-256 of the hub CA's DER bytes, 64 hex digits.
	KeyCA = "ca"
)

// Version is the announcement's protocol version.
const Version = "1"

// maxName bounds an instance name: one DNS label.
const maxName = 63

// Hub is one hub that answered a browse.
type Hub struct {
	// Name is the DNS-SD instance name: the hub's name.
	Name string `json:"name"`
	// Addrs are the addresses announced for it (IPv4 first).
	Addrs []string `json:"addresses"`
	Port  int      `json:"port"`
	// Version is the announcement's protocol version.
	Version string `json:"version"`
	// TLS: clients must connect with TLS.
	TLS bool `json:"tls"`
	// CA is the fingerprint of the hub's CA (hex SHA-256 of its DER).
	CA string `json:"ca_fingerprint"`
}

// URLs are the NATS URLs of the hub, one per address.
func (h Hub) URLs() []string {
	scheme := "nats://"
	if h.TLS {
		scheme = "tls://"
	}
	out := make([]string, 0, len(h.Addrs))
	for _, a := range h.Addrs {
		out = append(out, scheme+net.JoinHostPort(a, strconv.Itoa(h.Port)))
	}
	return out
}

// InstanceName makes a hub's name a valid DNS-SD instance label: letters,
// digits, '-' and '_' only (the responder does not escape names), at most
// 63 bytes.
func InstanceName(name string) (string, error) {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "", fmt.Errorf("discovery: hub name %q has no letter or digit to announce", name)
	}
	if len(s) > maxName {
		s = s[:maxName]
	}
	return s, nil
}

// txt is the TXT record of an announcement.
func txt(tls bool, caFP [32]byte) []string {
	t := "0"
	if tls {
		t = "1"
	}
	return []string{KeyVersion + "=" + Version, KeyTLS + "=" + t, KeyCA + "=" + hex.EncodeToString(caFP[:])}
}

// errMalformed: an answer that is not a DPC hub's announcement.
var errMalformed = errors.New("discovery: malformed announcement")

// parseTXT reads an announcement's TXT strings into h, rejecting what a
// DPC hub would not announce.
func parseTXT(h *Hub, fields []string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || seen[k] {
			continue // a boolean attribute, or a repeat: RFC 6763 6.4 keeps the first
		}
		seen[k] = true
		switch k {
		case KeyVersion:
			h.Version = v
		case KeyTLS:
			if v != "0" && v != "1" {
				return fmt.Errorf("%w: %s=%q, want 0 or 1", errMalformed, KeyTLS, v)
			}
			h.TLS = v == "1"
		case KeyCA:
			if b, err := hex.DecodeString(v); err != nil || len(b) != 32 {
				return fmt.Errorf("%w: %s=%q is not a SHA-256 in hex", errMalformed, KeyCA, v)
			}
			h.CA = strings.ToLower(v)
		}
	}
	if h.Version != Version {
		return fmt.Errorf("%w: version %q, want %q", errMalformed, h.Version, Version)
	}
	if h.CA == "" {
		return fmt.Errorf("%w: no %s", errMalformed, KeyCA)
	}
	return nil
}
